"""A quote's explanation: the rating plan's lines (the 工地画像 groups, the exposure
intensity, the off-balance factor, the data-quality gate, the band), one
multiplicative factor per feature inside its group, each with a sentence in Chinese and
English naming the site's value and the peer median (a categorical feature names its
category only), and the same factors folded by source metric: a metric measured over
1, 3 and 6 months is one metric whose sentence names every window.

The numbers come from :func:`models.pricing.price`: TreeSHAP contributions φ in the
model's log space, factor exp(φ), lines whose cents add up exactly to final minus base
premium, and features whose cents add up to their group's line. Here they are only
labelled and formatted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import cache, lru_cache
from typing import Final

from models.contract.spec import (
    DISTRICT_LABELS,
    GROUP_LABELS,
    PROJECT_TYPE_LABELS,
    STAGE_LABELS,
    Group,
)
from models.features import CATEGORIES, FEATURES, Feature
from models.pricing import PlanPrice
from models.pricing.floating import AWARD_LABELS, GRADE_LABELS, FloatingMove
from models.pricing.premium import BAND, FLOATING, GATE, INTENSITY, OFF_BALANCE, Line
from service.quotes.schemas import (
    Factor,
    GroupOut,
    Layer,
    Metric,
    MetricWindow,
    Risk,
    Text,
)

BY_NAME: Final[dict[str, Feature]] = {f.name: f for f in FEATURES}
# Display names of categorical codes, (Chinese, English), by feature.
CATEGORY_LABELS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "district": DISTRICT_LABELS,
    "project_type": PROJECT_TYPE_LABELS,
    "stage_last": STAGE_LABELS,
}
# A feature's window: <column>_1m/_3m/_6m, <column>_per_10kwh_3m, ..._per_10k_online_wh_6m.
_WINDOW: Final = re.compile(r"^(?P<stem>.+)_(?P<k>\d+)m$")
_ZH_WINDOW: Final = re.compile(r"^(上月|近\d+月)")
_EN_WINDOW: Final = re.compile(r", (last month|last \d+ months)$")
GROUP_ORDER: Final = tuple(g.value for g in Group)
_LABELS: Final = {g.value: GROUP_LABELS[g] for g in Group}

# unit -> (decimals, Chinese suffix, English suffix)
_UNITS: Final[dict[str, tuple[int, str, str]]] = {
    "per 10k worker-hours": (2, "次/万工时", " per 10k worker-hours"),
    "per 10k online worker-hours": (2, "次/万在线工时", " per 10k online worker-hours"),
    "CNY per 10k worker-hours": (0, "元/万工时", " CNY per 10k worker-hours"),
    "months": (1, "个月", " months"),
    "m²": (0, "平方米", " m²"),
    "m": (1, "米", " m"),
    "workers": (0, "人", " workers"),
    "worker-hours": (0, "工时", " worker-hours"),
    "days": (1, "天", " days"),
    "claims": (0, "件", " claims"),
    "sites": (0, "个", " sites"),
    "": (0, "", ""),
}


def finite(value: float | None) -> float | None:
    """JSON has no NaN: a missing or non-finite figure is None."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def money(amount: Decimal) -> float:
    """Cents as a JSON number: Decimal('12.30') -> 12.3 (exact to the cent)."""
    return float(amount)


def category(feature: Feature, value: float | None) -> str | None:
    if not feature.categorical or value is None or not math.isfinite(value):
        return None
    options = CATEGORIES.get(feature.name, ())
    index = int(value)
    return options[index] if 0 <= index < len(options) else None


def format_value(feature: Feature, value: float | None) -> tuple[str, str]:
    """(Chinese, English) rendering of a feature value in its unit."""
    if value is None or not math.isfinite(value):
        return "未报送", "not reported"
    return _formatted(feature.name, float(value))


# Peer medians repeat in every answer, and many values recur: remembered, not redone.
@lru_cache(maxsize=8192)
def _formatted(name: str, value: float) -> tuple[str, str]:
    feature = BY_NAME[name]
    if feature.categorical:
        code = category(feature, value)
        if code is None:
            return f"{value:g}", f"{value:g}"
        return CATEGORY_LABELS.get(feature.name, {}).get(code, (code, code))
    if feature.unit == "%":
        text = f"{100.0 * value:.1f}%"
        return text, text
    if feature.unit == "log CNY":
        cny = math.exp(value)
        return f"{cny / 1e4:,.0f}万元", f"CNY {cny / 1e6:,.1f}M"
    decimals, zh, en = _UNITS.get(feature.unit, (2, feature.unit, f" {feature.unit}"))
    if decimals == 0 and feature.unit == "" and not value.is_integer():
        decimals = 2
    number = f"{value:,.{decimals}f}"
    return f"{number}{zh}", f"{number}{en}"


def sentence(
    feature: Feature,
    value: float | None,
    median: float | None,
    factor: float,
    effect: Decimal,
) -> Text:
    v_zh, v_en = format_value(feature, value)
    risk_zh, risk_en, cost_zh, cost_en = _risk_cost(factor, effect)
    label_en = f"{feature.en[:1].upper()}{feature.en[1:]}"
    if feature.categorical:  # a category has no peer median
        return Text(
            zh=f"{feature.zh}：{v_zh}；{risk_zh}（系数{factor:.3f}），{cost_zh}。",
            en=f"{label_en}: {v_en}; {risk_en} (factor {factor:.3f}) and {cost_en}.",
        )
    m_zh, m_en = format_value(feature, median) if median is not None else ("无", "n/a")
    return Text(
        zh=f"{feature.zh}：本工地{v_zh}，同类工地中位数{m_zh}；{risk_zh}（系数{factor:.3f}），{cost_zh}。",
        en=(
            f"{label_en}: {v_en} at this site against a peer median "
            f"of {m_en}; {risk_en} (factor {factor:.3f}) and {cost_en}."
        ),
    )


def _risk_cost(factor: float, effect: Decimal) -> tuple[str, str, str, str]:
    pct = abs(factor - 1.0) * 100.0
    if factor >= 1.0:
        risk_zh, risk_en = f"使风险上升{pct:.1f}%", f"raises the risk estimate by {pct:.1f}%"
    else:
        risk_zh, risk_en = f"使风险下降{pct:.1f}%", f"lowers the risk estimate by {pct:.1f}%"
    # cents render alike as a float (far below 2**53 cents), and much faster
    cents = float(effect)
    if cents > 0:
        cost_zh, cost_en = f"保费增加{cents:,.2f}元", f"adds CNY {cents:,.2f} to the premium"
    elif cents < 0:
        cost_zh, cost_en = f"保费减少{-cents:,.2f}元", f"takes CNY {-cents:,.2f} off the premium"
    else:
        cost_zh, cost_en = "保费不变", "leaves the premium unchanged"
    return risk_zh, risk_en, cost_zh, cost_en


def factors(
    adjustment: PlanPrice,
    values: Mapping[str, float],
    peer_medians: Mapping[str, float],
    *,
    with_text: int | None = None,
) -> list[Factor]:
    """Every feature that moved the model (φ ≠ 0 or a cent of effect), largest |φ|
    first, each with its sentence (only the first ``with_text`` when given)."""
    moved = [e for e in adjustment.features if e.contribution != 0.0 or e.premium_effect != 0]
    moved.sort(key=lambda e: -abs(e.contribution))  # stable: ties keep the model's order
    out = []
    isfinite = math.isfinite
    for rank, effect in enumerate(moved):
        feature = BY_NAME[effect.name]
        value = values.get(effect.name)
        value = float(value) if value is not None and isfinite(value) else None
        median = peer_medians.get(effect.name)
        median = float(median) if median is not None and isfinite(median) else None
        text = None
        if with_text is None or rank < with_text:
            text = sentence(feature, value, median, effect.factor, effect.premium_effect)
        out.append(
            Factor(
                feature=effect.name,
                group=effect.group,
                value=value,
                value_label=category(feature, value) if feature.categorical else None,
                peer_median=median,
                contribution=effect.contribution,
                factor=effect.factor,
                premium_effect_cny=money(effect.premium_effect),
                text=text,
            )
        )
    return out


def _metric_key(name: str) -> tuple[str, int | None]:
    found = _WINDOW.match(name)
    if found is None:
        return name, None
    return found["stem"], int(found["k"])


_METRIC_KEYS: Final = {f.name: _metric_key(f.name) for f in FEATURES}


def metric_key(feature: Feature) -> tuple[str, int | None]:
    """(metric, window in months): the feature's name without its window suffix, or its
    whole name (and no window) when it has none."""
    return _METRIC_KEYS[feature.name]


@cache
def metric_label(feature: Feature) -> Text:
    """The feature's label without its window (近3月…, …, last 3 months)."""
    en = _EN_WINDOW.sub("", feature.en)
    return Text(zh=_ZH_WINDOW.sub("", feature.zh), en=f"{en[:1].upper()}{en[1:]}")


def _window_names(k: int | None) -> tuple[str, str]:
    if k is None:
        return "", ""
    if k == 1:
        return "上月", "last month"
    return f"近{k}月", f"over {k} months"


def _metric_text(
    label: Text,
    features: list[Feature],
    windows: list[MetricWindow],
    factor: float,
    effect: Decimal,
) -> Text:
    risk_zh, _, cost_zh, _ = _risk_cost(factor, effect)
    vals_zh, vals_en, meds_zh, meds_en = [], [], [], []
    for feature, w in zip(features, windows, strict=True):
        wz, we = _window_names(w.window_months)
        v_zh, v_en = format_value(feature, w.value)
        m_zh, m_en = (
            format_value(feature, w.peer_median) if w.peer_median is not None else ("无", "n/a")
        )
        vals_zh.append(f"{wz}{v_zh}")
        vals_en.append(f"{v_en} {we}")
        meds_zh.append(f"{wz}{m_zh}")
        meds_en.append(m_en)
    return Text(
        zh=(
            f"{label.zh}：本工地{'、'.join(vals_zh)}，同类工地中位数{'、'.join(meds_zh)}；"
            f"合计{risk_zh}（系数{factor:.3f}），{cost_zh}。"
        ),
        en=(
            f"{label.en}: {', '.join(vals_en)} at this site against peer medians of "
            f"{', '.join(meds_en)}; together they {_together_en(factor, effect)}."
        ),
    )


def _together_en(factor: float, effect: Decimal) -> str:
    pct = abs(factor - 1.0) * 100.0
    way = "raise" if factor >= 1.0 else "lower"
    cents = float(effect)
    if cents > 0:
        cost = f"add CNY {cents:,.2f} to the premium"
    elif cents < 0:
        cost = f"take CNY {-cents:,.2f} off the premium"
    else:
        cost = "leave the premium unchanged"
    return f"{way} the risk estimate by {pct:.1f}% (factor {factor:.3f}) and {cost}"


def metrics(adjustment: PlanPrice, found: list[Factor]) -> list[Metric]:
    """The factors folded by source metric (same source columns, unit and name but for
    the window), largest |contribution| first. A metric's contribution and cents are
    the sums of its features'; a one-feature metric keeps the feature's sentence."""
    cents = {e.name: e.premium_effect for e in adjustment.features}
    folded: dict[tuple[str, str, str, str], list[Factor]] = {}
    for f in found:
        feature = BY_NAME[f.feature]
        stem, _ = metric_key(feature)
        folded.setdefault((f.group, feature.source, feature.unit, stem), []).append(f)
    out = []
    for (group, _, _, stem), members in folded.items():
        members.sort(key=lambda f: metric_key(BY_NAME[f.feature])[1] or 0)
        features = [BY_NAME[f.feature] for f in members]
        windows = [
            MetricWindow(
                feature=f.feature,
                window_months=metric_key(BY_NAME[f.feature])[1],
                value=f.value,
                value_label=f.value_label,
                peer_median=f.peer_median,
            )
            for f in members
        ]
        contribution = math.fsum(f.contribution for f in members)
        factor = math.exp(contribution)
        effect = sum((cents[f.feature] for f in members), Decimal(0))
        if len(members) == 1:
            (only,) = members
            label = Text(zh=features[0].zh, en=features[0].en[:1].upper() + features[0].en[1:])
            text = only.text or sentence(features[0], only.value, only.peer_median, factor, effect)
            stem = only.feature
        else:
            label = metric_label(features[0])
            text = _metric_text(label, features, windows, factor, effect)
        out.append(
            Metric(
                metric=stem,
                group=group,
                label=label,
                features=[f.feature for f in members],
                windows=windows,
                contribution=contribution,
                factor=factor,
                premium_effect_cny=money(effect),
                text=text,
            )
        )
    out.sort(key=lambda m: -abs(m.contribution))
    return out


def groups(adjustment: PlanPrice) -> list[GroupOut]:
    """The eight groups in their fixed order; a group no feature reached has factor 1."""
    found = {g.name: g for g in adjustment.groups}
    out = []
    for name in GROUP_ORDER:
        labels = _LABELS[name]
        g = found.get(name)
        out.append(
            GroupOut(
                group=name,
                label=Text(zh=labels["zh"], en=labels["en"]),
                factor=g.factor if g else 1.0,
                premium_effect_cny=money(g.premium_effect) if g else 0.0,
                features=list(g.features) if g else [],
            )
        )
    return out


NOTE: Final = Text(
    zh=(
        "各因素系数为模型对数空间中精确TreeSHAP贡献的指数，连乘等于相对风险。保费按费率方案逐层计算："
        "基础保费依次乘以各工地画像分组系数、工时与工期强度、整体平衡系数，再经数据测评门槛与浮动区间；"
        "每层的百分比等于该层保费影响除以该层之前的保费，各层影响精确到分，合计等于最终保费减基础保费；"
        "分组内各因素按贡献比例分摊该组的影响。"
    ),
    en=(
        "Each factor is exp of the feature's exact TreeSHAP contribution in the model's "
        "log space; the factors multiply to the relativity. The premium is built layer by "
        "layer: the base times each 工地画像 group's factor, the exposure intensity and the "
        "off-balance factor, then the data-quality gate and the band. Each layer's "
        "percentage is its premium effect over the premium before it; the effects are in "
        "cents and add up to final minus base premium, and a group's features share its "
        "effect in proportion to their contributions."
    ),
)

_LINE_LABELS: Final[dict[str, tuple[str, str]]] = {
    INTENSITY: ("工时与工期强度", "Exposure for the term"),
    OFF_BALANCE: ("整体平衡系数", "Off-balance factor"),
    FLOATING: ("费率浮动（事故记录与安全奖项）", "Floating (accident record and safety awards)"),
    GATE: ("数据测评门槛", "Data-quality gate"),
    BAND: ("浮动区间", "Adjustment band"),
}


def _effect(effect: Decimal) -> tuple[str, str]:
    if effect > 0:
        return f"保费增加{effect:,.2f}元", f"adds CNY {effect:,.2f}"
    if effect < 0:
        return f"保费减少{-effect:,.2f}元", f"takes CNY {-effect:,.2f} off"
    return "保费不变", "leaves the premium unchanged"


def _floating_text(line: Line, move: FloatingMove | None) -> Text:
    cost_zh, cost_en = _effect(line.effect)
    pct = f"{line.pct:+.1f}%"
    if move is None:  # pragma: no cover - the line exists only with a move
        return Text(zh=f"费率浮动：{cost_zh}（{pct}）。", en=f"Floating: {cost_en} ({pct}).")
    if move.worst_grade is None:
        acc_zh, acc_en = "回溯期内无事故", "no accident in the lookback"
    else:
        zh, en = GRADE_LABELS[move.worst_grade]
        acc_zh = f"回溯期内{len(move.incidents)}起事故，最重为{zh}"
        acc_en = f"{len(move.incidents)} accident(s) in the lookback, the worst a {en}"
    parts_zh = [f"{acc_zh}（{move.accident_pct:+g}%）"]
    parts_en = [f"{acc_en} ({move.accident_pct:+g}%)"]
    if move.award is not None:
        zh, en = AWARD_LABELS[move.award]
        parts_zh.append(f"{zh}（{move.award_pct:+g}%）")
        parts_en.append(f"{en} ({move.award_pct:+g}%)")
    return Text(
        zh=f"费率浮动：{'，'.join(parts_zh)}；{cost_zh}（{pct}）。",
        en=f"Floating schedule: {'; '.join(parts_en)}; {cost_en} ({pct}).",
    )


def _line_text(
    line: Line, a: PlanPrice, risk: Risk, book_loss_ratio: float, dq_reasons: tuple[str, ...]
) -> Text:
    cost_zh, cost_en = _effect(line.effect)
    pct = f"{line.pct:+.1f}%"
    if line.layer == INTENSITY:
        hours = risk.projected_worker_hours
        term = risk.trend_factor * risk.season_factor
        return Text(
            zh=(
                f"保单期内预计考勤{hours:,.0f}工时（阶段与季节系数{term:.3f}）；按全市平均风险，"
                f"这些工时的预期赔付与基础保费在整体赔付率{100 * book_loss_ratio:.1f}%下所对应"
                f"赔付之比为{line.factor:.3f}，{cost_zh}（{pct}）。"
            ),
            en=(
                f"{hours:,.0f} worker-hours projected for the term (stage and season factor "
                f"{term:.3f}); at the book's average risk their expected loss is "
                f"{line.factor:.3f} times the loss the base premium implies at the book loss "
                f"ratio of {100 * book_loss_ratio:.1f}%; {cost_en} ({pct})."
            ),
        )
    if line.layer == OFF_BALANCE:
        return Text(
            zh=f"整体平衡系数{line.factor:.3f}，使全部业务调整后总保费等于费率表总保费；{cost_zh}（{pct}）。",
            en=(
                f"Off-balance factor {line.factor:.3f}, which keeps the book's total premium "
                f"after adjustment equal to the tariff total; {cost_en} ({pct})."
            ),
        )
    if line.layer == GATE:
        if not a.discount_withheld:
            return Text(
                zh="数据测评门槛未扣减优惠。"
                if not dq_reasons
                else "数据测评未达标，但本单无优惠可扣减。",
                en=(
                    "The data-quality gate withheld nothing."
                    if not dq_reasons
                    else "The data quality is below the thresholds; no discount to withhold."
                ),
            )
        reasons = ", ".join(dq_reasons)
        return Text(
            zh=f"智慧工地数据未达数据测评门槛（{reasons}），不给予优惠：{cost_zh}（{pct}）。",
            en=(
                f"The smart-site data does not reach the data-quality thresholds ({reasons}), "
                f"so no discount is given: {cost_en} ({pct})."
            ),
        )
    if line.layer == BAND:
        if not (a.clipped_low or a.clipped_high):
            return Text(zh="调整在浮动区间内，未截断。", en="The adjustment lies inside the band.")
        edge = a.band.max_pct if a.clipped_high else a.band.min_pct
        return Text(
            zh=f"调整超出浮动区间，按{edge:+g}%截断：{cost_zh}（{pct}）。",
            en=f"The adjustment is capped at the band's {edge:+g}%: {cost_en} ({pct}).",
        )
    labels = _LABELS.get(line.layer, {"zh": line.layer, "en": line.layer})
    direction_zh = "高于" if line.factor >= 1 else "低于"
    direction_en = "above" if line.factor >= 1 else "below"
    return Text(
        zh=(
            f"{labels['zh']}：模型评估本组风险{direction_zh}全市平均（系数{line.factor:.3f}），"
            f"{cost_zh}（{pct}）。"
        ),
        en=(
            f"{labels['en']}: the model rates this group's risk {direction_en} the book's "
            f"average (factor {line.factor:.3f}); {cost_en} ({pct})."
        ),
    )


def layers(
    a: PlanPrice,
    *,
    model_version: str,
    plan_version: str,
    risk: Risk,
    book_loss_ratio: float,
    dq_reasons: tuple[str, ...],
    floating: FloatingMove | None = None,
) -> list[Layer]:
    """The plan's lines in the order they apply, each with its wording and cents."""
    out = []
    kinds = {
        INTENSITY: "exposure", OFF_BALANCE: "book", FLOATING: "floating", GATE: "gate",
        BAND: "band",
    }  # fmt: skip
    for line in a.lines:
        if line.layer in _LINE_LABELS:
            zh, en = _LINE_LABELS[line.layer]
            kind = kinds[line.layer]
            # the gate, the band and the floating schedule are the band's book's
            version = a.band.version if line.layer in (GATE, BAND, FLOATING) else plan_version
        else:
            labels = _LABELS.get(line.layer, {"zh": line.layer, "en": line.layer})
            zh, en, kind, version = labels["zh"], labels["en"], "model_group", model_version
        out.append(
            Layer(
                layer=line.layer,
                kind=kind,  # type: ignore[arg-type]  # one of the Literal's values above
                label=Text(zh=zh, en=en),
                factor=line.factor,
                pct=line.pct + 0.0,
                premium_before_cny=money(line.before),
                premium_effect_cny=money(line.effect),
                version=version,
                text=(
                    _floating_text(line, floating)
                    if line.layer == FLOATING
                    else _line_text(line, a, risk, book_loss_ratio, dq_reasons)
                ),
            )
        )
    return out
