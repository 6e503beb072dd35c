"""A quote's explanation: one multiplicative factor per feature, grouped, each with a
sentence in Chinese and English naming the site's value and the peer median.

The numbers come from :func:`models.pricing.adjust`: TreeSHAP contributions φ in the
model's log space, factor exp(φ), and premium effects in cents that add up exactly to
final minus base premium. Here they are only labelled and formatted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from models.contract.spec import GROUP_LABELS, Group
from models.features import CATEGORIES, FEATURES, Feature
from models.pricing import Adjustment
from service.quotes.schemas import Factor, GroupOut, Text

BY_NAME: Final[dict[str, Feature]] = {f.name: f for f in FEATURES}
# Factors that get a sentence: the largest ones; the rest are numbers only.
TOP_FACTORS: Final = 10
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
    if feature.categorical:
        label = category(feature, value) or f"{value:g}"
        return label, label
    if feature.unit == "%":
        text = f"{100.0 * value:.1f}%"
        return text, text
    if feature.unit == "log CNY":
        cny = math.exp(value)
        return f"{cny / 1e4:,.0f}万元", f"CNY {cny / 1e6:,.1f}M"
    decimals, zh, en = _UNITS.get(feature.unit, (2, feature.unit, f" {feature.unit}"))
    if decimals == 0 and feature.unit == "" and not float(value).is_integer():
        decimals = 2
    number = f"{value:,.{decimals}f}"
    return f"{number}{zh}", f"{number}{en}"


def sentence(
    feature: Feature, value: float | None, median: float | None, factor: float, effect: Decimal
) -> Text:
    v_zh, v_en = format_value(feature, value)
    m_zh, m_en = format_value(feature, median) if median is not None else ("无", "n/a")
    pct = abs(factor - 1.0) * 100.0
    if factor >= 1.0:
        risk_zh, risk_en = f"使风险上升{pct:.1f}%", f"raises the risk estimate by {pct:.1f}%"
    else:
        risk_zh, risk_en = f"使风险下降{pct:.1f}%", f"lowers the risk estimate by {pct:.1f}%"
    if effect > 0:
        cost_zh, cost_en = f"保费增加{effect:,.2f}元", f"adds CNY {effect:,.2f} to the premium"
    elif effect < 0:
        cost_zh, cost_en = f"保费减少{-effect:,.2f}元", f"takes CNY {-effect:,.2f} off the premium"
    else:
        cost_zh, cost_en = "保费不变", "leaves the premium unchanged"
    return Text(
        zh=f"{feature.zh}：本工地{v_zh}，同类工地中位数{m_zh}；{risk_zh}（系数{factor:.3f}），{cost_zh}。",
        en=(
            f"{feature.en[:1].upper()}{feature.en[1:]}: {v_en} at this site against a peer median "
            f"of {m_en}; {risk_en} (factor {factor:.3f}) and {cost_en}."
        ),
    )


def factors(
    adjustment: Adjustment,
    values: Mapping[str, float],
    peer_medians: Mapping[str, float],
    *,
    with_text: int = TOP_FACTORS,
) -> list[Factor]:
    """Every feature that moved the model (φ ≠ 0 or a cent of effect), largest |φ|
    first; the first ``with_text`` carry their sentence."""
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
        if rank < with_text:
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


def groups(adjustment: Adjustment) -> list[GroupOut]:
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
        "各因素系数为模型对数空间中精确TreeSHAP贡献的指数，连乘等于相对风险；"
        "保费影响已计入可信度与浮动区间，按贡献比例分配至各因素并精确到分，合计等于最终保费减基础保费。"
    ),
    en=(
        "Each factor is exp of the feature's exact TreeSHAP contribution in the model's "
        "log space; the factors multiply to the relativity. Premium effects include "
        "credibility and the band and are shared out to the cent, adding up to final "
        "minus base premium."
    ),
)
