"""Pricing requests: from decoded requests to complete quote answers, for one site or a
portfolio in one vectorised pass.

For the items that pass the API's rules and the contract (:mod:`.intake`):

1. features for (site, policy start) from the rows before the start, one
   ``build_features`` call for the whole batch; one prediction and one TreeSHAP pass;
2. risk: loss rate per worker-hour × projected worker-hours for the term. The
   projection is the mean worker-hours of the site's latest three months of data ×
   the term in months, capped by the months left to the planned completion and never
   below one month; the percentile is among the model's training peers;
3. credibility Z = E / (E + k) with E the worker-hours of the months whose data
   completeness reaches the band's threshold (well-reported exposure) and k from
   training (``bundle.meta.credibility_k``);
4. the data-quality gate, the base premium (the policy's, or the tariff's), the
   bounded adjustment and its exact explanation (:mod:`service.pricing`);
5. recommendations, all variants of all items priced in one more prediction;
6. incentive eligibility, criterion by criterion.

CPU-bound and blocking: call it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

from models import features as fdef
from models.contract import ContractData, spec
from service.errors import FieldError, InvalidInputError, ServiceError
from service.model_provider import ModelSnapshot
from service.pricing import (
    Adjustment,
    Band,
    DataQualityCheck,
    IncentiveResult,
    IncentiveRuleSet,
    Tariff,
    adjust,
    credibility,
    expected_term_loss,
    load_band,
    load_incentives,
    load_tariff,
    quote,
    round_cent,
)
from service.quotes import explain, recommend
from service.quotes.intake import BODY, Item, api_problems, internal_site, validate_items
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
from service.quotes.site_history import SiteHistory, data_quality, histories
from service.quotes.site_history import incentives as site_incentives

CURRENCY: Final = "CNY"
PROJECTION_MONTHS: Final = 3  # months of worker-hours the exposure projection averages
GROUPS: Final[dict[str, str]] = {f.name: f.group.value for f in fdef.FEATURES}
NUMERIC_COLUMNS: Final = tuple(c.name for c in spec.SITE_MONTHS if c.kind in ("float", "int"))
TARIFF_BY_POLICY: Final = "policy"  # stored as the tariff version when the insurer set the base
_WHOLE: Final = "relativity"


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


@dataclass(frozen=True)
class _Context:
    """One valid item between scoring and its answer."""

    position: int
    item: Item
    history: SiteHistory
    values: dict[str, float]
    adjustment: Adjustment
    project_premium: Decimal | None
    tariff_version: str | None
    dq: DataQualityCheck
    well_reported_hours: float
    risk: Risk
    percentile: float


def _invalid(fields: list[FieldError]) -> InvalidInputError:
    first = fields[0]
    return InvalidInputError(
        f"the request is not valid: {first.field}: {first.message}", fields=fields
    )


class QuotePricer:
    def __init__(self, rules: PricingRules | None = None) -> None:
        self.rules = rules or PricingRules.shipped()
        self._thresholds = recommend.incentive_targets(self.rules.incentives)

    # -- the entry point -----------------------------------------------------------------
    def price(
        self, items: Sequence[Item], snapshot: ModelSnapshot, *, now: datetime | None = None
    ) -> list[Outcome]:
        """One outcome per item, in order: a priced quote or the item's error."""
        outcomes: dict[int, Outcome] = {}
        pending: list[int] = []
        for i, item in enumerate(items):
            problems = api_problems(item)
            if problems:
                outcomes[i] = FailedQuote(item.index, _invalid(problems))
            else:
                pending.append(i)
        data: ContractData | None = None
        # A contract failure removes its item; the rest are checked again to get frames.
        for _ in range(3):
            if not pending:
                break
            data, errors = validate_items([items[i] for i in pending])
            if not errors:
                break
            for pos, fields in errors.items():
                outcomes[pending[pos]] = FailedQuote(items[pending[pos]].index, _invalid(fields))
            pending = [p for k, p in enumerate(pending) if k not in errors]
            data = None
        if pending and data is None:  # pragma: no cover - the contract settles in two passes
            for i in pending:
                where = items[i].where.rstrip(".") or BODY
                outcomes[i] = FailedQuote(
                    items[i].index, _invalid([FieldError(where, "breaks the data contract")])
                )
            pending = []
        if pending and data is not None:
            priced = self._price_valid(
                [items[i] for i in pending], data, snapshot, now or datetime.now(UTC)
            )
            outcomes.update(zip(pending, priced, strict=True))
        return [outcomes[i] for i in range(len(items))]

    # -- the valid items -------------------------------------------------------------------
    def _price_valid(
        self, items: Sequence[Item], data: ContractData, snapshot: ModelSnapshot, now: datetime
    ) -> list[Outcome]:
        bundle = snapshot.bundle
        ids = [internal_site(k) for k in range(len(items))]
        starts = [item.request.policy.start_month for item in items]
        frame = fdef.build_features(
            data.sites,
            data.site_months,
            data.claims,
            targets=pd.DataFrame({"site_id": ids, "month": starts}),
        )
        x = fdef.to_matrix(frame)
        log_rate = bundle.log_rate(x)
        claim_rate = bundle.claim_rate(x)
        contrib = bundle.contributions(x)
        percentile = bundle.percentile(np.exp(log_rate))
        site_histories = histories(data, ids, NUMERIC_COLUMNS)

        contexts = []
        for k, item in enumerate(items):
            contexts.append(
                self._context(
                    k,
                    item,
                    site_histories[k],
                    x[k],
                    contrib[k],
                    float(log_rate[k]),
                    float(claim_rate[k]),
                    float(percentile[k]),
                    snapshot,
                )
            )
        advice = self._recommendations(contexts, data, ids, starts, snapshot)
        return [self._answer(ctx, advice.get(ctx.position, []), snapshot, now) for ctx in contexts]

    def _context(
        self,
        position: int,
        item: Item,
        history: SiteHistory,
        features: np.ndarray,
        contrib: np.ndarray,
        log_rate: float,
        claim_rate: float,
        percentile: float,
        snapshot: ModelSnapshot,
    ) -> _Context:
        band, tariff = self.rules.band, self.rules.tariff
        req = item.request
        site: Any = req.site
        policy = req.policy
        meta = snapshot.bundle.meta
        values = dict(zip(fdef.FEATURE_NAMES, (float(v) for v in features), strict=True))
        phi = {name: float(contrib[j]) for j, name in enumerate(fdef.FEATURE_NAMES)}

        dq = data_quality(band, history, policy.start_month)
        order = np.argsort(history.month, kind="stable")
        hours = history.column("worker_hours")[order]
        completeness = history.column("data_completeness")[order]
        well_reported = float(hours[completeness >= band.data_quality.min_data_completeness].sum())
        z = credibility(well_reported, meta.credibility_k)
        if policy.base_premium_cny is not None:
            base = round_cent(Decimal(repr(float(policy.base_premium_cny))))
            adjustment = adjust(base, phi, GROUPS, z, band, dq.passed)
            project_premium, tariff_version = None, None
        else:
            duration = values["planned_duration_months"]
            duration = max(duration if math.isfinite(duration) else 0.0, float(tariff.min_months))
            priced = quote(
                contract_value_cny=float(site.contract_value_cny),
                term_months=policy.term_months,
                planned_duration_months=duration,
                contributions=phi,
                groups=GROUPS,
                observed_worker_hours=well_reported,
                credibility_k=meta.credibility_k,
                tariff=tariff,
                band=band,
                discount_allowed=dq.passed,
            )
            adjustment = priced.adjustment
            project_premium, tariff_version = priced.project_premium, priced.tariff_version

        latest = hours[-PROJECTION_MONTHS:]
        left = values["months_to_planned_end"]
        term = float(policy.term_months)
        cover = max(1.0, min(term, left)) if math.isfinite(left) else term
        projected = float(latest.mean()) * cover
        rate = math.exp(log_rate)
        risk = Risk(
            expected_loss_cny=float(expected_term_loss(rate, projected)),
            expected_claims=claim_rate * projected,
            percentile=percentile,
            loss_rate_per_10k_worker_hours=rate * 1e4,
            projected_worker_hours=projected,
        )
        return _Context(
            position=position,
            item=item,
            history=history,
            values=values,
            adjustment=adjustment,
            project_premium=project_premium,
            tariff_version=tariff_version,
            dq=dq,
            well_reported_hours=well_reported,
            risk=risk,
            percentile=percentile,
        )

    # -- recommendations -----------------------------------------------------------------
    def _recommendations(
        self,
        contexts: Sequence[_Context],
        data: ContractData,
        ids: Sequence[str],
        starts: Sequence[str],
        snapshot: ModelSnapshot,
    ) -> dict[int, list[Recommendation]]:
        bundle = snapshot.bundle
        medians = bundle.meta.peer_medians
        found: list[recommend.Candidate] = []
        for ctx in contexts:
            found += recommend.candidates(
                ctx.position, ctx.history, starts[ctx.position], self._thresholds, medians
            )
        if not found:
            return {}
        variants = recommend.variants(data, found, ids, starts)
        frame = fdef.build_features(
            variants.sites, variants.site_months, variants.claims, targets=variants.targets
        )
        relativity = bundle.log_rate(fdef.to_matrix(frame)) - bundle.base_value
        out: dict[int, list[tuple[Decimal, Recommendation]]] = {}
        for c, r in zip(found, relativity, strict=True):
            ctx = contexts[c.position]
            a = ctx.adjustment
            # Priced as the quote was: same base, credibility, band and data-quality gate.
            estimate = adjust(
                a.base, {_WHOLE: float(r)}, {_WHOLE: "project"}, a.credibility, a.band,
                ctx.dq.passed,
            ).final  # fmt: skip
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
        req = ctx.item.request
        site: Any = req.site
        a = ctx.adjustment
        bundle = snapshot.bundle
        incentives = site_incentives(
            rules.incentives, ctx.history, req.policy.start_month, ctx.percentile
        )
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
            factors=explain.factors(a, ctx.values, bundle.meta.peer_medians),
            groups=explain.groups(a),
            note=explain.NOTE,
        )
        band = rules.band
        dq = DataQuality(
            passed=ctx.dq.passed,
            discount_allowed=ctx.dq.passed,
            band_version=ctx.dq.band_version,
            window_months=ctx.dq.window_months,
            months=ctx.dq.months,
            device_online_rate=explain.finite(ctx.dq.device_online_rate),
            data_completeness=explain.finite(ctx.dq.data_completeness),
            min_device_online_rate=band.data_quality.min_device_online_rate,
            min_data_completeness=band.data_quality.min_data_completeness,
            well_reported_worker_hours=ctx.well_reported_hours,
            reasons=list(ctx.dq.reasons),
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
            risk=ctx.risk,
            pricing=pricing,
            explanation=explanation,
            recommendations=advice,
            incentives=_incentives(incentives),
            data_quality=dq,
            warnings=self._warnings(ctx, snapshot),
        )
        return PricedQuote(
            item=ctx.item,
            response=response,
            snapshot=snapshot,
            tariff_version=ctx.tariff_version or TARIFF_BY_POLICY,
            band_version=a.band.version,
            incentive_version=incentives.version,
            base_premium=a.base,
            final_premium=a.final,
            expected_claims=ctx.risk.expected_claims,
        )

    def _warnings(self, ctx: _Context, snapshot: ModelSnapshot) -> list[str]:
        a = ctx.adjustment
        out = []
        if not ctx.dq.passed:
            reasons = ", ".join(ctx.dq.reasons)
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
        months = len(ctx.history.month)
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
