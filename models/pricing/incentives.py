"""Which contract rewards a site has earned, criterion by criterion: the quote's
eligibility section.

Every tier of the rule set is listed, eligible or not, with each criterion's actual
figure, threshold and gap, so a site can see what it is missing. A metric the site
did not report (or reported in fewer than ``min_months`` months of the window) is
``None`` and is not met: missing data never earns a reward.

The figures come from :func:`models.incentives.evaluation.find_tiers`: the findings
:func:`models.incentives.evaluate_period`, the evaluation agreements are settled with,
builds its evaluations from (docs/contract-incentives.md, Quotes): an incentive-rules/2
rule set (2026.1) is evaluated as it is, with what the quote knows besides its rows
(:class:`QuoteEvidence`: whether it has claims data, the model's class percentile); a
2025.1-format one is read as a :class:`models.incentives.RuleSet` by
:mod:`models.incentives.legacy` with its meaning kept. The period is the longest window
before the policy start. This module only turns that evaluation into the quote's answer.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

import pandas as pd

from models.pricing.history import gap, month_number, values
from models.pricing.rulesets import IncentiveRuleSet, Metric, NewMetric, Operator

if TYPE_CHECKING:
    from models.incentives.inputs import MonthRow, SiteClaim
    from models.incentives.rule_set import RuleSet

# models.incentives reads models.pricing (rule errors, month windows) and models.pricing
# exports this module: models.incentives is imported where it is called, not above, so
# either package may be imported first.


# Why a criterion of an incentive-rules/2 rule set is not evaluable, as a quote says it.
NOT_EVALUABLE: Final[dict[str, tuple[str, str]]] = {
    "too_many_missing_months": ("未报送月份过多", "too many months not reported"),
    "nothing_reported": ("窗口内无数据", "nothing reported in the window"),
    "no_exposure": ("无工时数据", "no worker-hours reported"),
    "no_claims_data": (
        "无理赔数据(请求未提供claims)",
        "no claims data (the request did not send claims)",
    ),
    "no_class_percentile": (
        "无同类工地(类型与阶段)百分位",
        "no percentile among sites of the same type and stage",
    ),
    "too_few_peers": ("同类工地不足", "too few sites of the same type and stage"),
    "no_class": ("工地类别未知", "the site's class is unknown"),
    "no_model_percentile": ("无模型百分位", "no model percentile"),
}


class CriterionResult(NamedTuple):
    # a named tuple (cheap to build): twenty of them a quote, twenty thousand a portfolio
    name: str
    zh: str
    en: str
    metric: Metric | NewMetric
    column: str | None
    window_months: int | None
    operator: Operator
    threshold: float
    actual: float | None  # None: not reported
    months_reported: int | None  # months of the window with a value; None if not month-based
    met: bool
    gap: float | None  # distance to the threshold, 0 when met, None when not reported
    # incentive-rules/2 only (None for 2025.1, whose answers keep their shape): met /
    # not_met / not_evaluable, and why not evaluable (NOT_EVALUABLE's keys)
    outcome: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TierResult:
    name: str
    zh: str
    en: str
    description: str
    eligible: bool
    criteria: tuple[CriterionResult, ...]

    @property
    def unmet(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.criteria if not c.met)


@dataclass(frozen=True, slots=True)
class IncentiveResult:
    version: str
    label: str
    start_month: str
    risk_percentile: float | None
    tiers: tuple[TierResult, ...]
    # an incentive-rules/2 rule set: each criterion states its outcome and why it is not
    # evaluable (2025.1's answers keep their shape, so stored quotes replay)
    states_outcomes: bool = False

    @property
    def eligible(self) -> tuple[str, ...]:
        """Names of the tiers earned."""
        return tuple(t.name for t in self.tiers if t.eligible)


def _single_site(frame: pd.DataFrame, table: str) -> None:
    if "site_id" in frame.columns and frame["site_id"].nunique(dropna=True) > 1:
        raise ValueError(f"{table} holds rows of several sites; pass one site's rows")


# What a quote's answer repeats of a criterion, whatever the site: name, zh, en, metric
# (by its 2025.1 name), column, window_months, operator and threshold, the first fields
# of a CriterionResult in order; and whether the criterion counts months.
_Fixed = tuple[tuple[Any, ...], bool]


@dataclass(frozen=True, slots=True)
class _Converted:
    """A rule set as models.incentives reads it: the rule set, the columns its criteria
    read, its longest window and, tier by tier, what each criterion's result repeats."""

    source: IncentiveRuleSet
    rules: RuleSet
    columns: tuple[str, ...]
    window: int
    fixed: tuple[tuple[_Fixed, ...], ...]


def _fixed(rule_set: IncentiveRuleSet, rules: RuleSet) -> tuple[tuple[_Fixed, ...], ...]:
    from models.incentives.legacy import LEGACY_NAMES

    return tuple(
        tuple(
            (
                (
                    c.name,
                    c.zh,
                    c.en,
                    LEGACY_NAMES.get(e.metric, e.metric),
                    c.column,
                    c.window_months,
                    c.operator,
                    c.threshold,
                ),
                c.metric not in ("claims_count", "risk_percentile", "model_class_percentile"),
            )
            for c, e in zip(tier.criteria, evaluated.criteria, strict=True)
        )
        for tier, evaluated in zip(rule_set.tiers, rules.tiers, strict=True)
    )


# A quote reads the same rule set for every site of a portfolio: converted once.
_CONVERTED: dict[int, _Converted] = {}


def _converted(rule_set: IncentiveRuleSet) -> _Converted:
    from models.incentives.legacy import from_legacy, window_months

    found = _CONVERTED.get(id(rule_set))
    if found is None or found.source is not rule_set:
        columns = {c.column for t in rule_set.tiers for c in t.criteria if c.column}
        if any(
            c.metric == "unrectified_hazards_per_10k_worker_hours"
            for t in rule_set.tiers
            for c in t.criteria
        ):
            columns |= {"hazards_found", "hazard_rectification_rate"}
        rules = rule_set.rules if rule_set.rules is not None else from_legacy(rule_set)
        found = _Converted(
            rule_set,
            rules,
            ("worker_hours", *sorted(columns)),
            window_months(rule_set),
            _fixed(rule_set, rules),
        )
        _CONVERTED[id(rule_set)] = found
    return found


@functools.lru_cache(maxsize=256)
def _period(window: int, start_month: str) -> tuple[str, ...]:
    """The ``window`` months before ``start_month``: a portfolio asks for few."""
    start = month_number(start_month)
    return tuple(f"{n // 12:04d}-{n % 12 + 1:02d}" for n in range(start - window, start))


@functools.lru_cache(maxsize=256)
def _inside(window: int, start_month: str) -> frozenset[str]:
    return frozenset(_period(window, start_month))


class _Found(Protocol):
    """What the answer reads of a criterion's evaluation: a
    :class:`models.incentives.evaluation.Finding`, or the
    :class:`~models.incentives.evaluation.CriterionEvaluation` built from one."""

    @property
    def value(self) -> float | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def months_used(self) -> tuple[str, ...]: ...


def _result(
    rule_set: IncentiveRuleSet,
    evaluated: Sequence[Sequence[_Found]],
    start_month: str,
    risk_percentile: float | None,
) -> IncentiveResult:
    """The answer from each tier's criteria as evaluated, in the rule set's order."""
    legacy = rule_set.rules is None
    tiers: list[TierResult] = []
    make = CriterionResult._make
    fixed = _converted(rule_set).fixed
    for tier, found, kept in zip(rule_set.tiers, evaluated, fixed, strict=True):
        results: list[CriterionResult] = []
        eligible = True
        for e, (head, month_based) in zip(found, kept, strict=True):
            # not evaluable (too few months, no worker-hours): not reported, as before
            outcome = e.outcome
            actual = None if outcome == "not_evaluable" else e.value
            met = outcome == "met"
            eligible = eligible and met
            results.append(
                make(
                    (
                        *head,
                        actual,
                        len(e.months_used) if month_based else None,  # months_reported
                        met,
                        gap(actual, head[6], head[7]),  # operator, threshold
                        None if legacy else outcome,
                        None if legacy else e.reason,
                    )
                )
            )
        # positional: name, zh, en, description, eligible, criteria
        tiers.append(
            TierResult(tier.name, tier.zh, tier.en, tier.description, eligible, tuple(results))
        )
    return IncentiveResult(
        rule_set.version,
        rule_set.label,
        start_month,
        risk_percentile,
        tuple(tiers),
        states_outcomes=not legacy,
    )


@dataclass(frozen=True, slots=True)
class QuoteEvidence:
    """What an incentive-rules/2 rule set reads besides the rows (rule set 2025.1 reads
    neither): whether the quote has claims data at all, and the model's percentile
    within the site's class (None or NaN: unknown)."""

    claims_known: bool
    class_percentile: float | None


# 2025.1's meaning: the claims the quote was given are all there are, no class percentile
LEGACY_EVIDENCE: Final = QuoteEvidence(claims_known=True, class_percentile=None)


def _evaluate(
    rule_set: IncentiveRuleSet,
    rows: Sequence[MonthRow],
    claims: Sequence[SiteClaim],
    start_month: str,
    risk_percentile: float | None,
    evidence: QuoteEvidence,
) -> IncentiveResult:
    from models.incentives.evaluation import find_tiers

    converted = _converted(rule_set)
    legacy = rule_set.rules is None
    # what evaluate_period finds for the tiers, without what a quote does not show
    found = find_tiers(
        converted.rules,
        None,  # a quote ranks the model's rate, not the feed's peers' rows
        _period(converted.window, start_month),
        rows,
        (),
        claims,
        # 2025.1 counts the claims the quote was given, as it always did
        claims_data=True if legacy else evidence.claims_known,
        model_percentile=risk_percentile,
        model_class_percentile=None if legacy else evidence.class_percentile,
    )
    return _result(rule_set, found, start_month, risk_percentile)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def quote_incentives(
    rule_set: IncentiveRuleSet,
    months: Sequence[Any],
    claims: Sequence[Any],
    start_month: str,
    risk_percentile: float | None,
    evidence: QuoteEvidence = LEGACY_EVIDENCE,
) -> IncentiveResult:
    """:func:`evaluate_incentives` for one site's decoded rows (objects with the
    contract's columns as attributes, missing values as None), as a quote holds them.
    ``claims``: for rule set 2025.1 the insurer's own, for an incentive-rules/2 rule set
    every insurer's (docs/contract-incentives.md, Quotes)."""
    from models.incentives.inputs import MonthRow, SiteClaim

    converted = _converted(rule_set)
    columns = converted.columns
    inside = _inside(converted.window, start_month)
    rows = [
        MonthRow(
            m.month,
            getattr(m, "stage", ""),
            getattr(m, "version", 0),
            {c: getattr(m, c, None) for c in columns},
        )
        for m in months
        if m.month in inside  # the rest are read by no criterion
    ]
    found = [SiteClaim(_date(c.incident_date), c.severity) for c in claims]
    return _evaluate(rule_set, rows, found, start_month, risk_percentile, evidence)


def evaluate_incentives(
    rule_set: IncentiveRuleSet,
    months: pd.DataFrame,
    claims: pd.DataFrame,
    start_month: str,
    risk_percentile: float | None,
    evidence: QuoteEvidence = LEGACY_EVIDENCE,
) -> IncentiveResult:
    """Hold one site's history before ``start_month`` against every tier's criteria.

    ``months`` and ``claims`` are the site's rows in the contract's columns;
    ``risk_percentile`` is the model's peer percentile (0 = safest), None if unknown;
    ``evidence`` what an incentive-rules/2 rule set reads besides (default: claims
    known, no class percentile).
    """
    from models.incentives.inputs import MonthRow, SiteClaim

    month_number(start_month)  # a bad month fails here, whatever the criteria
    _single_site(months, "site_months")
    _single_site(claims, "claims")
    columns = _converted(rule_set).columns
    rows: list[MonthRow] = []
    if not months.empty:
        if "month" not in months.columns:
            raise ValueError("site_months rows need a 'month' column")
        table = {c: values(months, c) for c in columns}
        stages = months["stage"].astype(str).tolist() if "stage" in months.columns else None
        for i, month in enumerate(months["month"].tolist()):
            if not isinstance(month, str):
                raise ValueError(f"site_months.month must look like YYYY-MM, got {month!r}")
            numbers = {c: (None if v[i] != v[i] else float(v[i])) for c, v in table.items()}
            rows.append(MonthRow(month, stages[i] if stages else "", 0, numbers))
    found: list[SiteClaim] = []
    if not claims.empty:
        if "incident_date" not in claims.columns:
            raise ValueError("claims rows need an 'incident_date' column")
        if "severity" not in claims.columns:
            raise ValueError("claims rows need a 'severity' column")
        days = pd.to_datetime(claims["incident_date"])
        found = [
            SiteClaim(day.date(), str(severity))
            for day, severity in zip(days, claims["severity"], strict=True)
        ]
    return _evaluate(rule_set, rows, found, start_month, risk_percentile, evidence)
