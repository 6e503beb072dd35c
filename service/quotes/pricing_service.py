"""Pricing requests: from decoded requests to complete quote answers, for one site or a
portfolio in one vectorised pass.

For the items that pass the API's rules and the contract (:mod:`.intake`, no frames):

1. features for (site, policy start) from the rows before the start: for a few items
   site by site in plain Python (:mod:`models.features.single`), for a portfolio one
   ``build_features`` call for the whole batch (the two agree to the bit); then one
   prediction and one TreeSHAP pass (``pred_contrib``) over all items;
2. risk: loss rate per worker-hour × projected worker-hours for the term. The
   projection is the mean worker-hours of the site's latest three months of data ×
   the term in months, capped by the months left to the planned completion and never
   below one month; the percentile is among the model's training peers;
3. credibility Z = E / (E + k) with E the worker-hours of the months whose data
   completeness reaches the band's threshold (well-reported exposure) and k from
   training (``bundle.meta.credibility_k``);
4. the data-quality gate, the base premium (the policy's, or the tariff's), the
   bounded adjustment and its exact explanation (:mod:`models.pricing`);
5. recommendations: every what-if of every item (only the features its column feeds
   computed again) priced in one more prediction;
6. incentive eligibility, criterion by criterion.

CPU-bound and blocking: call it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

from models import features as fdef
from models.bundle import CORES, SMALL_INPUT, ModelBundle
from models.contract import spec
from models.features.single import SiteSeries, month_number, site_features, site_series
from models.pricing import (
    Adjustment,
    Band,
    DataQualityCheck,
    IncentiveResult,
    IncentiveRuleSet,
    Tariff,
    adjust,
    adjusted_premium,
    credibility,
    expected_term_loss,
    load_band,
    load_incentives,
    load_tariff,
    quote,
    round_cent,
)
from models.pricing.site_history import SiteHistory, data_quality, history_of
from models.pricing.site_history import incentives as site_incentives
from service.errors import FieldError, InvalidInputError, ServiceError
from service.limits import Deadline
from service.model_provider import ModelSnapshot
from service.quotes import explain, recommend
from service.quotes.intake import (
    Item,
    api_problems,
    contract_problems,
    frames_of,
    internal_site,
)
from service.quotes.schemas import (
    BandOut,
    CriterionOut,
    DataQuality,
    Explanation,
    Incentives,
    ModelRef,
    Pricing,
    QuoteResponse,
    Recommendation,
    Risk,
    Text,
    TierOut,
)
from service.release import service_version

CURRENCY: Final = "CNY"
PROJECTION_MONTHS: Final = 3  # months of worker-hours the exposure projection averages
GROUPS: Final[dict[str, str]] = {f.name: f.group.value for f in fdef.FEATURES}
NUMERIC_COLUMNS: Final = tuple(c.name for c in spec.SITE_MONTHS if c.kind in ("float", "int"))
TARIFF_BY_POLICY: Final = "policy"  # stored as the tariff version when the insurer set the base
# Up to this many items, features are computed site by site (no pandas); a portfolio
# goes through the vectorised builder, whose fixed cost is then spread over many sites.
SITE_BY_SITE: Final = 16
# From this many items on, TreeSHAP runs beside the rest of the pricing (_explaining).
EXPLAIN_BESIDE: Final = SMALL_INPUT
EXPLAIN_CHUNK: Final = 128  # rows of one TreeSHAP call there


@dataclass(frozen=True)
class PricingRules:
    """The rule versions a quote is priced with."""

    tariff: Tariff
    band: Band
    incentives: IncentiveRuleSet

    @staticmethod
    @functools.cache
    def shipped() -> PricingRules:
        """The newest shipped tariff, band and incentive tiers (read once)."""
        return PricingRules(load_tariff(), load_band(), load_incentives())


@dataclass(frozen=True)
class PricedQuote:
    """A complete answer and what the audit record needs besides it."""

    item: Item
    response: QuoteResponse
    snapshot: ModelSnapshot
    tariff_version: str  # TARIFF_BY_POLICY when the policy gave the base premium
    band_version: str
    incentive_version: str
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
    series: SiteSeries
    history: SiteHistory
    target: int  # the policy's start month as a month number

    @classmethod
    def of(cls, item: Item) -> _Site:
        req = item.request
        return cls(
            item,
            site_series(req.site, req.months, req.claims),
            history_of(req.months, req.claims, NUMERIC_COLUMNS),
            month_number(req.policy.start_month),
        )


@dataclass(frozen=True, slots=True)
class _Facts:
    """One valid item once scored, before its explanation: everything that does not
    need TreeSHAP, worked out (for a portfolio) while TreeSHAP runs."""

    position: int
    item: Item
    history: SiteHistory
    values: dict[str, float]
    dq: DataQualityCheck
    well_reported_hours: float
    credibility: float
    risk: Risk
    percentile: float
    incentives: IncentiveResult


@dataclass(frozen=True, slots=True)
class _Context:
    """One valid item between its explanation and its answer."""

    facts: _Facts
    adjustment: Adjustment
    project_premium: Decimal | None
    tariff_version: str | None

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
    as soon as it is there; a few rows are explained on the spot. Each row's TreeSHAP is
    its own, so chunks change no number."""
    if len(x) < EXPLAIN_BESIDE or CORES < 2:
        yield _Explained([(0, lambda: bundle.contributions(x))], None)
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


def _features(sites: Sequence[_Site]) -> np.ndarray:
    """Feature rows (float64, FEATURE_NAMES order) of the sites at their policy start."""
    if len(sites) <= SITE_BY_SITE:
        return np.vstack([site_features(s.series, s.target) for s in sites])
    items = [s.item for s in sites]
    sites_frame, months, claims = frames_of(items)
    targets = pd.DataFrame(
        {
            "site_id": [internal_site(k) for k in range(len(items))],
            "month": [item.request.policy.start_month for item in items],
        }
    )
    return fdef.to_matrix(fdef.build_features(sites_frame, months, claims, targets=targets))


class QuotePricer:
    def __init__(self, rules: PricingRules | None = None) -> None:
        self.rules = rules or PricingRules.shipped()
        self._thresholds = recommend.incentive_targets(self.rules.incentives)

    # -- the entry point -----------------------------------------------------------------
    def price(
        self,
        items: Sequence[Item],
        snapshot: ModelSnapshot,
        *,
        now: datetime | None = None,
        deadline: Deadline | None = None,
    ) -> list[Outcome]:
        """One outcome per item, in order: a priced quote or the item's error.

        Past ``deadline`` (checked between stages) it raises :class:`TimedOutError`
        for the whole call: nothing is half-priced, nothing is stored."""
        deadline = deadline or Deadline.never()
        outcomes: dict[int, Outcome] = {}
        pending: list[int] = []
        for i, item in enumerate(items):
            problems = api_problems(item) or contract_problems(item)
            if problems:
                outcomes[i] = FailedQuote(item.index, _invalid(problems))
            else:
                pending.append(i)
        if pending:
            deadline.check("reading the request")
            priced = self._price_valid(
                [items[i] for i in pending], snapshot, now or datetime.now(UTC), deadline
            )
            outcomes.update(zip(pending, priced, strict=True))
        return [outcomes[i] for i in range(len(items))]

    # -- the valid items -------------------------------------------------------------------
    def _price_valid(
        self,
        items: Sequence[Item],
        snapshot: ModelSnapshot,
        now: datetime,
        deadline: Deadline,
    ) -> list[Outcome]:
        bundle = snapshot.bundle
        sites = [_Site.of(item) for item in items]
        x = _features(sites)
        log_rate, claim_rate = bundle.rates(x)
        percentile = bundle.percentile(np.exp(log_rate))
        deadline.check("scoring")
        with _explaining(bundle, x) as explained:
            facts = [
                self._facts(
                    k, site, x[k], float(log_rate[k]), float(claim_rate[k]),
                    float(percentile[k]), snapshot,
                )
                for k, site in enumerate(sites)
            ]  # fmt: skip
            found, relativity = self._what_ifs(facts, sites, x, bundle, explained.threads)
            contexts: list[_Context] = []
            for first, block in explained.blocks():
                contexts += [
                    self._context(facts[first + i], row, snapshot) for i, row in enumerate(block)
                ]
        deadline.check("explaining")
        del facts, sites  # the contexts hold what is left to answer with
        advice = self._recommendations(contexts, found, relativity)
        deadline.check("recommending")
        # In order, each context let go once answered: a portfolio's working figures
        # (feature values, contributions, adjustments) need not outlive their answer.
        contexts.reverse()
        answers: list[Outcome] = []
        while contexts:
            ctx = contexts.pop()
            answers.append(self._answer(ctx, advice.pop(ctx.position, []), snapshot, now))
        return answers

    def _facts(
        self,
        position: int,
        site: _Site,
        features: np.ndarray,
        log_rate: float,
        claim_rate: float,
        percentile: float,
        snapshot: ModelSnapshot,
    ) -> _Facts:
        band = self.rules.band
        history = site.history
        policy = site.item.request.policy
        values = dict(zip(fdef.FEATURE_NAMES, features.tolist(), strict=True))
        dq = data_quality(band, history, policy.start_month)
        order = np.argsort(history.month, kind="stable")
        hours = history.column("worker_hours")[order]
        completeness = history.column("data_completeness")[order]
        well_reported = float(hours[completeness >= band.data_quality.min_data_completeness].sum())

        latest = hours[-PROJECTION_MONTHS:]
        left = values["months_to_planned_end"]
        term = float(policy.term_months)
        cover = max(1.0, min(term, left)) if math.isfinite(left) else term
        projected = float(latest.mean()) * cover
        rate = math.exp(log_rate)
        season = snapshot.bundle.term_season_factor(policy.start_month, cover)
        risk = Risk(
            expected_loss_cny=float(expected_term_loss(rate * season, projected)),
            expected_claims=claim_rate * season * projected,
            percentile=percentile,
            loss_rate_per_10k_worker_hours=rate * 1e4,
            projected_worker_hours=projected,
            season_factor=season,
        )
        return _Facts(
            position=position,
            item=site.item,
            history=history,
            values=values,
            dq=dq,
            well_reported_hours=well_reported,
            credibility=credibility(well_reported, snapshot.bundle.meta.credibility_k),
            risk=risk,
            percentile=percentile,
            incentives=site_incentives(
                self.rules.incentives, history, policy.start_month, percentile
            ),
        )

    def _context(self, facts: _Facts, contrib: np.ndarray, snapshot: ModelSnapshot) -> _Context:
        band, tariff = self.rules.band, self.rules.tariff
        req = facts.item.request
        site: Any = req.site
        policy = req.policy
        phi = dict(
            zip(fdef.FEATURE_NAMES, contrib[: len(fdef.FEATURE_NAMES)].tolist(), strict=True)
        )
        z = facts.credibility
        if policy.base_premium_cny is not None:
            base = round_cent(Decimal(repr(float(policy.base_premium_cny))))
            adjustment = adjust(base, phi, GROUPS, z, band, facts.dq.passed)
            return _Context(facts, adjustment, None, None)
        duration = facts.values["planned_duration_months"]
        duration = max(duration if math.isfinite(duration) else 0.0, float(tariff.min_months))
        priced = quote(
            contract_value_cny=float(site.contract_value_cny),
            term_months=policy.term_months,
            planned_duration_months=duration,
            contributions=phi,
            groups=GROUPS,
            observed_worker_hours=facts.well_reported_hours,
            credibility_k=snapshot.bundle.meta.credibility_k,
            tariff=tariff,
            band=band,
            discount_allowed=facts.dq.passed,
        )
        return _Context(facts, priced.adjustment, priced.project_premium, priced.tariff_version)

    # -- recommendations -----------------------------------------------------------------
    def _what_ifs(
        self,
        facts: Sequence[_Facts],
        sites: Sequence[_Site],
        x: np.ndarray,
        bundle: ModelBundle,
        threads: int | None,
    ) -> tuple[list[recommend.Candidate], np.ndarray]:
        """Every item's candidates and the model's log relativity once each is done."""
        medians = bundle.meta.peer_medians
        found: list[recommend.Candidate] = []
        for f in facts:
            start = f.item.request.policy.start_month
            found += recommend.candidates(f.position, f.history, start, self._thresholds, medians)
        if not found:
            return found, np.zeros(0)
        rows = recommend.variant_rows(
            found, [s.series for s in sites], [s.target for s in sites], x
        )
        return found, bundle.log_rate(rows, threads=threads) - bundle.base_value

    def _recommendations(
        self,
        contexts: Sequence[_Context],
        found: Sequence[recommend.Candidate],
        relativity: np.ndarray,
    ) -> dict[int, list[Recommendation]]:
        out: dict[int, list[tuple[Decimal, Recommendation]]] = {}
        for c, r in zip(found, relativity.tolist(), strict=True):
            ctx = contexts[c.position]
            a = ctx.adjustment
            # Priced as the quote was: same base, credibility, band and data-quality gate.
            estimate = adjusted_premium(a.base, r, a.credibility, a.band, ctx.facts.dq.passed)
            saving = max(a.final - estimate, Decimal("0.00"))
            out.setdefault(c.position, []).append(
                (saving, recommend.recommendation(c, estimate, saving))
            )
        return {
            pos: [rec for _, rec in sorted(pairs, key=lambda p: -p[0])]
            for pos, pairs in out.items()
        }

    # -- the answer -------------------------------------------------------------------------
    def _answer(
        self,
        ctx: _Context,
        advice: list[Recommendation],
        snapshot: ModelSnapshot,
        now: datetime,
    ) -> PricedQuote:
        rules = self.rules
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
            credibility=a.credibility,
            adjustment_pct=a.adjustment_pct + 0.0,  # no '-0.0' in answers
            final_premium_cny=explain.money(a.final),
            band=BandOut(min_pct=a.band.min_pct, max_pct=a.band.max_pct, version=a.band.version),
            tariff_version=ctx.tariff_version,
            discount_withheld_cny=explain.money(a.withheld_discount),
            clipped="low" if a.clipped_low else "high" if a.clipped_high else None,
        )
        explanation = Explanation(
            base_value=bundle.base_value,
            baseline_rate_per_10k_worker_hours=math.exp(bundle.base_value) * 1e4,
            log_relativity=a.log_relativity,
            factors=explain.factors(a, ctx.facts.values, bundle.meta.peer_medians),
            groups=explain.groups(a),
            note=explain.NOTE,
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
            well_reported_worker_hours=ctx.facts.well_reported_hours,
            reasons=list(ctx.facts.dq.reasons),
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
            service_version=service_version(),
        )
        return PricedQuote(
            item=ctx.facts.item,
            response=response,
            snapshot=snapshot,
            tariff_version=ctx.tariff_version or TARIFF_BY_POLICY,
            band_version=a.band.version,
            incentive_version=incentives.version,
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
        elif self.rules.tariff.label.upper().startswith("DEFAULT"):
            out.append(
                f"the base premium uses the shipped default tariff {ctx.tariff_version}; "
                "replace it with the insurer's filed tariff"
            )
        if snapshot.source == "cache":
            out.append(f"priced with the locally cached model {snapshot.label}: {snapshot.note}")
        months = len(ctx.facts.history.month)
        if months < 6:
            out.append(
                f"only {months} months of history: the site's own experience carries little "
                "weight (credibility)"
            )
        return out


def _incentives(result: IncentiveResult) -> Incentives:
    return Incentives(
        rule_set_version=result.version,
        label=result.label,
        tiers=[
            TierOut(
                tier=t.name,
                label=Text(zh=t.zh, en=t.en),
                description=t.description,
                eligible=t.eligible,
                criteria=[
                    CriterionOut(
                        name=c.name,
                        label=Text(zh=c.zh, en=c.en),
                        metric=c.metric,
                        column=c.column,
                        window_months=c.window_months,
                        operator=c.operator,
                        threshold=c.threshold,
                        actual=explain.finite(c.actual),
                        months_reported=c.months_reported,
                        met=c.met,
                        gap=explain.finite(c.gap),
                    )
                    for c in t.criteria
                ],
            )
            for t in result.tiers
        ],
    )
