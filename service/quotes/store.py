"""Quotes in the database: written once with what produced them, read back by their
owner only.

The owner of a quote is the insurer of the key that priced it (so a rotated key keeps
its insurer's quotes); an admin's quotes belong to that admin key alone. Another
owner's quote reads as not found, never as forbidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import func
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from service.auth.principal import Principal, Role
from service.db.tables import Quote
from service.quotes.pricing_service import PricedQuote
from service.quotes.schemas import QuoteResponse, QuoteSummary

_SUMMARY_COLUMNS = (
    "id",
    "created_at",
    "site_id",
    "district",
    "model_name",
    "model_version",
    "base_premium",
    "final_premium",
)


def owner_of(principal: Principal) -> str:
    """The ``insurer_id`` a caller's quotes are stored under. Non-insurer owners contain
    a ':', which no insurer id may (``ID_PATTERN``), so the two never collide."""
    if principal.role is Role.insurer and principal.insurer_id:
        return principal.insurer_id
    return f"{principal.role.value}:{principal.key_id}"


class QuoteStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, quotes: Sequence[PricedQuote], principal: Principal) -> None:
        """Store and commit every quote, or none of them."""
        owner = owner_of(principal)
        rows = []
        for q in quotes:
            response = q.response
            site: Any = q.item.request.site
            request_hash, input_hash = q.item.hashes()
            rows.append(
                Quote(
                    id=response.quote_id,
                    created_at=response.created_at,
                    api_key_id=principal.key_id,
                    insurer_id=owner,
                    site_id=site.site_id,
                    contractor_id=site.contractor_id,
                    district=site.district,
                    request_hash=request_hash,
                    input_hash=input_hash,
                    request=q.item.body(),
                    response=msgspec.to_builtins(response),
                    model_name=q.snapshot.name,
                    model_version=q.snapshot.version,
                    model_uri=q.snapshot.uri,
                    tariff_version=q.tariff_version,
                    band_version=q.band_version,
                    incentive_version=q.incentive_version,
                    predicted_frequency=q.expected_claims,
                    base_premium=float(q.base_premium),
                    final_premium=float(q.final_premium),
                    currency=response.currency,
                )
            )
        if not rows:
            return
        try:
            self.session.add_all(rows)
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise

    def get(self, quote_id: str, principal: Principal) -> QuoteResponse | None:
        row = self.session.get(Quote, quote_id)
        if row is None or row.insurer_id != owner_of(principal):
            return None
        return msgspec.convert(row.response, QuoteResponse)

    def page(
        self, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[QuoteSummary], int]:
        owner = owner_of(principal)
        mine = col(Quote.insurer_id) == owner
        total = self.session.exec(select(func.count()).select_from(Quote).where(mine)).one()
        # The request and response documents stay in the database: a page needs neither.
        summary = load_only(*(getattr(Quote, name) for name in _SUMMARY_COLUMNS))
        rows = self.session.exec(
            select(Quote)
            .options(summary)
            .where(mine)
            .order_by(col(Quote.created_at).desc(), col(Quote.id).desc())
            .limit(limit)
            .offset(offset)
        ).all()
        items = [
            QuoteSummary(
                quote_id=r.id,
                created_at=r.created_at,
                site_id=r.site_id,
                district=r.district,
                model_name=r.model_name,
                model_version=r.model_version,
                base_premium_cny=r.base_premium,
                final_premium_cny=r.final_premium,
            )
            for r in rows
        ]
        return items, int(total)
