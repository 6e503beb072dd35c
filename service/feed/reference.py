"""Quotes by reference: ``{"site_id": ..., "policy": {...}}`` priced from stored data.

The stored rows are turned into the very request an insurer would have sent inline — the
site, its months before ``policy.start_month`` (the latest 120), the caller's own claims
from before the start, every other insurer's claims of the site counted
(``other_claims``) and the contractor's record — encoded to JSON and read back by the
inline path's own reader (:func:`service.quotes.intake.read_item`). Pricing then runs
unchanged, so a quote by reference and an inline quote of the same rows agree to the
cent, and the stored quote's request is the full inline request (replayable) while its
answer names the row versions it used (:class:`~service.quotes.schemas.QuoteInputs`).

Claims: the caller's own in full; every other insurer's only as counts by incident date
and severity, never their ids or amounts (loss ratios, reserves), which stay that
insurer's business data. The features read counts only, pooled over every insurer, as
training and ``siterisk score`` read a folder (docs/contractor-record.md). An admin key
owns no claims: every claim of the site is another insurer's to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import msgspec
import pandas as pd
from sqlalchemy import RowMapping
from sqlmodel import Session

from models.contract import validate_frames
from models.features.build import contractor_records
from service.auth.principal import Principal, Role
from service.errors import FieldError, InvalidInputError
from service.feed.intake import decode
from service.feed.rows import COLUMNS, contract_dict, json_value
from service.feed.store import FeedStore
from service.quotes.intake import Item, read_item
from service.quotes.pricing_service import PricedQuote
from service.quotes.schemas import (
    MAX_CLAIMS,
    MAX_MONTHS,
    ClaimRef,
    MonthRef,
    QuoteInputs,
    QuoteReference,
)


def is_reference(data: Any) -> bool:
    """A request naming a stored site rather than sending its rows."""
    return isinstance(data, dict) and "site_id" in data and "site" not in data


def _invalid(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(
        f"the request is not valid: {field}: {message}", fields=[FieldError(field, message)]
    )


class StoredRequests:
    """Builds inline requests from the stored rows."""

    def __init__(self, session: Session) -> None:
        self.store = FeedStore(session)

    def contractor_record(
        self,
        site: Any,
        start: str,
        rows: tuple[list[RowMapping], list[RowMapping], list[RowMapping]],
    ) -> dict[str, Any]:
        """The contractor's record on its other stored sites before ``start``, worked out
        by the feature builder itself (``contractor_records``) from the stored rows
        (``FeedStore.contractor_rows``): the months and every insurer's claims, counted
        (docs/contractor-record.md)."""
        sites, months, claims = rows
        if not months:
            # no months of any of its sites: no other site has started, no exposure, so
            # the features are those of no record (claims without hours give no rate)
            return {"before_month": start, "other_sites": 0, "worker_hours": 0.0,
                    "claims": 0, "serious_claims": 0}  # fmt: skip
        claim_frame = _frame(claims, "claims")
        # Two insurers may use the same claim id; only counts are read here, so each
        # stored claim gets an id of its own for the contract's uniqueness rule.
        claim_frame["claim_id"] = [f"c{k}" for k in range(len(claim_frame))]
        data = validate_frames(_frame(sites, "sites"), _frame(months, "site_months"), claim_frame)
        target = pd.DataFrame({"site_id": [str(site["site_id"])], "month": [start]})
        record = contractor_records(data.sites, data.site_months, data.claims, target)
        totals = record.iloc[0]
        return {
            "before_month": start,
            "other_sites": round(_finite(totals["other_sites"])),
            "worker_hours": _finite(totals["worker_hours"]),
            "claims": round(_finite(totals["claims"])),
            "serious_claims": round(_finite(totals["serious_claims"])),
        }

    def item(
        self, data: Any, principal: Principal, index: int = 0, where: str = ""
    ) -> tuple[Item, QuoteInputs]:
        ref: QuoteReference = decode(data, QuoteReference, where)
        site = self.store.site(ref.site_id)
        if site is None:
            raise _invalid(f"{where}site_id", f"no stored site {ref.site_id!r}")
        start = ref.policy.start_month
        # No stored month is a quote before works start: the pricer decides whether the
        # policy may be priced without data (the plan's quote limits).
        months = self.store.months_before(ref.site_id, start, MAX_MONTHS)
        own = principal.insurer_id if principal.role is Role.insurer else None
        claims = []
        if own:
            first_day = dt.date(int(start[:4]), int(start[5:7]), 1)
            claims = self.store.claims_before(ref.site_id, own, first_day)
        contractor = self.store.contractor_rows(str(site["contractor_id"]), start)
        # every other insurer's claims of the site, counted: no ids, no amounts
        others = [
            {"incident_date": json_value(c["incident_date"]), "severity": c["severity"]}
            for c in contractor[2]
            if c["site_id"] == ref.site_id and c["insurer_id"] != own
        ]
        if len(claims) > MAX_CLAIMS or len(others) > MAX_CLAIMS:
            raise _invalid(
                f"{where}site_id",
                f"site {ref.site_id!r} has {max(len(claims), len(others))} claims of "
                f"{'yours' if len(claims) > MAX_CLAIMS else 'other insurers'} before {start}; "
                f"a quote takes at most {MAX_CLAIMS}",
            )
        body = {
            "site": contract_dict(site, "sites"),
            "months": [contract_dict(m, "site_months") for m in months],
            "claims": [contract_dict(c, "claims") for c in claims],
            "other_claims": others,
            "policy": msgspec.to_builtins(ref.policy),
            "contractor_record": self.contractor_record(site, start, contractor),
        }
        # Through JSON, as an inline request arrives: the same reader, the same values.
        item = dataclasses.replace(
            read_item(msgspec.json.decode(msgspec.json.encode(body)), index, where),
            by_reference=True,
        )
        inputs = QuoteInputs(
            site_id=ref.site_id,
            site_version=int(site["version"]),
            months=[MonthRef(month=m["month"], version=int(m["version"])) for m in months],
            claims=[ClaimRef(claim_id=c["claim_id"], version=int(c["version"])) for c in claims],
            claims_scope="own" if own else "none",
        )
        return item, inputs


def _finite(value: Any) -> float:
    number = float(value)
    return number if number == number else 0.0  # no figure (NaN): no record


def _frame(rows: list[Any], table: str) -> pd.DataFrame:
    return pd.DataFrame(
        [contract_dict(r, table) for r in rows], columns=list(COLUMNS[table])
    ).astype(object)


def read_request(
    data: Any, principal: Principal, session: Session, index: int = 0, where: str = ""
) -> tuple[Item, QuoteInputs | None]:
    """One quote request, inline or by reference."""
    if is_reference(data):
        return StoredRequests(session).item(data, principal, index, where)
    return read_item(data, index, where), None


def with_inputs(outcome: PricedQuote, inputs: QuoteInputs | None) -> PricedQuote:
    """The priced quote whose answer names the stored rows it used (stored with it)."""
    if inputs is None:
        return outcome
    response = msgspec.structs.replace(outcome.response, inputs=inputs)
    return dataclasses.replace(outcome, response=response)
