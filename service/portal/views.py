"""From a contractor-safe quote to what a page shows, in one language.

Everything a template prints is formatted here (money, percentages, units, the
charts' geometry), so the templates only lay it out and the tests can hold the
figures to the quote's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

from models.contract import spec
from service.portal import charts
from service.portal.i18n import Translator
from service.portal.service import SiteSummary, SiteView
from service.quotes.contractor_view import PreventionItemView, PreventionView
from service.quotes.explain import BY_NAME, format_value, metric_key
from service.quotes.schemas import CriterionOut, Factor, Metric, Recommendation

TOP_FACTORS: Final = 6

# (Chinese, English) unit suffixes for incentive criteria and recommendations.
_PER_10K: Final = (" 次/万工时", " per 10k worker-hours")
_CLAIMS: Final = (" 件", " claims")
_POINTS: Final = (" 个百分点", " percentage points")


@dataclass(frozen=True, slots=True)
class SummaryView:
    final: str
    base: str
    adjustment: str
    adjustment_kind: str  # up / down / zero
    band: str
    band_note: str | None
    base_note: str
    percentile: str
    risk_factor: str


@dataclass(frozen=True, slots=True)
class GroupRow:
    key: str
    label: str
    factor: str
    effect: str
    running: str
    kind: str


@dataclass(frozen=True, slots=True)
class FactorView:
    label: str
    sentence: str
    value: str
    median: str
    effect: str
    kind: str


@dataclass(frozen=True, slots=True)
class RecommendationView:
    label: str
    sentence: str
    now: str
    target: str
    source: str
    saving: str
    premium: str


@dataclass(frozen=True, slots=True)
class PreventionRow:
    service: str
    label: str
    group: str
    now: str
    target: str
    gap: str
    units: str
    cost: str
    reduction: str
    saving: str
    sentence: str


@dataclass(frozen=True, slots=True)
class PreventionSection:
    summary: str
    budget: str
    cost: str
    remaining: str
    items: list[PreventionRow]
    not_funded: list[PreventionRow]


@dataclass(frozen=True, slots=True)
class CriterionView:
    label: str
    met: bool
    actual: str
    threshold: str
    gap: str
    # why the criterion could not be evaluated (data missing: never met), else None
    not_evaluable: str | None = None


@dataclass(frozen=True, slots=True)
class TierView:
    key: str
    label: str
    eligible: bool
    criteria: list[CriterionView]
    met_count: str


@dataclass(frozen=True, slots=True)
class QualityRow:
    label: str
    value: str
    minimum: str
    ok: bool


@dataclass(frozen=True, slots=True)
class QualityView:
    passed: bool
    withheld: bool
    notice: str
    reasons: list[str]
    rows: list[QualityRow]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    quoted: str
    start: str
    base: str
    final: str
    adjustment: str
    current: bool


@dataclass(frozen=True, slots=True)
class SitePage:
    site_id: str
    quote_id: str
    meta: str
    summary: SummaryView
    waterfall: charts.Waterfall
    waterfall_desc: str
    groups: list[GroupRow]
    base_row: GroupRow
    final_row: GroupRow
    factors: list[FactorView]
    recommendations: list[RecommendationView]
    prevention: PreventionSection | None
    incentives_intro: str
    tiers: list[TierView]
    quality: QualityView
    trend: charts.Trend
    trend_desc: str
    history: list[HistoryRow]
    model_note: str


@dataclass(frozen=True, slots=True)
class SiteRow:
    site_id: str
    district: str
    start: str
    base: str
    final: str
    adjustment: str
    quoted: str


def _kind(amount: float) -> str:
    return "up" if round(amount, 2) > 0 else "down" if round(amount, 2) < 0 else "zero"


def _district(t: Translator, code: str | None) -> str:
    if not code:
        return ""
    zh, en = spec.DISTRICT_LABELS.get(code, (code, code))
    return zh if t.lang == "zh" else en


def site_rows(t: Translator, sites: list[SiteSummary]) -> list[SiteRow]:
    return [
        SiteRow(
            site_id=s.site_id,
            district=_district(t, s.district),
            start=t.month(s.start_month),
            base=t.money(s.base_premium_cny),
            final=t.money(s.final_premium_cny),
            adjustment=t.percent(s.adjustment_pct, signed=True),
            quoted=t.date(s.created_at),
        )
        for s in sites
    ]


def site_page(t: Translator, view: SiteView) -> SitePage:
    q = view.quote
    p = q.pricing
    # The rating plan's lines in the order they apply (a quote stored before the layered
    # plan has only its groups).
    lines = [
        (line.layer, line.label, line.premium_effect_cny, line.factor) for line in p.layers
    ] or [(g.group, g.label, g.premium_effect_cny, g.factor) for g in q.explanation.groups]
    steps = [
        charts.Step(key, t.text(label), charts.to_cents(effect), t.factor(factor))
        for key, label, effect, factor in lines
    ]
    chart = charts.waterfall(
        t("waterfall.base"),
        charts.to_cents(p.base_premium_cny),
        steps,
        t("waterfall.final"),
        charts.to_cents(p.final_premium_cny),
        money=t.money,
        signed_money=t.signed_money,
        short_money=t.money_short,
    )
    rows = []
    running = p.base_premium_cny
    for key, label, effect, factor in lines:
        running = round(running + effect, 2)
        rows.append(
            GroupRow(
                key,
                t.text(label),
                t.factor(factor),
                t.signed_money(effect),
                t.money(running),
                _kind(effect),
            )
        )
    total_effect = p.final_premium_cny - p.base_premium_cny
    band_note = None
    if p.clipped == "high":
        band_note = t("summary.clipped_high", edge=t.percent(p.band.max_pct, signed=True))
    elif p.clipped == "low":
        band_note = t("summary.clipped_low", edge=t.percent(p.band.min_pct, signed=True))
    summary = SummaryView(
        final=t.money(p.final_premium_cny),
        base=t.money(p.base_premium_cny),
        adjustment=t.percent(p.adjustment_pct, signed=True),
        adjustment_kind=_kind(p.adjustment_pct),
        band=t(
            "summary.band",
            min=t.percent(p.band.min_pct, signed=True, digits=0),
            max=t.percent(p.band.max_pct, signed=True, digits=0),
        ),
        band_note=band_note,
        base_note=(
            t("summary.base_tariff", version=p.tariff_version)
            if p.base_premium_source == "tariff" and p.tariff_version
            else t("summary.base_policy")
        ),
        percentile=t.number(q.risk_percentile, 1),
        risk_factor=t.factor(p.risk_factor) if p.risk_factor is not None else "—",
    )
    trend_chart, trend_desc, history = _trend(t, view)
    return SitePage(
        site_id=q.site_id,
        quote_id=q.quote_id,
        meta=t(
            "site.meta", start=t.month(q.start_month), term=q.term_months, date=t.date(q.created_at)
        ),
        summary=summary,
        waterfall=chart,
        waterfall_desc=t(
            "waterfall.desc",
            base=t.money(p.base_premium_cny),
            n=len(lines),
            total=t.signed_money(total_effect),
            final=t.money(p.final_premium_cny),
            start=t.money(chart.axis_start_cents / 100),
        ),
        groups=rows,
        base_row=GroupRow("base", t("waterfall.base"), "", "", t.money(p.base_premium_cny), "zero"),
        final_row=GroupRow(
            "final",
            t("waterfall.final"),
            t.factor(p.final_premium_cny / p.base_premium_cny) if p.base_premium_cny else "",
            t.signed_money(total_effect),
            t.money(p.final_premium_cny),
            _kind(total_effect),
        ),
        factors=(
            [_metric(t, m) for m in q.explanation.metrics[:TOP_FACTORS]]
            if q.explanation.metrics  # quotes stored before metrics: the worded factors
            else [_factor(t, f) for f in q.explanation.factors if f.text is not None][:TOP_FACTORS]
        ),
        recommendations=[
            _recommendation(t, r) for r in q.recommendations if r.estimated_saving_cny > 0
        ],
        prevention=_prevention(t, q.prevention),
        incentives_intro=t("incentives.intro", version=q.incentives.rule_set_version),
        tiers=[
            TierView(
                key=tier.tier,
                label=t.text(tier.label),
                eligible=tier.eligible,
                criteria=[_criterion(t, c) for c in tier.criteria],
                met_count=t(
                    "incentives.count",
                    met=sum(c.met for c in tier.criteria),
                    total=len(tier.criteria),
                ),
            )
            for tier in q.incentives.tiers
        ],
        quality=_quality(t, view),
        trend=trend_chart,
        trend_desc=trend_desc,
        history=history,
        model_note=t(
            "note.model",
            model=q.model_version,
            band=p.band.version,
            incentives=q.incentives.rule_set_version,
        ),
    )


def _factor(t: Translator, f: Factor) -> FactorView:
    feature = BY_NAME.get(f.feature)
    if feature is not None:
        v_zh, v_en = format_value(feature, f.value)
        m_zh, m_en = format_value(feature, f.peer_median)
        label = feature.zh if t.lang == "zh" else feature.en[:1].upper() + feature.en[1:]
    else:  # a feature of an older model version
        v_zh = v_en = "" if f.value is None else t.number(f.value, 2)
        m_zh = m_en = "" if f.peer_median is None else t.number(f.peer_median, 2)
        label = f.feature
    zh = t.lang == "zh"
    return FactorView(
        label=label,
        sentence=t.text(f.text),
        value=v_zh if zh else v_en,
        median=m_zh if zh else m_en,
        effect=t.signed_money(f.premium_effect_cny),
        kind=_kind(f.premium_effect_cny),
    )


def _metric(t: Translator, m: Metric) -> FactorView:
    """A metric's row: each window's value (and peer median) side by side."""
    zh = t.lang == "zh"
    values, medians = [], []
    for w in m.windows:
        feature = BY_NAME.get(w.feature)
        if feature is None:  # a feature of an older model version
            values.append("" if w.value is None else t.number(w.value, 2))
            medians.append("" if w.peer_median is None else t.number(w.peer_median, 2))
            continue
        v_zh, v_en = format_value(feature, w.value)
        m_zh, m_en = format_value(feature, w.peer_median)
        k = metric_key(feature)[1] if len(m.windows) > 1 else None
        window = "" if k is None else t("factors.window", k=k) if k > 1 else t("factors.month")
        values.append(f"{window}{v_zh if zh else v_en}")
        medians.append("" if feature.categorical else f"{window}{m_zh if zh else m_en}")
    sep = "；" if zh else "; "
    return FactorView(
        label=t.text(m.label),
        sentence=t.text(m.text),
        value=sep.join(values),
        median=sep.join(x for x in medians if x) or "—",
        effect=t.signed_money(m.premium_effect_cny),
        kind=_kind(m.premium_effect_cny),
    )


def _rate_format(t: Translator, unit: str) -> Callable[[float], str]:
    if unit == "share":
        return t.share
    if unit in ("months", "metrics"):
        return lambda v: t.number(v, 0)
    suffix = _PER_10K[0] if t.lang == "zh" else _PER_10K[1]
    return lambda v: t.number(v, 2) + suffix


def _recommendation(t: Translator, r: Recommendation) -> RecommendationView:
    shown = _rate_format(t, r.unit)
    label = t.text(r.label)
    return RecommendationView(
        label=label[:1].upper() + label[1:],
        sentence=t.text(r.text),
        now=shown(r.current),
        target=shown(r.target),
        source=t(f"recs.source_{r.target_source}"),
        saving=t.money(r.estimated_saving_cny),
        premium=t.money(r.estimated_premium_cny),
    )


def _prevention(t: Translator, plan: PreventionView | None) -> PreventionSection | None:
    if plan is None:
        return None

    def row(i: PreventionItemView) -> PreventionRow:
        shown = _rate_format(t, i.unit)
        return PreventionRow(
            service=i.service,
            label=i.label,
            group=i.group_label,
            now=shown(i.current),
            target=shown(i.target),
            gap=shown(i.gap),
            units=f"{t.number(i.units)} {i.unit_label}".strip(),
            cost=t.money(i.cost_cny),
            reduction=t.percent(i.risk_reduction_pct),
            saving=t.money(i.premium_saving_cny),
            sentence=i.text,
        )

    return PreventionSection(
        summary=plan.text,
        budget=t.money(plan.budget_cny),
        cost=t.money(plan.cost_cny),
        remaining=t.money(plan.remaining_cny),
        items=[row(i) for i in plan.items],
        not_funded=[row(i) for i in plan.not_funded],
    )


def _is_share(column: str | None) -> bool:
    if not column:
        return False
    try:
        c = spec.column("site_months", column)
    except (KeyError, ValueError):
        return False
    return c.kind == "float" and c.ge == 0.0 and c.le == 1.0


def _criterion_formats(
    t: Translator, c: CriterionOut
) -> tuple[Callable[[float], str], Callable[[float], str]]:
    """How the criterion's values and its gap read."""
    zh = t.lang == "zh"
    if c.metric in ("months_mean", "months_min") and _is_share(c.column):
        points = _POINTS[0] if zh else _POINTS[1]
        return t.share, lambda v: t.number(100 * v, 1) + points
    if c.metric == "per_10k_worker_hours":
        suffix = _PER_10K[0] if zh else _PER_10K[1]
        return (lambda v: t.number(v, 2) + suffix), (lambda v: t.number(v, 2) + suffix)
    if c.metric == "claims_count":
        suffix = _CLAIMS[0] if zh else _CLAIMS[1]
        return (lambda v: t.number(v) + suffix), (lambda v: t.number(v) + suffix)
    if c.metric == "months_sum":
        return (lambda v: t.number(v)), (lambda v: t.number(v))
    return (lambda v: t.number(v, 1)), (lambda v: t.number(v, 1))


def _criterion(t: Translator, c: CriterionOut) -> CriterionView:
    value, gap = _criterion_formats(t, c)
    missing = t("incentives.not_reported")
    why = None
    if c.outcome == "not_evaluable":
        # the reason already says it could not be evaluated, and why
        why = t("incentives.not_evaluable") if c.reason is msgspec.UNSET else t.text(c.reason)
    return CriterionView(
        label=t.text(c.label),
        met=c.met,
        actual=missing if c.actual is None else value(c.actual),
        threshold=f"{t.operator(c.operator)} {value(c.threshold)}",
        gap="—" if c.met else missing if c.gap is None else gap(c.gap),
        not_evaluable=why,
    )


def _quality(t: Translator, view: SiteView) -> QualityView:
    q = view.quote
    dq = q.data_quality
    withheld = q.pricing.discount_withheld_cny > 0
    if dq.passed:
        notice = t("dq.ok")
    elif withheld:
        notice = t("dq.withheld", amount=t.money(q.pricing.discount_withheld_cny))
    else:
        notice = t("dq.no_discount")
    reasons = []
    for code in dq.reasons:
        key = f"dq.reason.{code}"
        try:
            reasons.append(t(key, window=dq.window_months))
        except KeyError:
            reasons.append(code)
    missing = t("incentives.not_reported")

    def row(label: str, value: float | None, minimum: float) -> QualityRow:
        return QualityRow(
            label=label,
            value=missing if value is None else t.share(value),
            minimum=t("dq.minimum", value=t.share(minimum)),
            ok=value is not None and value >= minimum,
        )

    return QualityView(
        passed=dq.passed,
        withheld=withheld,
        notice=notice,
        reasons=reasons,
        rows=[
            row(t("dq.device_online"), dq.device_online_rate, dq.min_device_online_rate),
            row(t("dq.completeness"), dq.data_completeness, dq.min_data_completeness),
        ],
    )


def _trend(t: Translator, view: SiteView) -> tuple[charts.Trend, str, list[HistoryRow]]:
    # The points follow quote time (each quote may cover a different start): the axis
    # is the quote date, and each point's tooltip names the cover start too.
    points = view.history
    labels = [t.date(p.created_at) for p in points]
    tips = [
        t("trend.tip", quoted=t.date(p.created_at), start=t.month(p.start_month))
        if p.start_month
        else t.date(p.created_at)
        for p in points
    ]
    finals = [p.final_premium_cny for p in points]
    chart = charts.trend(
        labels,
        finals,
        [p.base_premium_cny for p in points],
        money=t.money,
        tips=tips,
        axis_label=t("trend.axis"),
    )
    desc = t(
        "trend.desc",
        n=len(points),
        first=t.money(finals[0]),
        last=t.money(finals[-1]),
        low=t.money(min(finals)),
        high=t.money(max(finals)),
    )
    history = [
        HistoryRow(
            quoted=t.date(p.created_at),
            start=t.month(p.start_month) if p.start_month else "",
            base="" if p.base_premium_cny is None else t.money(p.base_premium_cny),
            final=t.money(p.final_premium_cny),
            adjustment=t.percent(p.adjustment_pct, signed=True),
            current=p.quote_id == view.quote.quote_id,
        )
        for p in reversed(points)
    ]
    return chart, desc, history
