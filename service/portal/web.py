"""The portal's web plumbing: templates, static files, the page context (language,
form token, cookies to set) and error pages.

Pages are HTML with a strict Content-Security-Policy: styles and images from this
server only, no scripts at all, forms posting only back here. Everything the pages
need is served by the service itself (``/portal/static/``), nothing from a CDN.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from models.settings import Settings
from service.errors import error_response
from service.portal.access import (
    CSRF_COOKIE,
    LANG_COOKIE,
    LinkExpiredError,
    LinkWithdrawnError,
    PortalAccess,
)
from service.portal.i18n import Translator, pick_lang
from service.runtime import runtime_of

log = logging.getLogger(__name__)

TEMPLATES: Final = Path(__file__).resolve().with_name("templates")
STATIC: Final = Path(__file__).resolve().parent.parent / "static" / "portal"
STATIC_PATH: Final = "/portal/static"
PUBLIC: Final[dict[str, Any]] = {"exclude_from_auth": True}

PORTAL_CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HTML_HEADERS: Final = {"Content-Security-Policy": PORTAL_CSP}


def _coordinate(value: float) -> str:
    return f"{value:.1f}"


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["px"] = _coordinate
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def static_router() -> Router:
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC],
        opt=PUBLIC,
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=3600, public=True),
        name="portal-static",
    )


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a portal page of ours, never another site."""
    if (
        value
        and value.startswith("/portal")
        and not value.startswith("//")
        and "\\" not in value
        and all(c.isprintable() and not c.isspace() for c in value)
        and not value.startswith(("/portal/login", "/portal/logout", "/portal/static"))
    ):
        return value
    return "/portal"


class Page:
    """One request's view of the portal: its language, its form token and the cookies
    the answer must set."""

    def __init__(self, request: Request[Any, Any, Any], settings: Settings) -> None:
        self.request = request
        self.access = PortalAccess(settings)
        lang, is_new = pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
        self.t = Translator(lang)
        self.cookies: list[Cookie] = []
        if is_new:
            self.cookies.append(self.access.lang_cookie(lang))
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or len(nonce) > 64:
            nonce = self.access.new_nonce()
            self.cookies.append(self.access.csrf_cookie(nonce))
        self.csrf = nonce

    @classmethod
    def of(cls, request: Request[Any, Any, Any]) -> Page:
        return cls(request, runtime_of(request.app).settings)

    def csrf_ok(self, submitted: str | None) -> bool:
        return self.access.csrf_ok(self.request.cookies.get(CSRF_COOKIE), submitted)

    def lang_url(self) -> str:
        """This page in the other language."""
        return f"{quote(self.request.url.path)}?lang={self.t.other}"

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        cookies: list[Cookie] | None = None,
        **context: Any,
    ) -> Template:
        context.setdefault("signed_in", False)
        context.setdefault("home", None)
        return Template(
            template_name=template,
            context={"t": self.t, "csrf": self.csrf, "lang_url": self.lang_url(), **context},
            status_code=status,
            headers=HTML_HEADERS,
            cookies=[*self.cookies, *(cookies or [])],
            media_type="text/html",
        )

    def redirect(self, path: str, *, cookies: list[Cookie] | None = None) -> Redirect:
        return Redirect(
            path=path,
            status_code=303,
            cookies=[*self.cookies, *(cookies or [])],
            headers=HTML_HEADERS,
        )


_TITLES: Final[Mapping[int, str]] = {400: "400", 403: "403", 404: "404", 503: "503"}
_REFERENCE: Final = re.compile(r"reference ([0-9a-f]+)")


def html_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The portal's exception handler: the status the API would answer (the one mapping
    in :func:`service.errors.error_response`, which also logs), shown as a page."""
    answer = error_response(request, exc)
    detail = answer.content.error
    status = detail.status
    found = _REFERENCE.search(detail.message) if status == 500 else None
    if isinstance(exc, LinkExpiredError):
        key: str | None = "expired"
    elif isinstance(exc, LinkWithdrawnError):
        key = "withdrawn"
    else:
        key = _TITLES.get(status)
    if key is None:
        key = "400" if status < 500 else "500"
    try:
        page = Page.of(request)
    except Exception:  # pragma: no cover - the page itself cannot be built: plain text
        log.exception("portal error page failed")
        return Response(content="error", status_code=status, media_type="text/plain")
    retry = answer.headers.get("Retry-After")
    template = page.render(
        "error.html",
        status=status,
        title=page.t(f"error.{key}.title"),
        message=page.t(f"error.{key}.body", reference=found[1] if found else "-"),
    )
    if retry:
        template.headers["Retry-After"] = retry
    return template
