"""What the agreements API accepts and answers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from models.contract.spec import ID_PATTERN, MONTH_PATTERN

Id = Annotated[str, Meta(pattern=ID_PATTERN, max_length=64)]
Month = Annotated[str, Meta(pattern=MONTH_PATTERN)]
RuleSetVersion = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
AgreementId = Annotated[str, Meta(pattern=r"^[0-9a-f-]{36}$")]
Status = Literal["awaiting_acceptance", "in_effect", "superseded", "replaced_before_effect"]


class AgreementIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """An owner's agreement for one of its sites. ``terms`` are the money (the shape of
    ``models.incentives.terms_from_json``); ``replaces`` names the version this one
    replaces once both parties accept it."""

    site_id: Id
    contractor_id: Id
    first_month: Month
    last_month: Month
    rule_set_version: RuleSetVersion
    terms: dict[str, Any]
    insurer_id: Id | None = None
    replaces: AgreementId | None = None


class Acceptance(Struct, frozen=True, kw_only=True):
    party: Literal["owner", "contractor"]
    party_id: str
    accepted_at: dt.datetime
    key_id: int


class AgreementOut(Struct, frozen=True, kw_only=True):
    id: str
    series_id: str
    version: int
    replaces: str | None
    site_id: str
    owner_id: str
    contractor_id: str
    insurer_id: str | None
    first_month: str
    last_month: str
    rule_set_version: str
    terms: dict[str, Any]
    document_hash: str
    created_at: dt.datetime
    status: Status
    accepted: list[Acceptance]
    effective_at: dt.datetime | None  # when the second party accepted
    superseded_by: str | None
    statement: str | None  # the settlement statement's id, once issued


class AgreementPage(Struct, frozen=True, kw_only=True):
    items: list[AgreementOut]


# --- evaluation ------------------------------------------------------------------------


class MonthOut(Struct, frozen=True, kw_only=True):
    month: str
    value: float | None
    cumulative: float | None
    status: Literal["met", "not_met", "not_reported", "no_exposure", "too_few_peers"]
    revision: int | None
    peers: int | None = None


class CriterionOut(Struct, frozen=True, kw_only=True):
    name: str
    zh: str
    en: str
    metric: str
    column: str | None
    operator: str
    threshold: float
    max_missing_months: int
    value: float | None  # cumulative over the criterion's window
    outcome: Literal["met", "not_met", "not_evaluable"]
    reason: str | None
    months: list[str]
    months_used: list[str]
    missing_months: list[str]
    revisions: dict[str, int]
    by_month: list[MonthOut]


class TierOut(Struct, frozen=True, kw_only=True):
    name: str
    zh: str
    en: str
    means: str
    points: float | None
    outcome: str
    criteria: list[CriterionOut]


class BreachOut(Struct, frozen=True, kw_only=True):
    name: str
    zh: str
    en: str
    outcome: str
    criterion: CriterionOut


class EvaluationOut(Struct, frozen=True, kw_only=True):
    """The agreement's criteria over its months so far, from the feed's data now."""

    agreement_id: str
    site_id: str
    rule_set_version: str
    project_type: str
    stage: str
    first_month: str
    last_month: str
    through_month: str | None  # the last month evaluated; None: the period has not begun
    months: list[str]
    months_used: list[str]
    missing_months: list[str]
    revisions: dict[str, int]
    claims_data: bool
    tiers: list[TierOut]
    breaches: list[BreachOut]


# --- settlement ------------------------------------------------------------------------


class StatementInfo(Struct, frozen=True, kw_only=True):
    id: str
    agreement_id: str
    content_hash: str
    issued_at: dt.datetime
    issued_by_key: int | None  # None: issued at the end of the period by the service
    created: bool  # false: the statement had been issued before


class ReplayOut(Struct, frozen=True, kw_only=True):
    statement_id: str
    content_hash: str
    replayed_hash: str
    same_bytes: bool
    feed_rows_match: bool  # the site's rows used are the feed's rows at their revisions
    mismatched_rows: list[str]  # months whose stored row differs from the feed's version
