"""``/portal``: the contractor portal, server-rendered pages in Chinese and English.

No API key in headers here: a contractor signs in once with its key (a session
cookie) or opens a share link an insurer made for one quote. The pages read stored
quotes (:mod:`service.portal.service`) and format them (:mod:`service.portal.views`).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlmodel import Session

from models.settings import Settings
from service.errors import ForbiddenError, InvalidInputError
from service.portal import views
from service.portal.access import SESSION_COOKIE
from service.portal.service import PortalService
from service.portal.web import PUBLIC, Page, html_error, safe_next
from service.runtime import runtime_of


class LoginForm(msgspec.Struct, kw_only=True):
    api_key: Annotated[str, msgspec.Meta(max_length=512)] = ""
    csrf: Annotated[str, msgspec.Meta(max_length=128)] = ""
    next: Annotated[str, msgspec.Meta(max_length=512)] = ""


class CsrfForm(msgspec.Struct, kw_only=True):
    csrf: Annotated[str, msgspec.Meta(max_length=128)] = ""


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class PortalController(Controller):
    path = "/portal"
    opt = PUBLIC
    include_in_schema = False
    exception_handlers = {Exception: html_error}  # noqa: RUF012

    @get("/", sync_to_thread=True)
    def sites(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[Session],
    ) -> Template | Redirect:
        page = Page(request, settings)
        state = page.access.session(request.cookies.get(SESSION_COOKIE), db_session)
        if state.contractor is None:
            return _to_login(page, "/portal", state.expired)
        sites = PortalService(db_session, page.t.lang).sites(state.contractor.contractor_id)
        return page.render(
            "sites.html",
            signed_in=True,
            home="/portal",
            contractor=state.contractor.contractor_id,
            rows=views.site_rows(page.t, sites),
        )

    @get("/sites/{site_id:str}", sync_to_thread=True)
    def site(
        self,
        request: Request[Any, Any, Any],
        site_id: FromPath[str],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[Session],
    ) -> Template | Redirect:
        page = Page(request, settings)
        state = page.access.session(request.cookies.get(SESSION_COOKIE), db_session)
        if state.contractor is None:
            return _to_login(page, request.url.path, state.expired)
        view = PortalService(db_session, page.t.lang).site(state.contractor.contractor_id, site_id)
        return page.render(
            "site.html",
            signed_in=True,
            home="/portal",
            page=views.site_page(page.t, view),
            shared_until=None,
        )

    @get("/s/{token:str}", sync_to_thread=True)
    def shared(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[Session],
    ) -> Template:
        page = Page(request, settings)
        quote_id, site_id, expires = page.access.open_link(token, db_session)
        view = PortalService(db_session, page.t.lang).shared(quote_id, site_id)
        return page.render(
            "site.html",
            page=views.site_page(page.t, view),
            shared_until=page.t.date(expires),
        )

    @get("/login", sync_to_thread=False)
    def login_form(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Template:
        page = Page(request, settings)
        notice = None
        if request.query_params.get("expired"):
            notice = page.t("login.expired")
        elif request.query_params.get("bye"):
            notice = page.t("login.signed_out")
        return page.render(
            "login.html",
            notice=notice,
            error=None,
            next=safe_next(request.query_params.get("next")),
        )

    @post("/login", status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[LoginForm, Form],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        page = Page(request, settings)
        target = safe_next(data.next)
        if not page.csrf_ok(data.csrf):
            return _login_error(page, "login.form_expired", 400, target)
        try:
            principal = await page.access.sign_in(runtime_of(request.app).resolver, data.api_key)
        except InvalidInputError:
            return _login_error(page, "login.bad_key", 401, target)
        except ForbiddenError:
            return _login_error(page, "login.not_contractor", 403, target)
        return page.redirect(target, cookies=[page.access.session_cookie(principal)])

    @post("/logout", status_code=303, sync_to_thread=False)
    def logout(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[CsrfForm, Form],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        page = Page(request, settings)
        if not page.csrf_ok(data.csrf):
            raise ForbiddenError("the form has expired")
        return page.redirect("/portal/login?bye=1", cookies=[page.access.clear_session_cookie()])


def _to_login(page: Page, back_to: str, expired: bool) -> Redirect:
    query = "?" + urlencode({"next": back_to, **({"expired": "1"} if expired else {})})
    cookies = [page.access.clear_session_cookie()] if expired else []
    return page.redirect(f"/portal/login{query}", cookies=cookies)


def _login_error(page: Page, message: str, status: int, target: str) -> Template:
    return page.render("login.html", status=status, notice=None, error=page.t(message), next=target)
