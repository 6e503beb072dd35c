"""Pricing requests: from decoded requests to complete quote answers, for one site or a
portfolio in one vectorised pass.

For the items that pass the API's rules and the contract (:mod:`.intake`, no frames):

1. features for (site, policy start) from the rows before the start, one
   :func:`~models.features.single.series_features` call for all items and their
   what-ifs (a portfolio: the items' first, so that their TreeSHAP starts beside the
   rest, then the what-ifs'), by the arithmetic training uses
   (``models.features.arithmetic``); then one TreeSHAP pass (``pred_contrib``) over
   all items and one prediction per booster over the items and their what-ifs;
2. risk for the term (``ModelBundle.term_risk``, the same computation training prices
   its book with): loss rate × the rate's trend × season × the worker-hours projected
   from the site's plan and scale; the percentile is among the model's training peers;
3. the rating plan (docs/rating-plan.md, :mod:`models.pricing`): the base premium (the
   policy's, or the tariff's), the risk factor r = expected loss / (c × base) with the
   book loss ratio c found at training, the off-balance factor, the data-quality gate
   and the band, explained line by line to the cent;
4. recommendations: every what-if of every item, its features and prediction made
   with the items' (1.), priced through the whole plan;
   the prevention plan (docs/prevention.md): the services of the rate book's
   prevention block the site needs, each one's what-if priced the same way;
5. incentive eligibility, criterion by criterion.

CPU-bound and blocking: call it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar

import numpy as np

from models import features as fdef
from models.bundle import CORES, SMALL_INPUT, ModelBundle, SiteClassKey, TermRisk, feature_class
from models.contract import spec
from models.features.contractor import NONE as NO_RECORD
from models.features.contractor import Record
from models.features.single import SiteSeries, month_number, series_features, site_series
from models.pricing import (
    Band,
    DataQualityCheck,
    IncentiveResult,
    IncentiveRuleSet,
    PlanPrice,
    RatingPlan,
    Tariff,
    expected_term_loss,
    exposure_intensity,
    load_band,
    load_incentives,
    load_plan,
    load_tariff,
    plan_premium,
    prevention,
    price,
    round_cent,
)
from models.pricing.floating import Award, FloatingMove, floating_move, incidents
from models.pricing.incentives import (
    CriterionResult,
    QuoteEvidence,
    quote_incentives,
)
from models.pricing.ratebook import RateBook
from models.pricing.site_history import SiteHistory, data_quality, history_of
from service.errors import FieldError, InvalidInputError, ServiceError
from service.limits import Deadline
from service.model_provider import ModelSnapshot
from service.prevention import quote_plan
from service.quotes import explain, recommend
from service.quotes.intake import (
    Item,
    api_problems,
    claims_known,
    contract_problems,
    own_claims,
    policy_problems,
)
from service.quotes.schemas import (
    BandOut,
    CriterionOut,
    DataQuality,
    Explanation,
    FloatingOut,
    Incentives,
    ModelRef,
    PreventionPlanOut,
    Pricing,
    QuoteResponse,
    RateBookRef,
    Recommendation,
    Risk,
    TierOut,
)
from service.ratebooks.exposure import exposure_problems, premiums
from service.release import service_version

CURRENCY: Final = "CNY"
GROUPS: Final[dict[str, str]] = {f.name: f.group.value for f in fdef.FEATURES}
NUMERIC_COLUMNS: Final = tuple(c.name for c in spec.SITE_MONTHS if c.kind in ("float", "int"))
TARIFF_BY_POLICY: Final = "policy"  # stored as the tariff version when the insurer set the base
# The site's own claims experience in the model: neutralised (TreeSHAP φ = 0, as the
# book's average) when the insurer's rate book prices the accident record through its
# floating schedule, so own experience enters once (docs/rate-books.md).
OWN_CLAIMS_FEATURES: Final = (
    "claims_count_all",
    "serious_claims_count_all",
    "claims_per_10kwh_all",
    "serious_claims_per_10kwh_all",
)
# From this many items on, TreeSHAP runs beside the rest of the pricing (_explaining).
EXPLAIN_BESIDE: Final = SMALL_INPUT
EXPLAIN_CHUNK: Final = 128  # rows of one TreeSHAP call there


@dataclass(frozen=True)
class PricingRules:
    """The rule versions a quote is priced with, and the insurer's rate book they come
    from (None: the shipped rules)."""

    tariff: Tariff
    band: Band
    incentives: IncentiveRuleSet
    plan: RatingPlan
    book: RateBook | None = None

    @staticmethod
    @functools.cache
    def shipped() -> PricingRules:
        """The newest shipped tariff, band, incentive tiers and plan (read once)."""
        return PricingRules(load_tariff(), load_band(), load_incentives(), load_plan())

    @staticmethod
    def of_book(book: RateBook, project_type: str, plan: RatingPlan) -> PricingRules:
        """An insurer's book for a site of ``project_type``: its tariff (the type's own
        bands, if the book has them), band and gate and incentive rule set; the plan's
        other layers are the service's."""
        return PricingRules(
            book.tariff(project_type), book.band, _incentive_set(book.incentives), plan, book
        )


@functools.cache
def _incentive_set(version: str) -> IncentiveRuleSet:
    return load_incentives(version)


# The calling insurer's activated rate book in force on a policy's start date (the first
# day of its start month), if it has one (service.ratebooks.store.RateBookStore.in_force).
BookSource = Callable[[dt.date], RateBook | None]


@dataclass(frozen=True)
class PricedQuote:
    """A complete answer and what the audit record needs besides it."""

    item: Item
    response: QuoteResponse
    snapshot: ModelSnapshot
    tariff_version: str  # TARIFF_BY_POLICY when the policy gave the base premium
    band_version: str
    incentive_version: str
    plan_version: str
    base_premium: Decimal
    final_premium: Decimal
    expected_claims: float


@dataclass(frozen=True)
class FailedQuote:
    item_index: int
    error: ServiceError


Outcome = PricedQuote | FailedQuote


@dataclass(frozen=True, slots=True)
class _Site:
    """One valid item's rows as the features and the pricing rules read them."""

    item: Item
    rules: PricingRules
    series: SiteSeries
    history: SiteHistory
    target: int  # the policy's start month as a month number

    @classmethod
    def of(cls, item: Item, rules: PricingRules) -> _Site:
        req = item.request
        return cls(
            item,
            rules,
            # the site's claims history counts every insurer's claims (docs/contractor-record.md)
            site_series(
                req.site, req.months, [*own_claims(req), *req.other_claims], contractor_record(item)
            ),
            history_of(req.months, own_claims(req), NUMERIC_COLUMNS),
            month_number(req.policy.start_month),
        )


@dataclass(frozen=True, slots=True)
class _Facts:
    """One valid item once scored, before its explanation: everything that does not
    need TreeSHAP, worked out (for a portfolio) while TreeSHAP runs."""

    position: int
    item: Item
    rules: PricingRules
    history: SiteHistory
    values: dict[str, float]
    dq: DataQualityCheck
    risk: Risk
    term_factor: float  # trend × season: what the term does to the start month's rate
    percentile: float
    incentives: IncentiveResult


@dataclass(frozen=True, slots=True)
class _Context:
    """One valid item between its explanation and its answer."""

    facts: _Facts
    adjustment: PlanPrice
    project_premium: Decimal | None
    tariff_version: str | None
    book_loss_ratio: float
    floating: FloatingMove | None = None  # the rate book's schedule, when it is on
    neutralised: float = 0.0  # Σφ of the own-claims features taken out (floating on)

    @property
    def position(self) -> int:
        return self.facts.position


def _invalid(fields: list[FieldError]) -> InvalidInputError:
    first = fields[0]
    return InvalidInputError(
        f"the request is not valid: {first.field}: {first.message}", fields=fields
    )


@dataclass(frozen=True, slots=True)
class _Explained:
    chunks: Sequence[tuple[int, Callable[[], np.ndarray]]]  # (first row, its rows' TreeSHAP)
    threads: int | None  # for other model calls meanwhile (None: as many as suit)

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, contributions) chunk by chunk, each waited for in its turn."""
        for first, result in self.chunks:
            yield first, result()


@contextmanager
def _explaining(bundle: ModelBundle, x: np.ndarray) -> Iterator[_Explained]:
    """TreeSHAP of ``x``. A portfolio's runs in a thread of its own on all cores but one
    (LightGBM lets go of the GIL), chunk after chunk, so that the calling thread can
    meanwhile work out everything that needs no explanation and then explain each chunk
    as soon as it is there; a few rows are explained at once, and ``term_risk`` then
    predicts with the same boosters while their trees are still in the CPU's caches.
    Each row's TreeSHAP is its own, so chunks change no number."""
    if len(x) < EXPLAIN_BESIDE or CORES < 2:
        contributions = bundle.contributions(x)
        yield _Explained([(0, lambda: contributions)], None)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="treeshap")
    try:
        chunks = [
            (
                lo,
                pool.submit(
                    bundle.contributions, x[lo : lo + EXPLAIN_CHUNK], threads=CORES - 1
                ).result,
            )
            for lo in range(0, len(x), EXPLAIN_CHUNK)
        ]
        yield _Explained(chunks, 1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class _WhatIfs:
    found: list[recommend.Candidate]
    relativity: np.ndarray  # log relativity of each candidate's what-if
    combined_positions: list[int]  # sites with two or more candidates
    combined: np.ndarray  # log relativity of each such site with all of them done


@dataclass(frozen=True, slots=True)
class _PreventionWhatIfs:
    """The prevention services each site needs and the model's log relativity of each
    one's what-if, beside the site's own (one prediction)."""

    found: list[quote_plan.Gap]
    relativity: np.ndarray  # log relativity of each gap's what-if, in ``found``'s order
    own: dict[int, float]  # log relativity of each site with a gap, by position


_T = TypeVar("_T")


def _candidate_position(c: recommend.Candidate) -> int:
    return c.position


def _gap_position(g: quote_plan.Gap) -> int:
    return g.candidate.position


def _span(
    ordered: Sequence[_T], position: Callable[[_T], int], contexts: Sequence[_Context]
) -> slice:
    """The entries of ``ordered`` (in position order, as the what-ifs are made) that
    belong to ``contexts``, a run of consecutive positions."""
    lo = contexts[0].position
    hi = lo + len(contexts)
    return slice(bisect_left(ordered, lo, key=position), bisect_left(ordered, hi, key=position))


def _exp(x: float) -> float:
    return math.exp(x) if x < 700.0 else math.inf


def book_loss_ratio(bundle: ModelBundle) -> float:
    """c: the book's expected loss over its base premium, found when the model was
    trained (``bundle.meta.rating``)."""
    return float(bundle.meta.rating["book_loss_ratio"])


def contractor_record(item: Item) -> Record:
    """The contractor's record the request carries (none: its only site)."""
    got = item.request.contractor_record
    if got is None:
        return NO_RECORD
    return Record(
        float(got.other_sites), float(got.worker_hours), float(got.claims),
        float(got.serious_claims),
    )  # fmt: skip


class QuotePricer:
    def __init__(self, rules: PricingRules | None = None) -> None:
        self.rules = rules or PricingRules.shipped()
        self._thresholds = {
            self.rules.incentives.version: recommend.incentive_targets(self.rules.incentives)
        }

    def _targets(self, incentives: IncentiveRuleSet) -> dict[str, list[tuple[float, str]]]:
        found = self._thresholds.get(incentives.version)
        if found is None:
            found = self._thresholds[incentives.version] = recommend.incentive_targets(incentives)
        return found

    def _rules_for(self, items: Sequence[Item], books: BookSource | None) -> list[PricingRules]:
        """Each item's rules: the insurer's book in force on the policy's start date,
        else this pricer's (the shipped default, or a replay's recorded rules)."""
        if books is None:
            return [self.rules] * len(items)
        found: dict[str, RateBook | None] = {}
        out = []
        for item in items:
            start = item.request.policy.start_month
            if start not in found:
                found[start] = books(dt.date(int(start[:4]), int(start[5:7]), 1))
            book = found[start]
            site: Any = item.request.site
            out.append(
                self.rules
                if book is None
                else PricingRules.of_book(book, site.project_type, self.rules.plan)
            )
        return out

    # -- the entry point -----------------------------------------------------------------
    def price(
        self,
        items: Sequence[Item],
        snapshot: ModelSnapshot,
        *,
        now: datetime | None = None,
        deadline: Deadline | None = None,
        books: BookSource | None = None,
    ) -> list[Outcome]:
        """One outcome per item, in order: a priced quote or the item's error. With
        ``books``, each item is priced by the insurer's rate book in force on its
        policy's start date, if there is one (docs/rate-books.md).

        Past ``deadline`` (checked between stages) it raises :class:`TimedOutError`
        for the whole call: nothing is half-priced, nothing is stored."""
        deadline = deadline or Deadline.never()
        outcomes: dict[int, Outcome] = {}
        pending: list[int] = []
        limits = self.rules.plan.quote_limits
        when = now or datetime.now(UTC)
        for i, item in enumerate(items):
            problems = (
                api_problems(item) or policy_problems(item, limits, when) or contract_problems(item)
            )
            if problems:
                outcomes[i] = FailedQuote(item.index, _invalid(problems))
            else:
                pending.append(i)
        if pending:
            deadline.check("reading the request")
            valid = [items[i] for i in pending]
            rules = self._rules_for(valid, books)
            # the book's exposure base may need what the request lacks (docs/rate-books.md)
            kept = []
            for i, item, r in zip(pending, valid, rules, strict=True):
                problems = exposure_problems(item, r.book)
                if problems:
                    outcomes[i] = FailedQuote(item.index, _invalid(problems))
                else:
                    kept.append((i, item, r))
            if kept:
                priced = self._price_valid(
                    [k[1] for k in kept], [k[2] for k in kept], snapshot, when, deadline
                )
                outcomes.update(zip([k[0] for k in kept], priced, strict=True))
        return [outcomes[i] for i in range(len(items))]

    # -- the valid items -------------------------------------------------------------------
    def _price_valid(
        self,
        items: Sequence[Item],
        rules: Sequence[PricingRules],
        snapshot: ModelSnapshot,
        now: datetime,
        deadline: Deadline,
    ) -> list[Outcome]:
        bundle = snapshot.bundle
        sites = [_Site.of(item, r) for item, r in zip(items, rules, strict=True)]
        series, targets = [s.series for s in sites], [s.target for s in sites]
        with ExitStack() as stack:
            # Features of each site at its policy start, each alone with the contractor's
            # record it carries, by the arithmetic training uses (models.features
            # .arithmetic). A portfolio's come first, by themselves, so that its
            # TreeSHAP starts beside everything else (_explaining); a few sites' come in
            # one call with their what-ifs' (a call costs more than a few rows).
            x: np.ndarray | None = None
            if len(sites) >= EXPLAIN_BESIDE:
                x = series_features(series, targets)
                explained = stack.enter_context(_explaining(bundle, x))
            found = self._candidates(sites, bundle)
            extra = recommend.what_if_sites(found, series, targets)
            gaps = self._prevention_gaps(sites)
            # each gap's what-if alone (recommend's combined plans are not needed here)
            closing = recommend.what_if_sites(
                [g.candidate for g in gaps], series, targets, combined=False
            )
            more_series = extra.series + closing.series
            more_targets = extra.targets + closing.targets
            if x is None:
                rows = series_features(series + more_series, targets + more_targets)
                x, more = rows[: len(sites)], rows[len(sites) :]
                explained = stack.enter_context(_explaining(bundle, x))
            else:
                more = series_features(more_series, more_targets)
            policies = [s.item.request.policy for s in sites]
            # the what-ifs' log rates in the same prediction as the sites' own
            risk = bundle.term_risk(
                x,
                [p.start_month for p in policies],
                [float(p.term_months) for p in policies],
                threads=explained.threads,
                what_ifs=more,
            )
            percentile = bundle.percentile(risk.rate)
            # incentive-rules/2 rank the rate only within the site's type and stage (issue 19)
            in_class = bundle.class_percentile(risk.rate, [_site_class(row) for row in x])
            deadline.check("scoring")
            facts = [
                self._facts(k, site, x[k], risk, float(percentile[k]), float(in_class[k]))
                for k, site in enumerate(sites)
            ]
            what_ifs = self._what_ifs(
                found, extra, risk.what_if_log_rate[: len(extra.series)], bundle
            )
            closing_ifs = self._closing_ifs(
                gaps, risk.log_rate, risk.what_if_log_rate[len(extra.series) :], bundle
            )
            del sites, series, extra, closing  # the facts hold what is left to answer with
            # Each chunk answered as soon as it is explained, while the next one is: a
            # portfolio's answers do not wait for its last TreeSHAP, and its working
            # figures (feature values, contributions, adjustments) are let go chunk by
            # chunk, in order.
            facts.reverse()
            answers: list[Outcome] = []
            for _, block in explained.blocks():
                chunk = [self._context(facts.pop(), row, snapshot) for row in block]
                deadline.check("explaining")
                advice = self._recommendations(chunk, what_ifs)
                plans = self._prevention_plans(chunk, closing_ifs)
                deadline.check("recommending")
                answers += [
                    self._answer(
                        ctx, advice.pop(ctx.position, []), snapshot, now,
                        plans.pop(ctx.position, None),
                    )
                    for ctx in chunk
                ]  # fmt: skip
        return answers

    def _facts(
        self,
        position: int,
        site: _Site,
        features: np.ndarray,
        risk: TermRisk,
        percentile: float,
        class_percentile: float,
    ) -> _Facts:
        band = site.rules.band
        history = site.history
        policy = site.item.request.policy
        values = dict(zip(fdef.FEATURE_NAMES, features.tolist(), strict=True))
        dq = data_quality(band, history, policy.start_month)
        rate = float(risk.rate[position])
        season, trend = float(risk.season[position]), float(risk.trend[position])
        hours = float(risk.hours[position])
        answer = Risk(
            expected_loss_cny=float(expected_term_loss(rate * trend * season, hours)),
            expected_claims=float(risk.expected_claims[position]),
            percentile=percentile,
            loss_rate_per_10k_worker_hours=rate * 1e4,
            projected_worker_hours=hours,
            season_factor=season,
            trend_factor=trend,
        )
        return _Facts(
            position=position,
            item=site.item,
            rules=site.rules,
            history=history,
            values=values,
            dq=dq,
            risk=answer,
            term_factor=trend * season,
            percentile=percentile,
            # the evaluation agreements are settled with (docs/contract-incentives.md)
            incentives=_eligibility(site, percentile, class_percentile),
        )

    def _context(self, facts: _Facts, contrib: np.ndarray, snapshot: ModelSnapshot) -> _Context:
        band, tariff = facts.rules.band, facts.rules.tariff
        bundle = snapshot.bundle
        req = facts.item.request
        policy = req.policy
        phi = dict(
            zip(fdef.FEATURE_NAMES, contrib[: len(fdef.FEATURE_NAMES)].tolist(), strict=True)
        )
        project: Decimal | None = None
        tariff_version: str | None = None
        if policy.base_premium_cny is not None:
            base = round_cent(Decimal(repr(float(policy.base_premium_cny))))
        else:
            duration = facts.values["planned_duration_months"]
            duration = max(duration if math.isfinite(duration) else 0.0, float(tariff.min_months))
            # on the book's exposure base: contract value, floor area or headcount
            base, project = premiums(facts.item, facts.rules.book, tariff, duration)
            tariff_version = tariff.version
        floating, neutralised = _floating(facts), 0.0
        if floating is not None:
            neutralised = math.fsum(phi[name] for name in OWN_CLAIMS_FEATURES)
            phi.update(dict.fromkeys(OWN_CLAIMS_FEATURES, 0.0))
        c = book_loss_ratio(bundle)
        intensity = exposure_intensity(
            math.exp(bundle.base_value),
            facts.risk.projected_worker_hours,
            facts.term_factor,
            c,
            base,
        )
        adjustment = price(
            base, phi, GROUPS, intensity, self._off_balance(bundle, facts.rules.book), band,
            facts.dq.passed,
            None if floating is None else floating.factor,
        )  # fmt: skip
        return _Context(facts, adjustment, project, tariff_version, c, floating, neutralised)

    def _off_balance_source(self, book: RateBook | None) -> Literal["model", "rate_book", "plan"]:
        if self.rules.plan.off_balance.method == "fixed":
            return "plan"
        if book is not None and book.off_balance is not None and book.off_balance.factor:
            return "rate_book"
        return "model"

    def _off_balance(self, bundle: ModelBundle, book: RateBook | None = None) -> float:
        """The model's factor, found at training, or the rate book's own, found when it
        was activated (docs/rate-books.md); a plan with a fixed factor keeps it."""
        found = float(bundle.meta.rating["off_balance_factor"])
        if book is not None and book.off_balance is not None and book.off_balance.factor:
            found = book.off_balance.factor
        return self.rules.plan.off_balance_factor(found)

    # -- recommendations -----------------------------------------------------------------
    def _candidates(self, sites: Sequence[_Site], bundle: ModelBundle) -> list[recommend.Candidate]:
        """Every item's candidates: the metrics where it lags, from its rows alone."""
        medians = bundle.meta.peer_medians
        found: list[recommend.Candidate] = []
        for k, site in enumerate(sites):
            start = site.item.request.policy.start_month
            targets = self._targets(site.rules.incentives)
            found += recommend.candidates(k, site.history, start, targets, medians)
        return found

    def _what_ifs(
        self,
        found: list[recommend.Candidate],
        extra: recommend.WhatIfSites,
        log_rate: np.ndarray,
        bundle: ModelBundle,
    ) -> _WhatIfs:
        """The model's log relativity of each candidate's what-if and of each site's
        combined plan (their log rates ``log_rate`` in ``extra``'s order)."""
        if not found:
            return _WhatIfs(found, np.zeros(0), [], np.zeros(0))
        log_rel = log_rate - bundle.base_value
        return _WhatIfs(
            found, log_rel[: len(found)], extra.combined_positions, log_rel[len(found) :]
        )

    def _recommendations(
        self, contexts: Sequence[_Context], what_ifs: _WhatIfs
    ) -> dict[int, list[Recommendation]]:
        """Per item of ``contexts`` (consecutive positions): the reporting that would
        unlock a withheld discount first, then each what-if by its saving, then the
        combined plan; each priced through the whole plan as the quote was (base,
        exposure intensity, off-balance factor, gate, band)."""

        priced = _what_if_premium
        lo = contexts[0].position
        out: dict[int, list[tuple[Decimal, Recommendation]]] = {}
        by_site: dict[int, list[recommend.Candidate]] = {}
        k = _span(what_ifs.found, _candidate_position, contexts)
        for c, r in zip(what_ifs.found[k], what_ifs.relativity[k].tolist(), strict=True):
            estimate, saving = priced(contexts[c.position - lo], r)
            out.setdefault(c.position, []).append(
                (saving, recommend.recommendation(c, estimate, saving))
            )
            by_site.setdefault(c.position, []).append(c)
        answer = {
            pos: [rec for _, rec in sorted(pairs, key=lambda p: -p[0])]
            for pos, pairs in out.items()
        }
        k = _span(what_ifs.combined_positions, int, contexts)
        for pos, r in zip(
            what_ifs.combined_positions[k], what_ifs.combined[k].tolist(), strict=True
        ):
            estimate, saving = priced(contexts[pos - lo], r)
            answer[pos].append(recommend.combined_recommendation(by_site[pos], estimate, saving))
        for ctx in contexts:
            a = ctx.adjustment
            if not a.discount_withheld:
                continue
            unlocked = plan_premium(
                a.base, a.risk_factor, a.move.off_balance, a.band, True, a.move.floating
            )
            dq = ctx.facts.dq
            answer.setdefault(ctx.position, []).insert(
                0,
                recommend.gate_recommendation(
                    dq.reasons, ctx.facts.rules.band.data_quality, dq.device_online_rate,
                    dq.data_completeness, dq.months, unlocked, a.final - unlocked,
                ),
            )  # fmt: skip
        return answer

    # -- the prevention plan (docs/prevention.md) -------------------------------------------
    @staticmethod
    def _prevention_gaps(sites: Sequence[_Site]) -> list[quote_plan.Gap]:
        """Every site's gaps to its rate book's prevention targets (none without a book)."""
        out: list[quote_plan.Gap] = []
        for k, site in enumerate(sites):
            book = site.rules.book
            if book is not None and book.prevention:
                start = site.item.request.policy.start_month
                out += quote_plan.gaps(k, site.history, start, book.prevention)
        return out

    @staticmethod
    def _closing_ifs(
        gaps: list[quote_plan.Gap],
        log_rate: np.ndarray,
        gap_log_rate: np.ndarray,
        bundle: ModelBundle,
    ) -> _PreventionWhatIfs:
        """The model's log relativity of each gap closed (``gap_log_rate``) and of its
        site as it is (``log_rate``, the sites', predicted in the same call), so that a
        what-if changing nothing removes exactly nothing."""
        if not gaps:
            return _PreventionWhatIfs(gaps, np.zeros(0), {})
        positions = sorted({g.candidate.position for g in gaps})
        own = log_rate[positions] - bundle.base_value
        return _PreventionWhatIfs(
            gaps, gap_log_rate - bundle.base_value, dict(zip(positions, own.tolist(), strict=True))
        )

    @staticmethod
    def _prevention_plans(
        contexts: Sequence[_Context], closing: _PreventionWhatIfs
    ) -> dict[int, PreventionPlanOut]:
        """Per item of ``contexts`` (consecutive positions) priced by a rate book: its
        budget and the services it buys, each gap's what-if priced through the whole
        plan as the recommendations are."""
        by_site: dict[int, list[prevention.Priced]] = {}
        k = _span(closing.found, _gap_position, contexts)
        for gap, log_rel in zip(closing.found[k], closing.relativity[k].tolist(), strict=True):
            pos = gap.candidate.position
            ctx = contexts[pos - contexts[0].position]
            _, saving = _what_if_premium(ctx, log_rel)
            removed = -math.expm1(log_rel - closing.own[pos])
            by_site.setdefault(pos, []).append(
                prevention.Priced(gap.reach, ctx.facts.risk.expected_loss_cny * removed, saving)
            )
        out: dict[int, PreventionPlanOut] = {}
        for ctx in contexts:
            book = ctx.facts.rules.book
            if book is None:
                continue
            budget = prevention.budget(ctx.adjustment.final, book.prevention_share)
            plan = prevention.plan(budget, by_site.get(ctx.position, []))
            out[ctx.position] = quote_plan.plan_out(book, plan, ctx.facts.risk.expected_loss_cny)
        return out

    # -- the answer -------------------------------------------------------------------------
    def _answer(
        self,
        ctx: _Context,
        advice: list[Recommendation],
        snapshot: ModelSnapshot,
        now: datetime,
        plan: PreventionPlanOut | None = None,
    ) -> PricedQuote:
        rules = ctx.facts.rules
        req = ctx.facts.item.request
        site: Any = req.site
        a = ctx.adjustment
        bundle = snapshot.bundle
        incentives = ctx.facts.incentives
        pricing = Pricing(
            base_premium_cny=explain.money(a.base),
            base_premium_source="policy" if ctx.tariff_version is None else "tariff",
            project_premium_cny=(
                explain.money(ctx.project_premium) if ctx.project_premium is not None else None
            ),
            relativity=a.relativity,
            adjustment_pct=a.adjustment_pct + 0.0,  # no '-0.0' in answers
            final_premium_cny=explain.money(a.final),
            band=BandOut(min_pct=a.band.min_pct, max_pct=a.band.max_pct, version=a.band.version),
            tariff_version=ctx.tariff_version,
            discount_withheld_cny=explain.money(a.withheld_discount),
            clipped="low" if a.clipped_low else "high" if a.clipped_high else None,
            plan_version=rules.plan.version,
            risk_factor=a.risk_factor,
            book_loss_ratio=ctx.book_loss_ratio,
            exposure_intensity=a.intensity,
            off_balance_factor=a.move.off_balance,
            off_balance_source=self._off_balance_source(rules.book),
            layers=explain.layers(
                a, model_version=snapshot.version, plan_version=rules.plan.version
            ),
            rate_book=_book_ref(rules.book),
            floating=_floating_out(ctx.floating),
            prevention_budget_cny=(
                None
                if rules.book is None
                else explain.money(prevention.budget(a.final, rules.book.prevention_share))
            ),
        )
        found = explain.factors(a, ctx.facts.values, bundle.meta.peer_medians)
        explanation = Explanation(
            base_value=bundle.base_value,
            baseline_rate_per_10k_worker_hours=math.exp(bundle.base_value) * 1e4,
            log_relativity=a.log_relativity,
            factors=found,
            groups=explain.groups(a),
            metrics=explain.metrics(a, found),
        )
        band = rules.band
        dq = DataQuality(
            passed=ctx.facts.dq.passed,
            discount_allowed=ctx.facts.dq.passed,
            band_version=ctx.facts.dq.band_version,
            window_months=ctx.facts.dq.window_months,
            months=ctx.facts.dq.months,
            device_online_rate=explain.finite(ctx.facts.dq.device_online_rate),
            data_completeness=explain.finite(ctx.facts.dq.data_completeness),
            min_device_online_rate=band.data_quality.min_device_online_rate,
            min_data_completeness=band.data_quality.min_data_completeness,
            reasons=list(ctx.facts.dq.reasons),
            discount_possible_from=_discount_possible_from(ctx.facts, band),
        )
        response = QuoteResponse(
            quote_id=str(uuid.uuid4()),
            created_at=now,
            site_id=site.site_id,
            start_month=req.policy.start_month,
            term_months=req.policy.term_months,
            currency=CURRENCY,
            model=ModelRef(
                name=snapshot.name,
                version=snapshot.version,
                uri=snapshot.uri,
                source=snapshot.source,
            ),
            risk=ctx.facts.risk,
            pricing=pricing,
            explanation=explanation,
            recommendations=advice,
            incentives=_incentives(incentives),
            data_quality=dq,
            warnings=self._warnings(ctx, snapshot),
            prevention=plan,
            service_version=service_version(),
        )
        return PricedQuote(
            item=ctx.facts.item,
            response=response,
            snapshot=snapshot,
            tariff_version=ctx.tariff_version or TARIFF_BY_POLICY,
            band_version=a.band.version,
            incentive_version=incentives.version,
            plan_version=rules.plan.version,
            base_premium=a.base,
            final_premium=a.final,
            expected_claims=ctx.facts.risk.expected_claims,
        )

    def _warnings(self, ctx: _Context, snapshot: ModelSnapshot) -> list[str]:
        a = ctx.adjustment
        out = []
        if not ctx.facts.dq.passed:
            reasons = ", ".join(ctx.facts.dq.reasons)
            if a.discount_withheld:
                out.append(
                    f"no discount: the smart-site data quality is below the band's thresholds "
                    f"({reasons}); a discount of CNY {a.withheld_discount:,.2f} was withheld"
                )
            else:
                out.append(
                    f"the smart-site data quality is below the band's thresholds ({reasons}): "
                    "this site cannot earn a discount until it improves"
                )
        if a.clipped_high or a.clipped_low:
            edge = a.band.max_pct if a.clipped_high else a.band.min_pct
            out.append(f"the model's adjustment was capped at the band's {edge:+g}%")
        if ctx.tariff_version is None:
            out.append("the base premium is the insurer's own (policy.base_premium_cny)")
        elif ctx.facts.rules.tariff.label.upper().startswith("DEFAULT"):
            out.append(
                f"the base premium uses the shipped default tariff {ctx.tariff_version}; "
                "replace it with the insurer's filed tariff"
            )
        if snapshot.source == "cache":
            out.append(f"priced with the locally cached model {snapshot.label}: {snapshot.note}")
        if ctx.facts.item.request.contractor_record is None:
            out.append(
                "the contractor's record on its other sites was not sent (contractor_record): "
                "priced as the contractor's only site, so the model prices a contractor with "
                "no track record here; send the record, or quote by reference, to use it"
            )
        months = len(ctx.facts.history.month)
        if months == 0:
            site: Any = ctx.facts.item.request.site
            out.append(
                "priced before works start: from the site, its plan and the model's book "
                "alone; no discount without smart-site data (data counts from "
                f"{site.start_date:%Y-%m}, a discount is possible from "
                f"{_discount_possible_from(ctx.facts, ctx.facts.rules.band)})"
            )
        return out


def _what_if_premium(ctx: _Context, log_rel: float) -> tuple[Decimal, Decimal]:
    """A what-if's premium through the quote's whole plan (base, exposure intensity,
    off-balance factor, floating line, gate, band) and what it saves."""
    a = ctx.adjustment
    # with the floating schedule on, the what-if's own-claims effect is taken out
    # as the quote's was (the claims do not change in a what-if)
    estimate = plan_premium(
        a.base, _exp(log_rel - ctx.neutralised) * a.intensity, a.move.off_balance,
        a.band, ctx.facts.dq.passed, a.move.floating,
    )  # fmt: skip
    return estimate, max(a.final - estimate, Decimal("0.00"))


def _floating(facts: _Facts) -> FloatingMove | None:
    """The rate book's floating schedule for this policy, if the book turns it on: the
    site's incidents (its claims and other insurers', by site and incident date) and
    its safety awards over the schedule's lookback before the start."""
    book = facts.rules.book
    if book is None or not book.floating.enabled:
        return None
    req = facts.item.request
    site: Any = req.site
    rows: Any = [*own_claims(req), *req.other_claims]
    start = req.policy.start_month
    return floating_move(
        book.floating,
        dt.date(int(start[:4]), int(start[5:7]), 1),
        incidents((site.site_id, c.incident_date, c.severity) for c in rows),
        [Award(a.level, a.awarded_on) for a in req.policy.safety_awards],
    )


def _floating_out(move: FloatingMove | None) -> FloatingOut | None:
    if move is None:
        return None
    return FloatingOut(
        pct=move.pct,
        factor=move.factor,
        accident_pct=move.accident_pct,
        award_pct=move.award_pct,
        incidents=len(move.incidents),
        worst_grade=move.worst_grade,
        award=move.award,
        neutralised_features=list(OWN_CLAIMS_FEATURES),
    )


def _book_ref(book: RateBook | None) -> RateBookRef | None:
    if book is None:
        return None
    return RateBookRef(
        insurer_id=book.insurer_id,
        version=book.version,
        effective_from=book.effective_from,
        effective_to=book.effective_to,
    )


def _discount_possible_from(facts: _Facts, band: Band) -> str | None:
    """The first policy start whose data-quality window can hold the months the gate
    needs, if every month from now on is reported: None when the months are there."""
    rule = band.data_quality
    missing = rule.min_months - facts.dq.months
    if missing <= 0:
        return None
    site: Any = facts.item.request.site
    start = month_number(facts.item.request.policy.start_month)
    works = site.start_date.year * 12 + site.start_date.month - 1
    first = max(start, works) + missing if facts.dq.months == 0 else start + missing
    return f"{first // 12:04d}-{first % 12 + 1:02d}"


_CLASS_COLUMNS: Final = (
    fdef.FEATURE_NAMES.index("project_type"),
    fdef.FEATURE_NAMES.index("stage_last"),
)


def _site_class(row: np.ndarray) -> SiteClassKey | None:
    """The class a feature row is ranked in: its project type and latest month's stage."""
    return feature_class(float(row[_CLASS_COLUMNS[0]]), float(row[_CLASS_COLUMNS[1]]))


def _eligibility(site: _Site, percentile: float, class_percentile: float) -> IncentiveResult:
    """The quote's incentive section, by the evaluation agreements are settled with
    (docs/contract-incentives.md). Rule set 2025.1 counts the insurer's own claims as
    it always did; an incentive-rules/2 rule set counts every insurer's and knows them
    only when the request sent ``claims`` (a quote by reference always does)."""
    req = site.item.request
    rules = site.rules.incentives
    claims = own_claims(req) if rules.rules is None else [*own_claims(req), *req.other_claims]
    return quote_incentives(
        rules,
        req.months,
        claims,
        req.policy.start_month,
        percentile,
        QuoteEvidence(claims_known(req), class_percentile),
    )


def _incentives(result: IncentiveResult) -> Incentives:
    return Incentives(
        rule_set_version=result.version,
        label=result.label,
        tiers=[
            TierOut(
                tier=t.name,
                description=t.description,
                eligible=t.eligible,
                criteria=[
                    CriterionOut(
                        name=c.name,
                        metric=c.metric,
                        column=c.column,
                        window_months=c.window_months,
                        operator=c.operator,
                        threshold=c.threshold,
                        actual=explain.finite(c.actual),
                        months_reported=c.months_reported,
                        met=c.met,
                        gap=explain.finite(c.gap),
                        **_outcome(result, c),
                    )
                    for c in t.criteria
                ],
            )
            for t in result.tiers
        ],
    )


def _outcome(result: IncentiveResult, c: CriterionResult) -> dict[str, Any]:
    """An incentive-rules/2 criterion's outcome, and why when it is not evaluable (its
    code: service.quotes.texts words it); nothing for rule set 2025.1, whose answers
    replay as they were stored."""
    if not result.states_outcomes:
        return {}
    if c.outcome != "not_evaluable":
        return {"outcome": c.outcome}
    return {"outcome": c.outcome, "reason_code": c.reason or "unknown"}
