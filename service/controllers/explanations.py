"""``/v1/sites/{site_id}/explanation``: a contractor's latest explanation of its site."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlmodel import Session

from service.auth.guards import requires
from service.auth.principal import Principal, Role
from service.errors import NotFoundError, error_responses
from service.quotes.contractor_view import SiteExplanation, site_explanation
from service.quotes.store import QuoteStore
from service.quotes.texts import Lang
from service.ratebooks.store import book_lookup


class SiteExplanationController(Controller):
    path = "/v1/sites"
    tags = ["contractors"]  # noqa: RUF012

    @get(
        "/{site_id:str}/explanation",
        sync_to_thread=True,
        guards=[requires(Role.contractor)],
        summary="The latest explanation of one of the caller's sites (contractor keys)",
        responses=error_responses(401, 403, 404, 422, 429),
    )
    def explanation(
        self,
        site_id: FromPath[str],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        lang: Annotated[Lang, QueryParameter(description="Language of the texts.")] = "zh",
    ) -> SiteExplanation:
        """Why the site's latest quote is what it is, in Chinese (default) or English:
        premium and band, factors and groups, recommendations, the incentive checklist
        and data quality. A site is the caller's when the quote's request named the key's
        ``contractor_id``; any other site, existing or not, is the same 404."""
        quote = None
        if principal.contractor_id:
            quote = QuoteStore(db_session).latest_for_contractor(site_id, principal.contractor_id)
        if quote is None:
            raise NotFoundError(f"no explanation for site {site_id!r}")
        return site_explanation(quote, lang, book_lookup(db_session))
