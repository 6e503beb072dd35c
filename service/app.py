"""The Litestar application factory.

``create_app`` builds everything from a :class:`Settings` and touches nothing outside
the process: no database connection is opened, no file is written, until a request
or the lifespan needs it. ``service.asgi:app`` is the zero-argument factory for
``uvicorn --factory``.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar
from litestar._kwargs.dependencies import DependencyContainer
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute
from litestar.types import ControllerRouterHandler, Middleware

from models.settings import Settings, get_settings
from service.auth.middleware import ApiKeyAuthMiddleware
from service.auth.resolver import KeyResolver
from service.controllers.admin import AdminController
from service.controllers.agreements import AgreementsController
from service.controllers.explanations import SiteExplanationController
from service.controllers.feed import FeedController
from service.controllers.health import HealthController, metrics
from service.controllers.home import TITLE, home
from service.controllers.identity import IdentityController
from service.controllers.incentives import IncentivesController
from service.controllers.model import ModelController
from service.controllers.portal import PortalController
from service.controllers.prevention import PreventionController
from service.controllers.quotes import QuotesController
from service.controllers.ratebooks import AdminRateBookController, RateBookController
from service.controllers.share import ShareController
from service.controllers.sites import SitesController
from service.db import migrate
from service.db.engine import Database
from service.db.group_commit import group_committer
from service.dependencies import DEPENDENCIES
from service.docs import LocalSwaggerPlugin, StrictStructSchemaPlugin
from service.errors import document_errors, error_response
from service.headers import add_security_headers
from service.limits import require_json
from service.metrics import HttpMetrics
from service.model_provider import ManagedModelProvider, ModelProvider, NoModelProvider
from service.portal.agreement_pages import AgreementPortalController
from service.portal.web import static_router as portal_static
from service.portal.web import template_config as portal_templates
from service.rate_limit import RateLimitMiddleware, TokenBucketLimiter
from service.release import service_version
from service.runtime import STATE_KEY, Runtime, runtime_of

log = logging.getLogger("service")

SCHEMA_PATH = "/schema"
BEARER = "apiKey"


_FREEZE_KEY = "freeze_after_start"


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    runtime = runtime_of(app)
    for warning in runtime.warnings():
        log.warning(warning)
    provider = runtime.model_provider
    runtime.resolver.start()
    if isinstance(provider, ManagedModelProvider):
        await provider.start()
    if app.state.get(_FREEZE_KEY):
        # What start-up made (modules, the model, caches) lives as long as the worker.
        # Out of the collector's sight, a full collection scans only what requests
        # made: two of them cost a 1,000-site portfolio 0.47 s before, 0.07 s after,
        # and each was a pause for every request of the worker (docs/performance.md).
        gc.freeze()
    try:
        yield
    finally:
        if isinstance(provider, ManagedModelProvider):
            await provider.stop()
        await anyio.to_thread.run_sync(runtime.resolver.stop)
        if runtime.quote_writer is not None:
            # waits until the saves already queued have committed; later ones commit alone
            await anyio.to_thread.run_sync(runtime.quote_writer.close)
        runtime.database.dispose()


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title=TITLE,
        version=service_version(),
        description=(
            "Prices construction-site safety-liability insurance from smart-site data. "
            "Every endpoint except health and metrics needs `Authorization: Bearer <key>`. "
            'Errors always have the body `{"error": {"status", "code", "message", "fields"}}`.'
        ),
        path=SCHEMA_PATH,
        render_plugins=[LocalSwaggerPlugin(schema_path=SCHEMA_PATH, path=["/", "/swagger"])],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key from `siterisk keys create`: srk_<prefix>_<secret>.",
                )
            }
        ),
        security=[{BEARER: []}],
        use_handler_docstrings=True,
    )


def _exact_request_schemas(settings: Settings) -> StrictStructSchemaPlugin:
    """Request bodies documented as msgspec reads them; a share link's longest life is
    a setting, so the document states this server's (docs/api.md)."""
    share_days = {"minimum": 1, "maximum": settings.portal_share_max_days}
    return StrictStructSchemaPlugin(limits={"ShareRequest.expires_in_days": share_days})


def create_app(
    settings: Settings | None = None,
    *,
    model_provider: ModelProvider | None = None,
    route_handlers: Sequence[ControllerRouterHandler] = (),
    freeze_after_start: bool = False,
) -> Litestar:
    """The pricing service.

    ``route_handlers`` are added after the built-in routes (health, metrics,
    ``/v1/whoami``, quotes, model, incentive rules, docs); every handler there needs
    an API key unless it sets ``opt={"exclude_from_auth": True}``.
    ``freeze_after_start`` (a server's worker process, which runs one app for its whole
    life; not tests, which make many) moves everything alive once the app has started
    out of the garbage collector's sight (:func:`gc.freeze`).
    """
    settings = settings or get_settings()
    database = Database(settings.db_url, statement_timeout_s=settings.db_statement_timeout_seconds)
    runtime = Runtime(
        settings=settings,
        database=database,
        schema_revision=migrate.head(),
        model_provider=model_provider or NoModelProvider(),
        resolver=KeyResolver(
            database,
            settings.key_pepper.get_secret_value(),
            ttl=settings.auth_cache_seconds,
        ),
        metrics=HttpMetrics(),
        quote_writer=group_committer(database) if settings.db_group_commit else None,
    )
    middleware: list[Middleware] = [
        DefineMiddleware(ApiKeyAuthMiddleware, resolver=runtime.resolver)
    ]
    if settings.rate_limit_per_second > 0:
        limiter = TokenBucketLimiter(settings.rate_limit_per_second)
        middleware.append(DefineMiddleware(RateLimitMiddleware, limiter=limiter))
    cors = (
        CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            max_age=600,
        )
        if settings.cors_origins
        else None
    )
    app = Litestar(
        route_handlers=[
            home,
            HealthController,
            metrics,
            IdentityController,
            QuotesController,
            ModelController,
            IncentivesController,
            SiteExplanationController,
            FeedController,
            SitesController,
            AdminController,
            AdminRateBookController,
            RateBookController,
            AgreementsController,
            PreventionController,
            ShareController,
            PortalController,
            AgreementPortalController,
            portal_static(),
            *route_handlers,
        ],
        dependencies=DEPENDENCIES,
        middleware=middleware,
        exception_handlers={Exception: error_response},
        before_request=require_json,
        before_send=[add_security_headers],
        template_config=portal_templates(),
        cors_config=cors,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=_openapi(),
        plugins=[_exact_request_schemas(settings)],
        state=State({STATE_KEY: runtime, _FREEZE_KEY: freeze_after_start}),
        lifespan=[_lifespan],
        logging_config=None,
        debug=False,
    )
    document_errors(app, is_public=_is_public)
    _repair_options_allow(app)
    _resolve_dependencies_in_turn(app)
    # Outside routing and exception handling, so unmatched paths and errors are timed too.
    app.asgi_handler = runtime.metrics.wrap(app.asgi_handler)
    return app


def _is_public(handler: HTTPRouteHandler) -> bool:
    return bool(handler.opt.get("exclude_from_auth"))


def _repair_options_allow(app: Litestar) -> None:
    """Litestar 2 makes a path's automatic OPTIONS handler with the first route built for
    the path and keeps it when more handlers join, so its ``Allow`` lists only the first
    method (litestar-org/litestar#4169, fixed in v3). Point each at its final route."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods != {"OPTIONS"} or handler.fn.__name__ != "options_handler":
                continue
            for cell in handler.fn.__closure__ or ():
                if isinstance(cell.cell_contents, HTTPRoute):
                    cell.cell_contents = route


def _resolve_dependencies_in_turn(app: Litestar) -> None:
    """Litestar resolves the dependencies a handler needs at the same level of its graph
    as tasks of an anyio task group, which costs more than the dependencies themselves:
    about 130 us of CPU a request for the quote handler's six, more under load
    (litestar-org/litestar#4563; issue 21). None of ours waits on anything before it
    yields, so they are resolved one after another, each level in its order. Generators
    come last, so that a dependency that fails leaves no session open behind it."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for _, model in route.route_handler_map.values():
            model.dependency_batches = [
                {dependency}
                for batch in model.dependency_batches
                for dependency in sorted(batch, key=_generators_last)
            ]


def _generators_last(dependency: DependencyContainer) -> tuple[bool, str]:
    provide = dependency.provide
    is_generator = provide.has_sync_generator_dependency or provide.has_async_generator_dependency
    return is_generator, dependency.key
