"""``/portal/agreements``: incentive agreements for their owner and their contractor,
server-rendered in Chinese and English — the list, each agreement's evaluation month by
month, and the settlement statement as a print view with its JSON to download.

Readers sign in here with an owner or contractor key, or come signed in to the
contractor portal. Pages read through :class:`service.agreements.service.AgreementService`
with the reader as the caller, so the API's tenancy holds: another party's agreement
is a 404 page like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlmodel import Session

from models.settings import Settings
from service.agreements.service import AgreementService, statement_document
from service.errors import ForbiddenError, InvalidInputError
from service.portal import agreement_views as views
from service.portal.access import SESSION_COOKIE
from service.portal.agreement_access import (
    AGREEMENT_COOKIE,
    AGREEMENTS_PATH,
    AgreementAccess,
    Reader,
)
from service.portal.agreement_i18n import AgreementText
from service.portal.web import PUBLIC, Page, html_error
from service.runtime import runtime_of


class SignInForm(msgspec.Struct, kw_only=True):
    api_key: Annotated[str, msgspec.Meta(max_length=512)] = ""
    csrf: Annotated[str, msgspec.Meta(max_length=128)] = ""
    next: Annotated[str, msgspec.Meta(max_length=512)] = ""


class CsrfForm(msgspec.Struct, kw_only=True):
    csrf: Annotated[str, msgspec.Meta(max_length=128)] = ""


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


def _next(value: str | None) -> str:
    """Back to an agreement page of ours after sign-in, never elsewhere."""
    if (
        value
        and (value == AGREEMENTS_PATH or value.startswith(f"{AGREEMENTS_PATH}/"))
        and "//" not in value
        and ".." not in value
        and "\\" not in value
        and all(c.isprintable() and not c.isspace() for c in value)
        and not value.startswith(f"{AGREEMENTS_PATH}/login")
    ):
        return value
    return AGREEMENTS_PATH


class _Context:
    def __init__(self, request: Request[Any, Any, Any], settings: Settings) -> None:
        self.page = Page(request, settings)
        self.a = AgreementText(self.page.t)
        self.access = AgreementAccess(settings)
        self.request = request

    def reader(self, db: Session) -> Reader | None:
        cookies = self.request.cookies
        return self.access.reader(cookies.get(AGREEMENT_COOKIE), cookies.get(SESSION_COOKIE), db)

    def render(self, template: str, reader: Reader | None, **context: Any) -> Template:
        return self.page.render(
            template,
            a=self.a,
            home=AGREEMENTS_PATH,
            reader=reader,
            **context,
        )

    def to_login(self) -> Redirect:
        query = urlencode({"next": self.request.url.path})
        return self.page.redirect(f"{AGREEMENTS_PATH}/login?{query}")


class AgreementPortalController(Controller):
    path = AGREEMENTS_PATH
    opt = PUBLIC
    include_in_schema = False
    exception_handlers = {Exception: html_error}  # noqa: RUF012

    @get("/", sync_to_thread=True)
    def listed(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[Session],
    ) -> Template | Redirect:
        ctx = _Context(request, settings)
        reader = ctx.reader(db_session)
        if reader is None:
            return ctx.to_login()
        items = AgreementService(db_session).listed(reader.principal, None)
        principal = reader.principal
        party = principal.owner_id or principal.contractor_id
        return ctx.render(
            "agreements.html",
            reader,
            intro=ctx.a(f"list.intro.{principal.role.value}", party=party),
            rows=views.list_rows(ctx.a, items),
        )

    @get("/{agreement_id:str}", sync_to_thread=True)
    def one(
        self,
        request: Request[Any, Any, Any],
        agreement_id: FromPath[str],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[Session],
    ) -> Template | Redirect:
        ctx = _Context(request, settings)
        reader = ctx.reader(db_session)
        if reader is None:
            return ctx.to_login()
        service = AgreementService(db_session)
        agreement = service.get(agreement_id, reader.principal)
        evaluation = service.evaluate(agreement_id, reader.principal)
        return ctx.render(
            "agreement.html", reader, view=views.agreement_page(ctx.a, agreement, evaluation)
        )

    @get("/{agreement_id:str}/statement", sync_to_thread=True)
    def statement(
        self,
        request: Request[Any, Any, Any],
        agreement_id: FromPath[str],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[Session],
    ) -> Template | Redirect:
        ctx = _Context(request, settings)
        reader = ctx.reader(db_session)
        if reader is None:
            return ctx.to_login()
        service = AgreementService(db_session)
        agreement = service.get(agreement_id, reader.principal)
        stored = service.statement(agreement_id, reader.principal)
        issued = {
            "id": stored.id,
            "issued_at": stored.issued_at,
            "content_hash": stored.content_hash,
        }
        view = views.statement_page(ctx.a, agreement, statement_document(stored), issued)
        return ctx.render("agreement_statement.html", reader, view=view)

    @get("/{agreement_id:str}/statement.json", sync_to_thread=True)
    def download(
        self,
        request: Request[Any, Any, Any],
        agreement_id: FromPath[str],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[Session],
    ) -> Response[bytes] | Redirect:
        ctx = _Context(request, settings)
        reader = ctx.reader(db_session)
        if reader is None:
            return ctx.to_login()
        stored = AgreementService(db_session).statement(agreement_id, reader.principal)
        name = f"statement-{stored.agreement_id}.json"
        return Response(
            stored.body.encode(),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Content-Hash": stored.content_hash,
            },
        )

    @get("/login", sync_to_thread=False)
    def login_form(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Template:
        ctx = _Context(request, settings)
        return ctx.render(
            "agreement_login.html",
            None,
            error=None,
            next=_next(request.query_params.get("next")),
        )

    @post("/login", status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[SignInForm, Form],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        ctx = _Context(request, settings)
        target = _next(data.next)

        def refused(message: str, status: int) -> Template:
            return ctx.page.render(
                "agreement_login.html",
                status=status,
                a=ctx.a,
                reader=None,
                error=ctx.a(message),
                next=target,
            )

        if not ctx.page.csrf_ok(data.csrf):
            return refused("login.form_expired", 400)
        try:
            principal = await ctx.access.sign_in(runtime_of(request.app).resolver, data.api_key)
        except InvalidInputError:
            return refused("login.bad_key", 401)
        except ForbiddenError:
            return refused("login.not_party", 403)
        return ctx.page.redirect(target, cookies=[ctx.access.cookie(principal)])

    @post("/logout", status_code=303, sync_to_thread=False)
    def logout(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[CsrfForm, Form],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        ctx = _Context(request, settings)
        if not ctx.page.csrf_ok(data.csrf):
            raise ForbiddenError("the form has expired")
        return ctx.page.redirect(f"{AGREEMENTS_PATH}/login", cookies=[ctx.access.clear_cookie()])
