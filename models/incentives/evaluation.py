"""Hold one site's months and claims in a period against every tier and breach of a rule
set, month by month and cumulatively: pure, no I/O.

The rules of evidence (docs/contract-incentives.md):

- a month of the period without the site's row, or with a null in the criterion's
  column, is *not reported*; more not-reported months than the criterion's
  ``max_missing_months`` make it ``not_evaluable``, never met;
- claims criteria count the feed's claims on the site by severity (all insurers; no
  amounts, no insurer); without claims data they are ``not_evaluable``, never met, so
  "no serious claims" is never met merely because no claims were sent;
- percentiles rank the site only among peers of its own class (project type and
  stage), month by month among the peers' rows of that month in that class;
- every figure names the months and the row revisions it used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from models.incentives.rule_set import Means, Metric, Operator, RuleSet

Outcome = Literal["met", "not_met", "not_evaluable"]
MonthStatus = Literal["met", "not_met", "not_reported"]
BreachOutcome = Literal["kept", "breached", "not_evaluable"]
# Why a criterion is not evaluable.
Reason = Literal[
    "too_many_missing_months",  # more months not reported than the rule allows
    "nothing_reported",  # no month of the window reported (whatever the rule allows)
    "no_exposure",  # a per-10k figure over months without worker-hours
    "no_claims_data",  # the feed has no claims data for the site
    "too_few_peers",  # fewer class peers with a figure than the ranking needs
]


@dataclass(frozen=True, slots=True)
class SiteClass:
    """What a site is compared with: its project type and construction stage."""

    project_type: str
    stage: str


@dataclass(frozen=True, slots=True)
class MonthRow:
    """One site_months row of the site, as the feed holds it.

    ``values`` maps site_months columns to numbers (None: not reported); ``revision``
    is the feed's version of the row, recorded as evidence."""

    month: str  # YYYY-MM
    stage: str
    revision: int
    values: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class PeerRow:
    """One site_months row of another site, for class percentiles."""

    site_id: str
    month: str
    project_type: str
    stage: str
    values: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class SiteClaim:
    """A claim on the site from the feed: when and how serious, nothing else."""

    incident_date: dt.date
    severity: str


@dataclass(frozen=True, slots=True)
class MonthFigure:
    """A criterion in one month: the month's own figure and the cumulative one from the
    window's first month through this one."""

    month: str
    value: float | None  # None: not reported this month
    cumulative: float | None  # None: nothing reported yet
    status: MonthStatus  # the month's own figure against the threshold
    revision: int | None  # the row's revision; None without a row
    peers: int | None = None  # class peers ranked against (class_percentile only)


@dataclass(frozen=True, slots=True)
class CriterionEvaluation:
    name: str
    zh: str
    en: str
    metric: Metric
    column: str | None
    operator: Operator
    threshold: float
    max_missing_months: int
    months: tuple[str, ...]  # the criterion's window
    months_used: tuple[str, ...]  # months whose value entered the figure
    missing_months: tuple[str, ...]  # months of the window not reported
    revisions: Mapping[str, int]  # month -> row revision, for the months used
    value: float | None  # the cumulative figure over the window
    outcome: Outcome
    reason: Reason | None  # why not evaluable; None otherwise
    by_month: tuple[MonthFigure, ...]


@dataclass(frozen=True, slots=True)
class TierEvaluation:
    """A reward tier: met when every criterion is met; not met when one is not met;
    otherwise (a criterion not evaluable) not evaluable."""

    name: str
    zh: str
    en: str
    means: Means
    points: float | None
    outcome: Outcome
    criteria: tuple[CriterionEvaluation, ...]


@dataclass(frozen=True, slots=True)
class BreachEvaluation:
    """A penalty clause: breached when its criterion is not met."""

    name: str
    zh: str
    en: str
    outcome: BreachOutcome
    criterion: CriterionEvaluation


@dataclass(frozen=True, slots=True)
class PeriodEvaluation:
    rule_set_version: str
    site_class: SiteClass
    months: tuple[str, ...]  # the period evaluated, oldest first
    claims_data: bool
    tiers: tuple[TierEvaluation, ...]
    breaches: tuple[BreachEvaluation, ...]
    months_used: tuple[str, ...]  # months of the period with a row of the site
    missing_months: tuple[str, ...]  # months of the period without one
    revisions: Mapping[str, int]  # month -> revision of every row used


def period_months(first: str, last: str) -> tuple[str, ...]:
    """The calendar months from ``first`` through ``last`` (``YYYY-MM``), oldest first."""
    raise NotImplementedError


def evaluate_period(
    rule_set: RuleSet,
    site_class: SiteClass,
    months: Sequence[str],
    rows: Sequence[MonthRow],
    peers: Sequence[PeerRow],
    claims: Sequence[SiteClaim],
    *,
    claims_data: bool,
) -> PeriodEvaluation:
    """Evaluate every tier and breach of ``rule_set`` over ``months`` (consecutive,
    oldest first; for a running agreement, its months so far).

    ``rows``: the site's site_months rows (rows outside ``months`` are ignored);
    ``peers``: other sites' rows, of any class (only the site's class is ranked
    against); ``claims``: the feed's claims on the site; ``claims_data``: whether the
    feed holds claims data for the site at all (False: claims criteria are not
    evaluable). Raises ValueError for a bad month, duplicate rows or an unknown
    severity."""
    raise NotImplementedError
