"""A quote's texts, in one language, from its language-neutral facts.

The pricer answers with facts only (numbers, codes, names): every label and sentence
of a quote is ``None`` there, and that is what is stored. :func:`render` writes them in
the language the caller asked for (中文 by default, English), and it is the only
place that does: the answer, a stored quote read back, an idempotent retry, the
contractor's explanation, the portal and replay all render the stored facts here, so a
text never disagrees with its numbers and a quote reads in either language whenever it
is read (docs/api.md, Languages).

Labels that come from versioned data are looked up by their version: a tier's and a
criterion's from the incentive rule set the quote names, a prevention service's from
the insurer's rate book (:data:`BookLookup`); a name the data no longer knows is shown
as itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final, Literal

from msgspec import UNSET, UnsetType, structs

from models.contract import spec
from models.contract.spec import GROUP_LABELS, Group
from models.features import Feature
from models.pricing import RuleError, load_incentives
from models.pricing.floating import AWARD_LABELS, GRADE_LABELS
from models.pricing.incentives import NOT_EVALUABLE
from models.pricing.premium import BAND, FLOATING, GATE, INTENSITY, OFF_BALANCE
from models.pricing.ratebook import PreventionService, RateBook
from service.quotes.explain import BY_NAME, format_value
from service.quotes.schemas import (
    CriterionOut,
    Explanation,
    Factor,
    GroupOut,
    Incentives,
    Layer,
    Metric,
    PreventionItem,
    PreventionPlanOut,
    Pricing,
    QuoteResponse,
    Recommendation,
    TierOut,
)

Lang = Literal["zh", "en"]
LANGUAGES: Final[tuple[Lang, ...]] = ("zh", "en")
DEFAULT_LANG: Final[Lang] = "zh"
# (insurer, version) -> the insurer's stored rate book, or None when it is not stored
BookLookup = Callable[[str, str], RateBook | None]

_GROUPS: Final = {g.value: GROUP_LABELS[g] for g in Group}
_LINE_LABELS: Final[dict[str, tuple[str, str]]] = {
    INTENSITY: ("工时与工期强度", "Exposure for the term"),
    OFF_BALANCE: ("整体平衡系数", "Off-balance factor"),
    FLOATING: ("费率浮动（事故记录与安全奖项）", "Floating (accident record and safety awards)"),
    GATE: ("数据测评门槛", "Data-quality gate"),
    BAND: ("浮动区间", "Adjustment band"),
}
NOTE: Final[dict[Lang, str]] = {
    "zh": (
        "各因素系数为模型对数空间中精确TreeSHAP贡献的指数，连乘等于相对风险。保费按费率方案逐层计算："
        "基础保费依次乘以各工地画像分组系数、工时与工期强度、整体平衡系数，再经数据测评门槛与浮动区间；"
        "每层的百分比等于该层保费影响除以该层之前的保费，各层影响精确到分，合计等于最终保费减基础保费；"
        "分组内各因素按贡献比例分摊该组的影响。"
    ),
    "en": (
        "Each factor is exp of the feature's exact TreeSHAP contribution in the model's "
        "log space; the factors multiply to the relativity. The premium is built layer by "
        "layer: the base times each 工地画像 group's factor, the exposure intensity and the "
        "off-balance factor, then the data-quality gate and the band. Each layer's "
        "percentage is its premium effect over the premium before it; the effects are in "
        "cents and add up to final minus base premium, and a group's features share its "
        "effect in proportion to their contributions."
    ),
}
_NOT_EVALUABLE_PREFIX: Final[dict[Lang, str]] = {"zh": "无法评估：", "en": "not evaluable: "}


def render(answer: QuoteResponse, lang: Lang, books: BookLookup | None = None) -> QuoteResponse:
    """``answer`` with every label and sentence written in ``lang``."""
    zh = lang == "zh"
    pricing = answer.pricing
    return structs.replace(
        answer,
        language=lang,
        pricing=_pricing(answer, zh),
        explanation=_explanation(answer.explanation, zh),
        recommendations=[_recommendation(r, answer, zh) for r in answer.recommendations],
        incentives=_incentives(answer.incentives, zh),
        prevention=(
            None
            if answer.prevention is None
            else _prevention(answer.prevention, _services(pricing, books), zh)
        ),
    )


# --- money and effects -------------------------------------------------------------------


def _cny(amount: float) -> str:
    return f"{amount:,.2f}"


def _risk_cost(factor: float, cents: float, zh: bool) -> tuple[str, str]:
    pct = abs(factor - 1.0) * 100.0
    if zh:
        risk = f"使风险上升{pct:.1f}%" if factor >= 1.0 else f"使风险下降{pct:.1f}%"
        if cents > 0:
            return risk, f"保费增加{_cny(cents)}元"
        if cents < 0:
            return risk, f"保费减少{_cny(-cents)}元"
        return risk, "保费不变"
    way = "raises" if factor >= 1.0 else "lowers"
    risk = f"{way} the risk estimate by {pct:.1f}%"
    if cents > 0:
        return risk, f"adds CNY {_cny(cents)} to the premium"
    if cents < 0:
        return risk, f"takes CNY {_cny(-cents)} off the premium"
    return risk, "leaves the premium unchanged"


def _effect(cents: float, zh: bool) -> str:
    if cents > 0:
        return f"保费增加{_cny(cents)}元" if zh else f"adds CNY {_cny(cents)}"
    if cents < 0:
        return f"保费减少{_cny(-cents)}元" if zh else f"takes CNY {_cny(-cents)} off"
    return "保费不变" if zh else "leaves the premium unchanged"


def _value(feature: Feature, value: float | None, zh: bool) -> str:
    return format_value(feature, value)[0 if zh else 1]


_LABEL: Final = {
    (f.name, zh): f.zh if zh else f"{f.en[:1].upper()}{f.en[1:]}"
    for f in BY_NAME.values()
    for zh in (True, False)
}


def _feature_label(feature: Feature, zh: bool) -> str:
    return _LABEL[feature.name, zh]


# --- the explanation ---------------------------------------------------------------------


def factor_sentence(
    feature: Feature,
    value: float | None,
    median: float | None,
    factor: float,
    cents: float,
    zh: bool,
    shown: dict[str, tuple[str, str]] | None = None,
) -> str:
    """One feature's sentence: its value, the peer median (none for a category), what
    it does to the risk estimate and to the premium. ``shown`` keeps the value and the
    median as written, by feature, for the metrics that fold it."""
    v = _value(feature, value, zh)
    risk, cost = _risk_cost(factor, cents, zh)
    label = _LABEL[feature.name, zh]
    if feature.categorical:  # a category has no peer median
        if shown is not None:
            shown[feature.name] = (v, "")
        if zh:
            return f"{label}：{v}；{risk}（系数{factor:.3f}），{cost}。"
        return f"{label}: {v}; {risk} (factor {factor:.3f}) and {cost}."
    m = _value(feature, median, zh) if median is not None else ("无" if zh else "n/a")
    if shown is not None:
        shown[feature.name] = (v, m)
    if zh:
        return f"{label}：本工地{v}，同类工地中位数{m}；{risk}（系数{factor:.3f}），{cost}。"
    return (
        f"{label}: {v} at this site against a peer median of {m}; {risk} "
        f"(factor {factor:.3f}) and {cost}."
    )


class _Said:
    """What one rendering has written per feature: its sentence, and its value and
    median (a metric over several windows names them again)."""

    __slots__ = ("sentences", "shown")

    def __init__(self) -> None:
        self.sentences: dict[str, str] = {}
        self.shown: dict[str, tuple[str, str]] = {}


def _factor(f: Factor, zh: bool, said: _Said) -> Factor:
    feature = BY_NAME.get(f.feature)
    if feature is None:  # a feature of an older model version
        return f
    text = factor_sentence(
        feature, f.value, f.peer_median, f.factor, f.premium_effect_cny, zh, said.shown
    )
    said.sentences[f.feature] = text
    return structs.replace(f, text=text)


_ZH_WINDOW: Final = re.compile(r"^(上月|近\d+月)")
_EN_WINDOW: Final = re.compile(r", (last month|last \d+ months)$")


@functools.cache
def _metric_label(name: str, zh: bool) -> str:
    """The label of the metric whose first window is feature ``name``, without the
    window (近3月…, …, last 3 months)."""
    feature = BY_NAME[name]
    if zh:
        return _ZH_WINDOW.sub("", feature.zh)
    en = _EN_WINDOW.sub("", feature.en)
    return f"{en[:1].upper()}{en[1:]}"


def _window(k: int | None, zh: bool) -> str:
    if k is None:
        return ""
    if k == 1:
        return "上月" if zh else "last month"
    return f"近{k}月" if zh else f"over {k} months"


def _together_en(factor: float, cents: float) -> str:
    pct = abs(factor - 1.0) * 100.0
    way = "raise" if factor >= 1.0 else "lower"
    if cents > 0:
        cost = f"add CNY {_cny(cents)} to the premium"
    elif cents < 0:
        cost = f"take CNY {_cny(-cents)} off the premium"
    else:
        cost = "leave the premium unchanged"
    return f"{way} the risk estimate by {pct:.1f}% (factor {factor:.3f}) and {cost}"


def _metric(m: Metric, zh: bool, said: _Said) -> Metric:
    features = [BY_NAME.get(w.feature) for w in m.windows]
    if not features or any(f is None for f in features):
        return m
    known = [f for f in features if f is not None]
    if len(m.windows) == 1:
        # a one-window metric is its feature: the same figures, so the same sentence
        (w,) = m.windows
        label = _feature_label(known[0], zh)
        text = said.sentences.get(w.feature) or factor_sentence(
            known[0], w.value, w.peer_median, m.factor, m.premium_effect_cny, zh
        )
        return structs.replace(m, label=label, text=text)
    label = _metric_label(known[0].name, zh)
    values, medians = [], []
    for feature, w in zip(known, m.windows, strict=True):
        window = _window(w.window_months, zh)
        found = said.shown.get(w.feature)
        if found is not None and not feature.categorical:
            v, med = found
        else:
            v = _value(feature, w.value, zh)
            med = (
                _value(feature, w.peer_median, zh)
                if w.peer_median is not None
                else ("无" if zh else "n/a")
            )
        values.append(f"{window}{v}" if zh else f"{v} {window}")
        medians.append(f"{window}{med}" if zh else med)
    if zh:
        risk, cost = _risk_cost(m.factor, m.premium_effect_cny, zh)
        text = (
            f"{label}：本工地{'、'.join(values)}，同类工地中位数{'、'.join(medians)}；"
            f"合计{risk}（系数{m.factor:.3f}），{cost}。"
        )
    else:
        text = (
            f"{label}: {', '.join(values)} at this site against peer medians of "
            f"{', '.join(medians)}; together they {_together_en(m.factor, m.premium_effect_cny)}."
        )
    return structs.replace(m, label=label, text=text)


def _group(g: GroupOut, zh: bool) -> GroupOut:
    labels = _GROUPS.get(g.group)
    return structs.replace(g, label=g.group if labels is None else labels["zh" if zh else "en"])


def _explanation(e: Explanation, zh: bool) -> Explanation:
    said = _Said()
    factors = [_factor(f, zh, said) for f in e.factors]
    return structs.replace(
        e,
        factors=factors,
        groups=[_group(g, zh) for g in e.groups],
        metrics=[_metric(m, zh, said) for m in e.metrics],
        note=NOTE["zh" if zh else "en"],
    )


# --- the rating plan's lines -------------------------------------------------------------


def _pricing(answer: QuoteResponse, zh: bool) -> Pricing:
    p = answer.pricing
    return structs.replace(p, layers=[_layer(line, answer, zh) for line in p.layers])


def _layer(line: Layer, answer: QuoteResponse, zh: bool) -> Layer:
    if line.layer in _LINE_LABELS:
        label = _LINE_LABELS[line.layer][0 if zh else 1]
    else:
        labels = _GROUPS.get(line.layer)
        label = line.layer if labels is None else labels["zh" if zh else "en"]
    return structs.replace(line, label=label, text=_line_text(line, answer, zh))


def _line_text(line: Layer, answer: QuoteResponse, zh: bool) -> str:
    p, risk, dq = answer.pricing, answer.risk, answer.data_quality
    cost = _effect(line.premium_effect_cny, zh)
    pct = f"{line.pct:+.1f}%"
    if line.layer == INTENSITY:
        hours = risk.projected_worker_hours
        term = risk.trend_factor * risk.season_factor
        ratio = 100 * (p.book_loss_ratio or 0.0)
        if zh:
            return (
                f"保单期内预计考勤{hours:,.0f}工时（阶段与季节系数{term:.3f}）；按全市平均风险，"
                f"这些工时的预期赔付与基础保费在整体赔付率{ratio:.1f}%下所对应"
                f"赔付之比为{line.factor:.3f}，{cost}（{pct}）。"
            )
        return (
            f"{hours:,.0f} worker-hours projected for the term (stage and season factor "
            f"{term:.3f}); at the book's average risk their expected loss is "
            f"{line.factor:.3f} times the loss the base premium implies at the book loss "
            f"ratio of {ratio:.1f}%; {cost} ({pct})."
        )
    if line.layer == OFF_BALANCE:
        if zh:
            return (
                f"整体平衡系数{line.factor:.3f}，使全部业务调整后总保费等于费率表总保费；"
                f"{cost}（{pct}）。"
            )
        return (
            f"Off-balance factor {line.factor:.3f}, which keeps the book's total premium "
            f"after adjustment equal to the tariff total; {cost} ({pct})."
        )
    if line.layer == FLOATING:
        return _floating_text(answer, cost, pct, zh)
    if line.layer == GATE:
        # the gate withholds a discount by raising the premium back to the adjusted one
        if dq.passed or line.factor <= 1.0:
            if not dq.reasons:
                return (
                    "数据测评门槛未扣减优惠。" if zh else "The data-quality gate withheld nothing."
                )
            return (
                "数据测评未达标，但本单无优惠可扣减。"
                if zh
                else "The data quality is below the thresholds; no discount to withhold."
            )
        reasons = ", ".join(dq.reasons)
        if zh:
            return f"智慧工地数据未达数据测评门槛（{reasons}），不给予优惠：{cost}（{pct}）。"
        return (
            f"The smart-site data does not reach the data-quality thresholds ({reasons}), "
            f"so no discount is given: {cost} ({pct})."
        )
    if line.layer == BAND:
        if p.clipped is None:
            return "调整在浮动区间内，未截断。" if zh else "The adjustment lies inside the band."
        edge = p.band.max_pct if p.clipped == "high" else p.band.min_pct
        if zh:
            return f"调整超出浮动区间，按{edge:+g}%截断：{cost}（{pct}）。"
        return f"The adjustment is capped at the band's {edge:+g}%: {cost} ({pct})."
    labels = _GROUPS.get(line.layer, {"zh": line.layer, "en": line.layer})
    if zh:
        direction = "高于" if line.factor >= 1 else "低于"
        return (
            f"{labels['zh']}：模型评估本组风险{direction}全市平均（系数{line.factor:.3f}），"
            f"{cost}（{pct}）。"
        )
    direction = "above" if line.factor >= 1 else "below"
    return (
        f"{labels['en']}: the model rates this group's risk {direction} the book's "
        f"average (factor {line.factor:.3f}); {cost} ({pct})."
    )


def _floating_text(answer: QuoteResponse, cost: str, pct: str, zh: bool) -> str:
    move = answer.pricing.floating
    if move is None:  # the line exists only with a move
        return f"费率浮动：{cost}（{pct}）。" if zh else f"Floating: {cost} ({pct})."
    if move.worst_grade is None:
        accidents = "回溯期内无事故" if zh else "no accident in the lookback"
    else:
        g_zh, g_en = GRADE_LABELS.get(move.worst_grade, (move.worst_grade, move.worst_grade))
        accidents = (
            f"回溯期内{move.incidents}起事故，最重为{g_zh}"
            if zh
            else f"{move.incidents} accident(s) in the lookback, the worst a {g_en}"
        )
    parts = [
        f"{accidents}（{move.accident_pct:+g}%）"
        if zh
        else f"{accidents} ({move.accident_pct:+g}%)"
    ]
    if move.award is not None:
        a_zh, a_en = AWARD_LABELS.get(move.award, (move.award, move.award))
        parts.append(f"{a_zh}（{move.award_pct:+g}%）" if zh else f"{a_en} ({move.award_pct:+g}%)")
    if zh:
        return f"费率浮动：{'，'.join(parts)}；{cost}（{pct}）。"
    return f"Floating schedule: {'; '.join(parts)}; {cost} ({pct})."


# --- recommendations ---------------------------------------------------------------------


def _column_label(column: str, zh: bool) -> str:
    try:
        col = spec.column("site_months", column)
    except KeyError:
        return column
    return col.zh if zh else col.meaning


def _shown(rec: Recommendation, value: float) -> str:
    return f"{100 * value:.1f}%" if rec.direction == "increase" else f"{value:.2f}"


def _recommendation(r: Recommendation, answer: QuoteResponse, zh: bool) -> Recommendation:
    premium, saving = _cny(r.estimated_premium_cny), _cny(r.estimated_saving_cny)
    if r.target_source == "combined":
        return structs.replace(r, label="综合改进计划" if zh else "All improvements together",
                               text=_combined_text(r, premium, saving, zh))  # fmt: skip
    if r.target_source == "data_quality_gate":
        return _gate_recommendation(r, answer, premium, saving, zh)
    label = _column_label(r.metric, zh)
    cur, tgt = _shown(r, r.current), _shown(r, r.target)
    if zh:
        source = "激励门槛" if r.target_source == "incentive" else "同类工地中位数"
        if r.metric == "hazard_rectification_rate":
            # unrectified hazards are advised as rectifying them, never as finding fewer
            what = f"若未来几个月及时整改已排查出的隐患，{label}从{cur}提高至{tgt}（{source}）"
        elif r.direction == "increase":
            what = f"若未来几个月{label}从{cur}提高至{tgt}（{source}）"
        else:
            # a count falls by removing the risk, never by looking or reporting less
            what = (
                f"若未来几个月通过消除风险使{label}从{cur}次/万工时降低至{tgt}次/万工时"
                f"（{source}；隐患排查和数据上报不减，设备保持在线）"
            )
        text = f"{what}，模型估算保费约{premium}元，可节省{saving}元。此为模型估算，非承诺报价。"
    else:
        source = "the incentive threshold" if r.target_source == "incentive" else "the peer median"
        if r.metric == "hazard_rectification_rate":
            what = (
                f"If over the next months the hazards found were rectified in time, the "
                f"rectification rate rising to {tgt} from {cur} ({source})"
            )
        elif r.direction == "increase":
            what = f"If over the next months {label} rose to {tgt} from {cur} ({source})"
        else:
            what = (
                f"If over the next months removing the risk brought {label} down to {tgt} "
                f"per 10k worker-hours from {cur} ({source}; inspections, reporting and "
                "devices kept up)"
            )
        text = (
            f"{what}, the model estimates a premium of CNY {premium}, saving CNY "
            f"{saving}. A model estimate, not an offer."
        )
    return structs.replace(r, label=label, text=text)


def _combined_text(r: Recommendation, premium: str, saving: str, zh: bool) -> str:
    columns = [c for c in r.target_reference.split(",") if c]
    n = len(columns)
    if zh:
        names = "、".join(_column_label(c, True) for c in columns)
        return (
            f"若未来几个月同时达成以上{n}项目标（{names}），按同一费率方案"
            f"（数据测评门槛、浮动区间与整体平衡系数）估算保费约{premium}元，"
            f"可节省{saving}元。此为模型估算，非承诺报价。"
        )
    names = ", ".join(_column_label(c, False) for c in columns)
    return (
        f"If over the next months all {n} targets above were reached "
        f"together ({names}), the same rating plan (data-quality gate, band and "
        f"off-balance factor) estimates a premium of CNY {premium}, saving "
        f"CNY {saving}. A model estimate, not an offer."
    )


def _gate_recommendation(
    r: Recommendation, answer: QuoteResponse, premium: str, saving: str, zh: bool
) -> Recommendation:
    window = answer.data_quality.window_months
    target = r.target
    if r.metric == "device_online_rate":
        what = (
            f"设备在线率达到{100 * target:.0f}%以上（近{window}个月平均）"
            if zh
            else f"devices online at least {100 * target:.0f}% of the time (mean of the "
            f"last {window} months)"
        )
    elif r.metric == "data_completeness":
        what = (
            f"数据完整率达到{100 * target:.0f}%以上（近{window}个月平均）"
            if zh
            else f"data completeness of at least {100 * target:.0f}% (mean of the last "
            f"{window} months)"
        )
    else:
        needed = int(target)
        what = (
            f"近{window}个月中至少{needed}个月按时报送智慧工地数据"
            if zh
            else f"smart-site data reported in at least {needed} of the last {window} months"
        )
    if r.metric == "months_reported":
        label = "数据报送月数" if zh else "months with smart-site data"
    else:
        label = _column_label(r.metric, zh)
    if zh:
        text = (
            f"本次因数据测评未达标未给予优惠。若未来几个月{what}，按当前风险可获得的优惠为"
            f"{saving}元，保费约{premium}元。报送更多数据不会提高保费。"
        )
    else:
        text = (
            f"No discount was given this time because the data quality is below the "
            f"thresholds. With {what} over the next months, the discount the current risk "
            f"earns is CNY {saving}, a premium of about CNY {premium}. "
            "Reporting more never raises the premium."
        )
    return structs.replace(r, label=label, text=text)


# --- incentives --------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _rule_labels(version: str) -> dict[tuple[str, str | None], tuple[str, str]]:
    """(tier, None) and (tier, criterion) -> (zh, en) of a shipped incentive rule set."""
    try:
        rules = load_incentives(version)
    except RuleError:
        return {}
    out: dict[tuple[str, str | None], tuple[str, str]] = {}
    for tier in rules.tiers:
        out[tier.name, None] = (tier.zh, tier.en)
        for c in tier.criteria:
            out[tier.name, c.name] = (c.zh, c.en)
    return out


def _incentives(i: Incentives, zh: bool) -> Incentives:
    labels = _rule_labels(i.rule_set_version)
    pick = 0 if zh else 1

    def criterion(tier: str, c: CriterionOut) -> CriterionOut:
        found = labels.get((tier, c.name))
        reason: str | UnsetType = UNSET
        if c.reason_code is not UNSET:
            why = NOT_EVALUABLE.get(c.reason_code, ("无法评估", "not evaluable"))[pick]
            reason = f"{_NOT_EVALUABLE_PREFIX['zh' if zh else 'en']}{why}"
        return structs.replace(c, label=c.name if found is None else found[pick], reason=reason)

    def tier(t: TierOut) -> TierOut:
        found = labels.get((t.tier, None))
        return structs.replace(
            t,
            label=t.tier if found is None else found[pick],
            criteria=[criterion(t.tier, c) for c in t.criteria],
        )

    return structs.replace(i, tiers=[tier(t) for t in i.tiers])


# --- the prevention plan -----------------------------------------------------------------


def _services(pricing: Pricing, books: BookLookup | None) -> dict[str, PreventionService]:
    ref = pricing.rate_book
    if ref is None or books is None:
        return {}
    book = books(ref.insurer_id, ref.version)
    return {} if book is None else {s.name: s for s in book.prevention}


def _plan_shown(unit: str, value: float) -> str:
    return f"{100 * value:.1f}%" if unit == "share" else f"{value:.2f}"


def _prevention_item(
    i: PreventionItem, service: PreventionService | None, zh: bool
) -> PreventionItem:
    groups = _GROUPS.get(i.group, {"zh": i.group, "en": i.group})
    group = groups["zh" if zh else "en"]
    metric = _column_label(i.metric, zh)
    if service is None:  # the book is not stored here: its names only
        name, unit_name, max_units = i.service, "", None
    else:
        name = service.label_zh if zh else service.label_en
        unit_name = service.unit_zh if zh else service.unit_en
        max_units = service.max_units
    cur, tgt = _plan_shown(i.unit, i.current), _plan_shown(i.unit, i.target)
    capped = i.reached != i.target
    cost, saving = _cny(i.cost_cny), _cny(i.premium_saving_cny)
    if zh:
        per = "" if i.unit == "share" else "次/万工时"
        reach = (
            ""
            if not capped
            else f"（上限{max_units}{unit_name}，可达{_plan_shown(i.unit, i.reached)}）"
        )
        text = (
            f"{group}：{metric}为{cur}{per}，费率表目标{tgt}{per}。"
            f"建议{name}{i.units}{unit_name}{reach}，费用约{cost}元；"
            f"模型估算可使预期损失降低{i.risk_reduction_pct:.1f}%，保费可节省{saving}元。"
        )
        if i.not_funded == "over_budget":
            text += "超出剩余预算，本期未安排。"
        elif i.not_funded == "no_risk_reduction":
            text += "模型认为缩小该差距不降低风险，未安排。"
    else:
        per = "" if i.unit == "share" else " per 10k worker-hours"
        reach = (
            ""
            if not capped
            else f" (at most {max_units} a term, reaching {_plan_shown(i.unit, i.reached)})"
        )
        text = (
            f"{group}: {metric} is {cur}{per} against the book's target of "
            f"{tgt}{per}. {name}: {i.units} {unit_name}(s){reach}, costing about "
            f"CNY {cost}; the model estimates the expected loss falls by "
            f"{i.risk_reduction_pct:.1f}% and the premium by CNY {saving}."
        )
        if i.not_funded == "over_budget":
            text += " It does not fit in what is left of the budget."
        elif i.not_funded == "no_risk_reduction":
            text += " The model credits closing this gap with no risk reduction."
    return structs.replace(
        i, label=name, group_label=group, metric_label=metric, unit_label=unit_name, text=text
    )


def _prevention(
    plan: PreventionPlanOut, services: dict[str, PreventionService], zh: bool
) -> PreventionPlanOut:
    items = [_prevention_item(i, services.get(i.service), zh) for i in plan.items]
    budget, cost, left = _cny(plan.budget_cny), _cny(plan.cost_cny), _cny(plan.remaining_cny)
    share = f"{100 * plan.share:g}"
    if items:
        if zh:
            bought = "、".join(f"{i.label}{i.units}{i.unit_label}" for i in items)
            text = (
                f"预防服务预算{budget}元（保费的{share}%），"
                f"按每元降低风险最多的顺序安排：{bought}，合计{cost}元，余{left}元。"
            )
        else:
            bought = ", ".join(f"{i.label} ×{i.units}" for i in items)
            text = (
                f"Prevention budget CNY {budget} ({share}% of the premium), spent where each "
                f"yuan removes the most risk: {bought}; CNY {cost} in all, CNY {left} left."
            )
    elif zh:
        text = (
            f"预防服务预算{budget}元（保费的{share}%）；"
            "本工地没有可按费率表目标安排的服务项目，预算可用于其他事故预防服务。"
        )
    else:
        text = (
            f"Prevention budget CNY {budget} ({share}% of the premium); no service of the "
            "book is needed against its targets here, so the budget is free for other "
            "prevention services."
        )
    return structs.replace(
        plan,
        items=items,
        not_funded=[_prevention_item(i, services.get(i.service), zh) for i in plan.not_funded],
        text=text,
    )
