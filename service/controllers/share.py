"""``POST /v1/quotes/{id}/share``: a link that shows one quote's site page to whoever
holds it, until it expires.

Only the owner of the quote (the insurer that priced it) can make one; another
owner's quote answers 404 like a quote that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, SkipValidation
from sqlmodel import Session

from models.settings import Settings
from service.auth.guards import requires
from service.auth.principal import Principal, Role
from service.errors import InvalidInputError, error_responses
from service.portal.access import PortalAccess
from service.quotes.intake import field_error
from service.quotes.store import QuoteStore


class ShareRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How long the link lives; default ``SITERISK_PORTAL_SHARE_DAYS`` (7)."""

    expires_in_days: (
        Annotated[
            int,
            msgspec.Meta(ge=1, le=365, description="Days until the link stops working."),
        ]
        | None
    ) = None


def read_share_request(data: Any) -> ShareRequest:
    """Strictly, like quote requests: ``"7"`` for a number is a 422 naming the field."""
    if data is None:
        return ShareRequest()
    try:
        return msgspec.convert(data, ShareRequest, strict=True)
    except msgspec.ValidationError as exc:
        error = field_error(exc, root=ShareRequest)
        raise InvalidInputError(
            f"the request is not valid: {error.field}: {error.message}", fields=[error]
        ) from None


class ShareLink(msgspec.Struct, frozen=True, kw_only=True):
    quote_id: str
    site_id: str
    url: str  # absolute, as this server was reached
    path: str
    expires_at: dt.datetime


class ShareController(Controller):
    path = "/v1/quotes"
    tags = ["portal"]  # noqa: RUF012 - Litestar reads these as class attributes

    @post(
        "/{quote_id:str}/share",
        status_code=201,
        sync_to_thread=True,
        guards=[requires(Role.insurer, Role.admin)],
        summary="A link that shows this quote's site page to the contractor",
        responses=error_responses(401, 403, 404, 422, 429),
    )
    def share_quote(
        self,
        request: Request[Any, Any, Any],
        quote_id: FromPath[str],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        settings: NamedDependency[Settings],
        data: JSONBody[SkipValidation[ShareRequest | None]] = None,
    ) -> ShareLink:
        """The link opens the contractor portal's page for the quote's site, showing this
        quote, in Chinese or English, without a key; it opens nothing else, and stops
        working after ``expires_in_days`` (at most ``SITERISK_PORTAL_SHARE_MAX_DAYS``)."""
        days = read_share_request(data).expires_in_days
        link = PortalAccess(settings).share(QuoteStore(db_session), principal, quote_id, days)
        base = str(request.base_url).rstrip("/")
        return ShareLink(
            quote_id=link.quote_id,
            site_id=link.site_id,
            url=base + link.path,
            path=link.path,
            expires_at=link.expires_at,
        )
