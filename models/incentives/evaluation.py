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

Figures are computed as the quote's pricing modules compute them (numpy's sums over the
months in order), so a quote's eligibility evaluated here equals what it was before
(tests/service/quotes/test_quotes_invariants.py holds the two to each other).

A quote reads only each tier's findings (:func:`find_tiers`: figure, outcome, reason,
months and revisions, no month-by-month figures), for every quote: the same findings
:func:`evaluate_period` builds its evaluations from, made by one code. A rule set is
planned once (each criterion's window and kind, and which criteria mean the same, so a
criterion repeated in several tiers is evaluated once).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

from models.contract import spec
from models.incentives.figures import Parts, figure, parts
from models.incentives.inputs import MonthRow, PeerRow, SiteClaim, SiteClass
from models.incentives.percentile import Ranks, ranks
from models.incentives.rule_set import (
    AnyMetric,
    Criterion,
    Means,
    Operator,
    RuleSet,
)
from models.pricing.history import meets, month_number

Outcome = Literal["met", "not_met", "not_evaluable"]
# A month's own figure: met / not met; not reported (no row, or null); reported with no
# worker-hours (a rate has no figure); too few class peers that month to rank against.
MonthStatus = Literal["met", "not_met", "not_reported", "no_exposure", "too_few_peers"]
BreachOutcome = Literal["kept", "breached", "not_evaluable"]
# Why a criterion is not evaluable.
Reason = Literal[
    "too_many_missing_months",  # more months not reported than the rule allows
    "nothing_reported",  # no month of the window reported (whatever the rule allows)
    "no_exposure",  # a per-10k figure over months without worker-hours
    "no_claims_data",  # the feed has no claims data for the site
    "too_few_peers",  # fewer class peers with a figure than the ranking needs
    "no_class",  # the site's class is unknown, so it has no peers to rank among
    "no_model_percentile",  # a 2025.1 rule on the model's percentile, and none was given
    # the model's percentile within the class is unknown: no class, too few training sites
    # in it, or a model trained before class percentiles
    "no_class_percentile",
]


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
    metric: AnyMetric
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
    site_class: SiteClass | None
    months: tuple[str, ...]  # the period evaluated, oldest first
    claims_data: bool
    tiers: tuple[TierEvaluation, ...]
    breaches: tuple[BreachEvaluation, ...]
    months_used: tuple[str, ...]  # months of the period with a row of the site
    missing_months: tuple[str, ...]  # months of the period without one
    revisions: Mapping[str, int]  # month -> revision of every row used


def _month_text(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def period_months(first: str, last: str) -> tuple[str, ...]:
    """The calendar months from ``first`` through ``last`` (``YYYY-MM``), oldest first."""
    lo, hi = month_number(first), month_number(last)
    if hi < lo:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    return tuple(_month_text(n) for n in range(lo, hi + 1))


@dataclass(slots=True)  # not frozen: made for every quote, and frozen costs there
class _Inputs:
    rows: Mapping[str, MonthRow]
    peers: Mapping[str, Sequence[PeerRow]] | None  # month -> the class's rows; None: no class
    claims: Sequence[SiteClaim]
    claims_data: bool
    model_percentile: float | None
    monthly: bool
    model_class_percentile: float | None = None
    # what tiers repeat: a window's figure by (metric, column, months), ranks, claim
    # counts and months (tuple keys), findings by the place of a criterion's meaning (ints)
    memo: dict[Any, Any] = field(default_factory=dict)


class Finding(NamedTuple):
    """A criterion's figure over its window and what it makes of it: a
    :class:`CriterionEvaluation` without the months' own figures. A quote reads only
    these (:func:`find_tiers`); :func:`evaluate_period` builds each evaluation from one,
    so both hold one arithmetic. A named tuple: a quote makes twenty of them."""

    value: float | None  # the figure over the window
    outcome: Outcome
    reason: Reason | None  # why not evaluable; None otherwise
    months_used: tuple[str, ...]
    missing_months: tuple[str, ...]
    revisions: Mapping[str, int]  # month -> row revision, for the months used


_MODEL: Final = ("model_percentile", "model_class_percentile")


def _met(value: float | None, c: Criterion) -> Literal["met", "not_met"]:
    return "met" if meets(value, c.operator, c.threshold) else "not_met"


def _status(value: float | None, c: Criterion) -> MonthStatus:
    return _met(value, c)


def _outcome(
    c: Criterion, value: float | None, missing: int, used: int, reason: Reason | None
) -> tuple[Outcome, Reason | None]:
    if missing > c.max_missing_months:
        return "not_evaluable", "too_many_missing_months"
    if used == 0:
        return "not_evaluable", "nothing_reported"
    if reason is not None:
        return "not_evaluable", reason
    return _met(value, c), None


def _claim_counts(c: Criterion, window: tuple[str, ...], data: _Inputs) -> list[int]:
    """The claims of the criterion's severities in each month of ``window``."""
    key = ("claims", c.severities, len(window))  # every window ends with the period
    found: list[int] | None = data.memo.get(key)
    if found is None:
        wanted = set(c.severities)
        per_month = dict.fromkeys(window, 0)
        for month, severity in _claim_months(data):
            if month in per_month and severity in wanted:
                per_month[month] += 1
        found = data.memo[key] = [per_month[m] for m in window]
    return found


def _claim_months(data: _Inputs) -> list[tuple[str, str]]:
    """Each claim's month and severity, read once for all the claims criteria."""
    found: list[tuple[str, str]] | None = data.memo.get(("claim months",))
    if found is None:
        found = data.memo[("claim months",)] = [
            (f"{c.incident_date.year:04d}-{c.incident_date.month:02d}", c.severity)
            for c in data.claims
        ]
    return found


def _claims(c: Criterion, window: tuple[str, ...], data: _Inputs) -> Finding:
    if not data.claims_data:
        return Finding(None, "not_evaluable", "no_claims_data", (), window, {})
    total = float(sum(_claim_counts(c, window, data)))  # a count: exact in any order
    return Finding(total, _met(total, c), None, window, (), {})


def _claims_by_month(c: Criterion, window: tuple[str, ...], data: _Inputs) -> list[MonthFigure]:
    figures: list[MonthFigure] = []
    running = 0
    for month, count in zip(window, _claim_counts(c, window, data), strict=True):
        running += count
        if not data.claims_data:
            figures.append(MonthFigure(month, None, None, "not_reported", None))
            continue
        value = float(count)
        figures.append(MonthFigure(month, value, float(running), _status(value, c), None))
    return figures


@dataclass(slots=True)
class _Window:
    """One figure's months: those reported, those not, the rows' revisions, the figure."""

    used: tuple[str, ...]
    missing: tuple[str, ...]
    revisions: Mapping[str, int]
    value: float | None


def _window(metric: str, column: str | None, window: Sequence[str], data: _Inputs) -> _Window:
    key = (metric, column, len(window))  # every window ends with the period's last month
    found = data.memo.get(key)
    if found is None:
        # one lean pass: this runs for every figure of every quote
        reported: list[Parts] = []
        used: list[str] = []
        revisions: dict[str, int] = {}
        rows = data.rows
        for month in window:
            row = rows.get(month)
            if row is not None:
                p = parts(metric, column, row.values)
                if p is not None:
                    reported.append(p)
                    used.append(month)
                    revisions[month] = row.revision
        missing = () if len(used) == len(window) else tuple(m for m in window if m not in revisions)
        found = _Window(tuple(used), missing, revisions, figure(metric, reported))
        data.memo[key] = found
    return found


def _months_figure(c: Criterion, window: tuple[str, ...], data: _Inputs) -> Finding:
    w = _window(c.metric, c.column, window, data)
    used, value = w.used, w.value
    reason: Reason | None = "no_exposure" if used and value is None else None
    outcome, reason = _outcome(c, value, len(w.missing), len(used), reason)
    return Finding(value, outcome, reason, used, w.missing, w.revisions)


def _months_by_month(c: Criterion, window: tuple[str, ...], data: _Inputs) -> list[MonthFigure]:
    figures: list[MonthFigure] = []
    so_far: list[Parts] = []
    for month in window:
        row = data.rows.get(month)
        revision = None if row is None else row.revision
        p = None if row is None else parts(c.metric, c.column, row.values)
        if p is None:
            cumulative = figure(c.metric, so_far)
            figures.append(MonthFigure(month, None, cumulative, "not_reported", revision))
            continue
        so_far.append(p)
        value = figure(c.metric, [p])
        status: MonthStatus = "no_exposure" if value is None else _status(value, c)
        figures.append(MonthFigure(month, value, figure(c.metric, so_far), status, revision))
    return figures


def _model_percentile(c: Criterion, window: tuple[str, ...], data: _Inputs) -> Finding:
    """The model's percentile, given by the caller: rule set 2025.1's among all its
    training peers (whatever their class), kept so quotes priced with 2025.1 replay, or
    ``model_class_percentile``, among the training sites of the site's own class."""
    in_class = c.metric == "model_class_percentile"
    pct = data.model_class_percentile if in_class else data.model_percentile
    if pct is None or math.isnan(pct):
        missing: Reason = "no_class_percentile" if in_class else "no_model_percentile"
        return Finding(None, "not_evaluable", missing, (), (), {})
    value = float(pct)
    return Finding(value, _met(value, c), None, (), (), {})


def _ranks(c: Criterion, window: tuple[str, ...], data: _Inputs) -> Ranks:
    ranking = c.ranking
    assert ranking is not None  # the schema requires it
    key = ("rank", ranking, len(window))
    found: Ranks | None = data.memo.get(key)
    if found is None:
        found = data.memo[key] = ranks(ranking, window, data.rows, data.peers)
    return found


def _ranked(c: Criterion, window: tuple[str, ...], data: _Inputs) -> Finding:
    ranked = _ranks(c, window, data)
    outcome, reason = _outcome(
        c, ranked.value, len(ranked.missing), len(ranked.used), ranked.reason
    )
    return Finding(ranked.value, outcome, reason, ranked.used, ranked.missing, ranked.revisions)


def _ranked_by_month(c: Criterion, window: tuple[str, ...], data: _Inputs) -> list[MonthFigure]:
    figures: list[MonthFigure] = []
    for m in _ranks(c, window, data).months:
        if not m.reported:
            figures.append(MonthFigure(m.month, None, m.cumulative, "not_reported", m.revision))
            continue
        status: MonthStatus
        if m.why == "no_exposure":
            status = "no_exposure"
        elif m.why == "too_few_peers":
            status = "too_few_peers"
        else:
            status = _status(m.value, c)
        figures.append(
            MonthFigure(m.month, m.value, m.cumulative, status, m.revision, peers=m.peers)
        )
    return figures


def _no_months(c: Criterion, window: tuple[str, ...], data: _Inputs) -> list[MonthFigure]:
    return []


_Find = Callable[[Criterion, tuple[str, ...], _Inputs], Finding]
_ByMonth = Callable[[Criterion, tuple[str, ...], _Inputs], list[MonthFigure]]


class _Step(NamedTuple):
    """How one criterion is evaluated, worked out once per rule set: its window (the
    period's months from ``start`` on; None: no months, the model's percentile is
    given), its finding and its months' own figures, and which criteria of the rule set
    mean the same (``same``: the first one's place; a tier repeats its neighbour's
    criterion under another name)."""

    criterion: Criterion
    start: int | None
    find: _Find
    by_month: _ByMonth
    same: int

    def window(self, period: tuple[str, ...]) -> tuple[str, ...]:
        return () if self.start is None else period[self.start :]


# Names and labels: what a finding does not depend on.
_LABELS: Final = frozenset({"name", "zh", "en"})


def _meaning(c: Criterion) -> tuple[Any, ...]:
    return tuple(getattr(c, f.name) for f in dataclasses.fields(c) if f.name not in _LABELS)


def _step(c: Criterion, same: int) -> _Step:
    start = -c.window_months if c.window_months is not None else 0  # None: the whole period
    if c.metric == "claims_count":
        return _Step(c, start, _claims, _claims_by_month, same)
    if c.metric in _MODEL:
        return _Step(c, None, _model_percentile, _no_months, same)
    if c.metric == "class_percentile":
        return _Step(c, start, _ranked, _ranked_by_month, same)
    return _Step(c, start, _months_figure, _months_by_month, same)


def _found(step: _Step, period: tuple[str, ...], data: _Inputs) -> Finding:
    """The step's finding, made once for all the criteria that mean the same."""
    found: Finding | None = data.memo.get(step.same)  # (other keys of memo are tuples)
    if found is None:
        found = data.memo[step.same] = step.find(step.criterion, step.window(period), data)
    return found


@dataclass(frozen=True, slots=True)
class _Plan:
    rule_set: RuleSet
    tiers: tuple[tuple[_Step, ...], ...]
    breaches: tuple[_Step, ...]


# A service evaluates the same few rule sets for every quote and agreement: each is
# planned once per version (and again if a different rule set comes with that version).
_PLANS: dict[str, _Plan] = {}


def _plan(rule_set: RuleSet) -> _Plan:
    found = _PLANS.get(rule_set.version)
    if found is None or found.rule_set is not rule_set:
        places: dict[tuple[Any, ...], int] = {}

        def step(c: Criterion) -> _Step:
            return _step(c, places.setdefault(_meaning(c), len(places)))

        found = _Plan(
            rule_set,
            tuple(tuple(step(c) for c in tier.criteria) for tier in rule_set.tiers),
            tuple(step(b.criterion) for b in rule_set.breaches),
        )
        _PLANS[rule_set.version] = found
    return found


def _evaluate(step: _Step, period: tuple[str, ...], data: _Inputs) -> CriterionEvaluation:
    c = step.criterion
    window = step.window(period)
    found = _found(step, period, data)
    return CriterionEvaluation(
        name=c.name,
        zh=c.zh,
        en=c.en,
        metric=c.metric,
        column=c.column if c.ranking is None else c.ranking.column,
        operator=c.operator,
        threshold=c.threshold,
        max_missing_months=c.max_missing_months,
        months=window,
        months_used=found.months_used,
        missing_months=found.missing_months,
        revisions=found.revisions,  # built for this evaluation, shared read-only
        value=found.value,
        outcome=found.outcome,
        reason=found.reason,
        by_month=tuple(step.by_month(c, window, data)) if data.monthly else (),
    )


def _tier_outcome(criteria: Sequence[CriterionEvaluation]) -> Outcome:
    outcomes = {c.outcome for c in criteria}
    if "not_met" in outcomes:
        return "not_met"
    return "not_evaluable" if "not_evaluable" in outcomes else "met"


_BREACH: Final[dict[Outcome, BreachOutcome]] = {
    "met": "kept",
    "not_met": "breached",
    "not_evaluable": "not_evaluable",
}


def _period(months: Sequence[str]) -> tuple[str, ...]:
    period = tuple(months)
    try:
        return _checked_period(period)
    except TypeError:  # a month that cannot be hashed: refused below, without the cache
        return _check_period(period)


def _check_period(period: tuple[str, ...]) -> tuple[str, ...]:
    if not period:
        raise ValueError("the period has no months")
    numbers = [month_number(m) for m in period]
    for a, b, m in zip(numbers, numbers[1:], period[1:], strict=False):
        if b != a + 1:
            raise ValueError(f"the period's months must be consecutive and in order, not {m}")
    return period


# Every quote of a day asks for the same few periods: each is checked once (a bad one
# raises, and an exception is never cached).
_checked_period = functools.lru_cache(maxsize=1024)(_check_period)


def _site_rows(rows: Sequence[MonthRow], period: Sequence[str]) -> dict[str, MonthRow]:
    inside = set(period)
    out: dict[str, MonthRow] = {}
    for row in rows:
        month = row.month
        if not isinstance(month, str) or month not in inside:
            month_number(month)  # a bad month fails here (the period's months are good)
            continue
        if month in out:
            raise ValueError(f"two site_months rows for {month}")
        out[month] = row
    return out


def _class_peers(
    peers: Sequence[PeerRow], site_class: SiteClass | None, period: Sequence[str]
) -> dict[str, list[PeerRow]] | None:
    if site_class is None:
        return None
    inside = set(period)
    out: dict[str, list[PeerRow]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for peer in peers:
        if peer.month not in inside:
            continue
        if (peer.site_id, peer.month) in seen:
            raise ValueError(f"two peer rows for {peer.site_id} in {peer.month}")
        seen.add((peer.site_id, peer.month))
        if peer.project_type == site_class.project_type and peer.stage == site_class.stage:
            out[peer.month].append(peer)
    return out


def _inputs(
    site_class: SiteClass | None,
    months: Sequence[str],
    rows: Sequence[MonthRow],
    peers: Sequence[PeerRow],
    claims: Sequence[SiteClaim],
    *,
    claims_data: bool,
    monthly: bool,
    model_percentile: float | None,
    model_class_percentile: float | None,
) -> tuple[tuple[str, ...], _Inputs]:
    """The period and what its criteria read, every input checked (ValueError)."""
    if site_class is not None and site_class.project_type not in spec.PROJECT_TYPES:
        raise ValueError(f"unknown project type {site_class.project_type!r}")
    if site_class is not None and site_class.stage not in spec.STAGES:
        raise ValueError(f"unknown stage {site_class.stage!r}")
    period = _period(months)
    for claim in claims:
        if claim.severity not in spec.SEVERITIES:
            raise ValueError(f"unknown claim severity {claim.severity!r}")
    data = _Inputs(
        _site_rows(rows, period),
        _class_peers(peers, site_class, period),
        tuple(claims),
        claims_data,
        model_percentile,
        monthly,
        model_class_percentile,
    )
    return period, data


def evaluate_period(
    rule_set: RuleSet,
    site_class: SiteClass | None,
    months: Sequence[str],
    rows: Sequence[MonthRow],
    peers: Sequence[PeerRow],
    claims: Sequence[SiteClaim],
    *,
    claims_data: bool,
    monthly: bool = True,
    model_percentile: float | None = None,
    model_class_percentile: float | None = None,
) -> PeriodEvaluation:
    """Evaluate every tier and breach of ``rule_set`` over ``months`` (consecutive,
    oldest first; for a running agreement, its months so far).

    ``rows``: the site's site_months rows (rows outside ``months`` are ignored);
    ``peers``: other sites' rows, of any class (only the site's class is ranked
    against); ``claims``: the feed's claims on the site; ``claims_data``: whether the
    feed holds claims data for the site at all (False: claims criteria are not
    evaluable). ``site_class`` None: the class is unknown and class percentiles are not
    evaluable. ``monthly`` False leaves ``by_month`` empty (a quote needs only the
    window's figures). ``model_percentile``: the model's percentile, read only by rule
    set 2025.1's criteria (:mod:`models.incentives.legacy`);
    ``model_class_percentile``: the model's percentile within the site's class (None or
    NaN: unknown, and ``model_class_percentile`` criteria are not evaluable), a quote's.
    Raises ValueError for a bad
    month, duplicate rows or an unknown severity."""
    period, data = _inputs(
        site_class,
        months,
        rows,
        peers,
        claims,
        claims_data=claims_data,
        monthly=monthly,
        model_percentile=model_percentile,
        model_class_percentile=model_class_percentile,
    )
    plan = _plan(rule_set)
    tiers = []
    for tier, steps in zip(rule_set.tiers, plan.tiers, strict=True):
        criteria = tuple(_evaluate(step, period, data) for step in steps)
        tiers.append(
            TierEvaluation(
                name=tier.name,
                zh=tier.zh,
                en=tier.en,
                means=tier.means,
                points=tier.points,
                outcome=_tier_outcome(criteria),
                criteria=criteria,
            )
        )
    breaches = []
    for breach, step in zip(rule_set.breaches, plan.breaches, strict=True):
        ev = _evaluate(step, period, data)
        breaches.append(
            BreachEvaluation(breach.name, breach.zh, breach.en, _BREACH[ev.outcome], ev)
        )
    site_rows = data.rows
    return PeriodEvaluation(
        rule_set_version=rule_set.version,
        site_class=site_class,
        months=period,
        claims_data=claims_data,
        tiers=tuple(tiers),
        breaches=tuple(breaches),
        months_used=tuple(m for m in period if m in site_rows),
        missing_months=tuple(m for m in period if m not in site_rows),
        revisions={m: site_rows[m].revision for m in period if m in site_rows},
    )


def find_tiers(
    rule_set: RuleSet,
    site_class: SiteClass | None,
    months: Sequence[str],
    rows: Sequence[MonthRow],
    peers: Sequence[PeerRow],
    claims: Sequence[SiteClaim],
    *,
    claims_data: bool,
    model_percentile: float | None = None,
    model_class_percentile: float | None = None,
) -> tuple[tuple[Finding, ...], ...]:
    """What :func:`evaluate_period` finds for each criterion of each tier, tier by tier,
    and nothing more: no breaches, no months' own figures, no evaluation objects. A
    quote's eligibility, read for every quote; the arguments and their checks are
    :func:`evaluate_period`'s, and each finding is the one its evaluation is built from."""
    period, data = _inputs(
        site_class,
        months,
        rows,
        peers,
        claims,
        claims_data=claims_data,
        monthly=False,
        model_percentile=model_percentile,
        model_class_percentile=model_class_percentile,
    )
    return tuple(
        tuple([_found(step, period, data) for step in steps]) for steps in _plan(rule_set).tiers
    )
