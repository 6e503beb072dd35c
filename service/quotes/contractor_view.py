"""A stored quote as its site's contractor may read it, in one language.

A contractor sees why its site's premium is what it is and what would lower it: the
premium figures, the factors and groups, the recommendations, the incentive checklist
and the data-quality verdict. It never sees what is the insurer's alone: who priced
the site, the expected loss and claim count, the model's address, the request rows
or the warnings meant for the underwriter. Only the fields listed here leave; a new
field of the quote answer stays hidden until it is added on purpose.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec
from msgspec import Struct

from service.quotes.explain import BY_NAME
from service.quotes.schemas import PreventionItem, PreventionPlanOut, QuoteResponse
from service.quotes.texts import BookLookup, Lang, render


class PremiumSummary(Struct, frozen=True, kw_only=True):
    base_premium_cny: float
    final_premium_cny: float
    adjustment_pct: float
    band_min_pct: float
    band_max_pct: float
    relativity: float
    risk_factor: float | None
    discount_withheld_cny: float
    plan_version: str


class LayerView(Struct, frozen=True, kw_only=True):
    """One line of the rating plan, in the caller's language."""

    layer: str
    kind: str
    label: str
    factor: float
    pct: float
    premium_before_cny: float
    premium_effect_cny: float
    text: str


class FactorView(Struct, frozen=True, kw_only=True):
    feature: str
    label: str
    group: str
    value: float | None
    value_label: str | None
    peer_median: float | None
    factor: float
    premium_effect_cny: float
    text: str | None


class GroupView(Struct, frozen=True, kw_only=True):
    group: str
    label: str
    factor: float
    premium_effect_cny: float


class RecommendationView(Struct, frozen=True, kw_only=True):
    metric: str
    label: str
    direction: Literal["increase", "decrease"]
    unit: str
    current: float
    target: float
    target_source: Literal["incentive", "peer_median", "data_quality_gate", "combined"]
    estimated_premium_cny: float
    estimated_saving_cny: float
    basis: Literal["model_estimate"]
    text: str | None


class CriterionView(Struct, frozen=True, kw_only=True):
    name: str
    label: str
    operator: str
    threshold: float
    actual: float | None
    met: bool
    gap: float | None
    # rule sets of incentive-rules/2 only: met, not_met or not_evaluable (data missing,
    # never met) and, when not evaluable, why
    outcome: str | None = None
    reason: str | None = None


class TierView(Struct, frozen=True, kw_only=True):
    tier: str
    label: str
    eligible: bool
    criteria: list[CriterionView]


class DataQualityView(Struct, frozen=True, kw_only=True):
    passed: bool
    discount_allowed: bool
    device_online_rate: float | None
    data_completeness: float | None
    min_device_online_rate: float
    min_data_completeness: float
    reasons: list[str]
    discount_possible_from: str | None


class PreventionItemView(Struct, frozen=True, kw_only=True):
    """One prevention service planned for the site: the group, the gap and its cost."""

    service: str
    label: str
    group: str
    group_label: str
    metric: str
    metric_label: str
    unit: str
    current: float
    target: float
    gap: float
    units: int
    unit_label: str
    cost_cny: float
    risk_reduction_pct: float  # of the site's expected loss, by the model
    premium_saving_cny: float
    funded: bool
    text: str


class PreventionView(Struct, frozen=True, kw_only=True):
    """What the insurer's prevention budget buys for the site (docs/prevention.md)."""

    budget_cny: float
    cost_cny: float
    remaining_cny: float
    items: list[PreventionItemView]  # bought
    not_funded: list[PreventionItemView]
    text: str


class SiteExplanation(Struct, frozen=True, kw_only=True):
    """The latest explanation of one of the caller's sites."""

    site_id: str
    lang: Lang
    quote_id: str
    priced_at: dt.datetime
    start_month: str
    term_months: int
    currency: str
    model_version: str
    risk_percentile: float
    premium: PremiumSummary
    layers: list[LayerView]
    factors: list[FactorView]
    groups: list[GroupView]
    note: str
    recommendations: list[RecommendationView]
    incentive_rule_set_version: str
    incentives: list[TierView]
    data_quality: DataQualityView
    # None: the quote was not priced by a rate book, so it has no prevention plan
    prevention: PreventionView | None = None


def site_explanation(
    stored: QuoteResponse, lang: Lang, books: BookLookup | None = None
) -> SiteExplanation:
    """The stored quote's contractor-safe fields, its texts written in ``lang``."""
    quote = render(stored, lang, books)
    pricing, explanation = quote.pricing, quote.explanation
    dq = quote.data_quality
    return SiteExplanation(
        site_id=quote.site_id,
        lang=lang,
        quote_id=quote.quote_id,
        priced_at=quote.created_at,
        start_month=quote.start_month,
        term_months=quote.term_months,
        currency=quote.currency,
        model_version=f"{quote.model.name} v{quote.model.version}",
        risk_percentile=quote.risk.percentile,
        premium=PremiumSummary(
            base_premium_cny=pricing.base_premium_cny,
            final_premium_cny=pricing.final_premium_cny,
            adjustment_pct=pricing.adjustment_pct,
            band_min_pct=pricing.band.min_pct,
            band_max_pct=pricing.band.max_pct,
            relativity=pricing.relativity,
            risk_factor=pricing.risk_factor,
            discount_withheld_cny=pricing.discount_withheld_cny,
            plan_version=pricing.plan_version,
        ),
        layers=[
            LayerView(
                layer=line.layer,
                kind=line.kind,
                label=line.label or line.layer,
                factor=line.factor,
                pct=line.pct,
                premium_before_cny=line.premium_before_cny,
                premium_effect_cny=line.premium_effect_cny,
                text=line.text or "",
            )
            for line in pricing.layers
        ],
        factors=[
            FactorView(
                feature=f.feature,
                label=_feature_label(f.feature, lang),
                group=f.group,
                value=f.value,
                value_label=f.value_label,
                peer_median=f.peer_median,
                factor=f.factor,
                premium_effect_cny=f.premium_effect_cny,
                text=f.text,
            )
            for f in explanation.factors
        ],
        groups=[
            GroupView(
                group=g.group,
                label=g.label or g.group,
                factor=g.factor,
                premium_effect_cny=g.premium_effect_cny,
            )
            for g in explanation.groups
        ],
        note=explanation.note or "",
        recommendations=[
            RecommendationView(
                metric=r.metric,
                label=r.label or r.metric,
                direction=r.direction,
                unit=r.unit,
                current=r.current,
                target=r.target,
                target_source=r.target_source,
                estimated_premium_cny=r.estimated_premium_cny,
                estimated_saving_cny=r.estimated_saving_cny,
                basis=r.basis,
                text=r.text,
            )
            for r in quote.recommendations
        ],
        incentive_rule_set_version=quote.incentives.rule_set_version,
        incentives=[
            TierView(
                tier=t.tier,
                label=t.label or t.tier,
                eligible=t.eligible,
                criteria=[
                    CriterionView(
                        name=c.name,
                        label=c.label or c.name,
                        operator=c.operator,
                        threshold=c.threshold,
                        actual=c.actual,
                        met=c.met,
                        gap=c.gap,
                        outcome=None if c.outcome is msgspec.UNSET else c.outcome,
                        reason=None if c.reason is msgspec.UNSET else c.reason,
                    )
                    for c in t.criteria
                ],
            )
            for t in quote.incentives.tiers
        ],
        data_quality=DataQualityView(
            passed=dq.passed,
            discount_allowed=dq.discount_allowed,
            device_online_rate=dq.device_online_rate,
            data_completeness=dq.data_completeness,
            min_device_online_rate=dq.min_device_online_rate,
            min_data_completeness=dq.min_data_completeness,
            reasons=list(dq.reasons),
            discount_possible_from=dq.discount_possible_from,
        ),
        prevention=(None if quote.prevention is None else contractor_prevention(quote.prevention)),
    )


def contractor_prevention(plan: PreventionPlanOut) -> PreventionView:
    """The plan (its texts rendered) without what is the insurer's alone: the expected
    loss in yuan (only the share a service removes) and the rate book's name."""

    def item(i: PreventionItem) -> PreventionItemView:
        return PreventionItemView(
            service=i.service,
            label=i.label or i.service,
            group=i.group,
            group_label=i.group_label or i.group,
            metric=i.metric,
            metric_label=i.metric_label or i.metric,
            unit=i.unit,
            current=i.current,
            target=i.target,
            gap=i.gap,
            units=i.units,
            unit_label=i.unit_label or "",
            cost_cny=i.cost_cny,
            risk_reduction_pct=i.risk_reduction_pct,
            premium_saving_cny=i.premium_saving_cny,
            funded=i.not_funded is None,
            text=i.text or "",
        )

    return PreventionView(
        budget_cny=plan.budget_cny,
        cost_cny=plan.cost_cny,
        remaining_cny=plan.remaining_cny,
        items=[item(i) for i in plan.items],
        not_funded=[item(i) for i in plan.not_funded],
        text=plan.text or "",
    )


def _feature_label(name: str, lang: Lang) -> str:
    feature = BY_NAME.get(name)
    if feature is None:  # a feature of an older model version
        return name
    return feature.zh if lang == "zh" else feature.en
