"""What a contractor may see of the stored quotes, and nothing more.

Quotes are read from the audit log (:class:`service.db.tables.Quote`) as they were
answered, never re-priced: the page shows the figures the insurer was given. A
contractor sees the sites whose quotes carry its ``contractor_id``; a share link sees
one quote. Everything goes through :class:`SiteQuote`, which leaves out what is the
insurer's alone (who priced it, the expected loss, the model's address, the raw
request rows), so a template cannot show it by mistake.

A site's trend is the quotes of the same owner (insurer) as the one shown: two
insurers' prices, on their own base premiums, do not belong on one line.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from msgspec import Struct
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from service.db.tables import Quote
from service.errors import NotFoundError
from service.quotes.contractor_view import PreventionView, contractor_prevention
from service.quotes.schemas import (
    DataQuality,
    Explanation,
    Incentives,
    Pricing,
    QuoteResponse,
    Recommendation,
)
from service.quotes.store import QuoteStore
from service.quotes.stored import stored_answer
from service.quotes.texts import BookLookup, Lang, render
from service.ratebooks.store import book_lookup

HISTORY_LIMIT: Final = 36
SITES_LIMIT: Final = 500


class SiteQuote(Struct, frozen=True, kw_only=True):
    """One quote as its contractor may see it."""

    quote_id: str
    created_at: dt.datetime
    site_id: str
    district: str | None
    start_month: str
    term_months: int
    currency: str
    model_version: str
    risk_percentile: float
    pricing: Pricing
    explanation: Explanation
    recommendations: list[Recommendation]
    incentives: Incentives
    data_quality: DataQuality
    # the prevention plan as a contractor may see it (None: no rate book)
    prevention: PreventionView | None = None


class QuotePoint(Struct, frozen=True, kw_only=True):
    """One past quote of a site, for the trend."""

    quote_id: str
    created_at: dt.datetime
    start_month: str
    base_premium_cny: float | None
    final_premium_cny: float
    adjustment_pct: float


class SiteView(Struct, frozen=True, kw_only=True):
    quote: SiteQuote
    history: list[QuotePoint]  # oldest first, the shown quote included


class SiteSummary(Struct, frozen=True, kw_only=True):
    site_id: str
    district: str | None
    quote_id: str
    created_at: dt.datetime
    start_month: str
    base_premium_cny: float
    final_premium_cny: float
    adjustment_pct: float


def site_quote(
    stored: QuoteResponse, district: str | None, lang: Lang, books: BookLookup | None = None
) -> SiteQuote:
    """The stored quote as its contractor may see it, its texts written in ``lang``."""
    answer = render(stored, lang, books)
    return SiteQuote(
        quote_id=answer.quote_id,
        created_at=answer.created_at,
        site_id=answer.site_id,
        district=district,
        start_month=answer.start_month,
        term_months=answer.term_months,
        currency=answer.currency,
        model_version=f"{answer.model.name} v{answer.model.version}",
        risk_percentile=answer.risk.percentile,
        pricing=answer.pricing,
        explanation=answer.explanation,
        recommendations=answer.recommendations,
        incentives=answer.incentives,
        data_quality=answer.data_quality,
        prevention=(
            None if answer.prevention is None else contractor_prevention(answer.prevention)
        ),
    )


class PortalService:
    """The portal's reads, for a page in ``lang``."""

    def __init__(self, session: Session, lang: Lang = "zh") -> None:
        self.session = session
        self.lang = lang
        self.books = book_lookup(session)

    def sites(self, contractor_id: str) -> list[SiteSummary]:
        """The contractor's sites, each with its latest quote, by site id."""
        latest: dict[str, str] = {}
        rows = self.session.exec(
            select(Quote.site_id, Quote.id)
            .where(col(Quote.contractor_id) == contractor_id)
            .order_by(col(Quote.created_at).desc(), col(Quote.id).desc())
        )
        for site_id, quote_id in rows:
            latest.setdefault(site_id, quote_id)
            if len(latest) >= SITES_LIMIT:
                break
        if not latest:
            return []
        found = self.session.exec(
            select(Quote.response, Quote.district).where(col(Quote.id).in_(latest.values()))
        ).all()
        out = []
        for body, district in found:
            quote = site_quote(stored_answer(body), district, self.lang, self.books)
            out.append(
                SiteSummary(
                    site_id=quote.site_id,
                    district=district,
                    quote_id=quote.quote_id,
                    created_at=quote.created_at,
                    start_month=quote.start_month,
                    base_premium_cny=quote.pricing.base_premium_cny,
                    final_premium_cny=quote.pricing.final_premium_cny,
                    adjustment_pct=quote.pricing.adjustment_pct,
                )
            )
        return sorted(out, key=lambda s: s.site_id)

    def site(self, contractor_id: str, site_id: str) -> SiteView:
        """The latest quote of one of the contractor's sites (the rule the explanation
        API uses: :meth:`QuoteStore.latest_for_contractor`); another contractor's site
        is not found, exactly like a site that does not exist."""
        answer = QuoteStore(self.session).latest_for_contractor(site_id, contractor_id)
        if answer is None:
            raise NotFoundError(f"no site {site_id!r}")
        return self._view(answer)

    def shared(self, quote_id: str, site_id: str) -> SiteView:
        """The quote a share link names; it must still be of the site the link names."""
        body = self.session.exec(
            select(Quote.response).where(col(Quote.id) == quote_id, col(Quote.site_id) == site_id)
        ).first()
        if body is None:
            raise NotFoundError("no such quote")
        return self._view(stored_answer(body))

    def _view(self, answer: QuoteResponse) -> SiteView:
        place = self.session.exec(
            select(Quote.insurer_id, Quote.contractor_id, Quote.district).where(
                col(Quote.id) == answer.quote_id
            )
        ).one()
        owner, contractor_id, district = place
        quote = site_quote(answer, district, self.lang, self.books)
        return SiteView(quote=quote, history=self._history(quote, owner, contractor_id))

    def _history(self, shown: SiteQuote, owner: str, contractor_id: str | None) -> list[QuotePoint]:
        """Up to the last ``HISTORY_LIMIT`` quotes of the site by the same owner, up to
        and including the one shown (a shared link shows nothing newer than itself).
        Only four figures of each stored answer are read, not the whole document."""
        answer = col(Quote.response)
        start = answer["start_month"].as_string()
        adjustment = answer["pricing"]["adjustment_pct"].as_float()
        names = ("id", "created_at", "base_premium", "final_premium")
        figures = load_only(*(getattr(Quote, name) for name in names))
        rows = self.session.exec(
            select(Quote, start, adjustment)
            .options(figures)
            .where(
                col(Quote.site_id) == shown.site_id,
                col(Quote.insurer_id) == owner,
                col(Quote.contractor_id) == contractor_id,
                col(Quote.created_at) <= shown.created_at,
                col(Quote.id) != shown.quote_id,
            )
            .order_by(col(Quote.created_at).desc(), col(Quote.id).desc())
            .limit(HISTORY_LIMIT - 1)
        ).all()
        points = [
            QuotePoint(
                quote_id=past.id,
                created_at=past.created_at,
                start_month=str(month or ""),
                base_premium_cny=past.base_premium,
                final_premium_cny=past.final_premium,
                adjustment_pct=float(adj or 0.0),
            )
            for past, month, adj in rows
        ]
        points.append(_point(shown))
        return sorted(points, key=lambda p: (p.created_at, p.quote_id))


def _point(quote: SiteQuote) -> QuotePoint:
    return QuotePoint(
        quote_id=quote.quote_id,
        created_at=quote.created_at,
        start_month=quote.start_month,
        base_premium_cny=quote.pricing.base_premium_cny,
        final_premium_cny=quote.pricing.final_premium_cny,
        adjustment_pct=quote.pricing.adjustment_pct,
    )
