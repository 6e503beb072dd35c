"""The Litestar application factory.

``create_app`` builds everything from a :class:`Settings` and touches nothing outside
the process: no database connection is opened, no file is written, until a request
or the lifespan needs it. ``service.asgi:app`` is the zero-argument factory for
``uvicorn --factory``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler, Middleware

from models.settings import Settings, get_settings
from service.auth.middleware import ApiKeyAuthMiddleware
from service.auth.resolver import KeyResolver
from service.controllers.health import HealthController, metrics
from service.controllers.identity import IdentityController
from service.controllers.incentives import IncentivesController
from service.controllers.model import ModelController
from service.controllers.quotes import QuotesController
from service.db import migrate
from service.db.engine import Database
from service.dependencies import DEPENDENCIES
from service.docs import LocalSwaggerPlugin
from service.errors import error_response
from service.headers import add_security_headers
from service.metrics import HttpMetrics
from service.model_provider import ManagedModelProvider, ModelProvider, NoModelProvider
from service.rate_limit import RateLimitMiddleware, TokenBucketLimiter
from service.runtime import STATE_KEY, Runtime, runtime_of

log = logging.getLogger("service")

SCHEMA_PATH = "/schema"
BEARER = "apiKey"


def _version() -> str:
    try:
        return version("site-risk-pricing")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    runtime = runtime_of(app)
    for warning in runtime.warnings():
        log.warning(warning)
    provider = runtime.model_provider
    if isinstance(provider, ManagedModelProvider):
        await provider.start()
    try:
        yield
    finally:
        if isinstance(provider, ManagedModelProvider):
            await provider.stop()
        runtime.database.dispose()


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Site-risk pricing API",
        version=_version(),
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


def create_app(
    settings: Settings | None = None,
    *,
    model_provider: ModelProvider | None = None,
    route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """The pricing service.

    ``route_handlers`` are added after the built-in routes (health, metrics,
    ``/v1/whoami``, quotes, model, incentive rules, docs); every handler there needs
    an API key unless it sets ``opt={"exclude_from_auth": True}``.
    """
    settings = settings or get_settings()
    database = Database(settings.db_url)
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
            HealthController,
            metrics,
            IdentityController,
            QuotesController,
            ModelController,
            IncentivesController,
            *route_handlers,
        ],
        dependencies=DEPENDENCIES,
        middleware=middleware,
        exception_handlers={Exception: error_response},
        before_send=[add_security_headers],
        cors_config=cors,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=_openapi(),
        state=State({STATE_KEY: runtime}),
        lifespan=[_lifespan],
        logging_config=None,
        debug=False,
    )
    # Outside routing and exception handling, so unmatched paths and errors are timed too.
    app.asgi_handler = runtime.metrics.wrap(app.asgi_handler)
    return app
