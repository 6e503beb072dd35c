"""A quote's explanation as language-neutral facts: the rating plan's lines (the 工地画像
groups, the exposure intensity, the off-balance factor, the data-quality gate, the
band), one multiplicative factor per feature inside its group with the site's value
and the peer median, and the same factors folded by source metric: a metric measured
over 1, 3 and 6 months is one metric with every window.

The numbers come from :func:`models.pricing.price`: TreeSHAP contributions φ in the
model's log space, factor exp(φ), lines whose cents add up exactly to final minus base
premium, and features whose cents add up to their group's line. Their labels and
sentences, in the caller's language, are :mod:`service.quotes.texts`'; how a value is
written in its unit (:func:`format_value`) is here, shared with the portal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Final

from models.contract.spec import (
    DISTRICT_LABELS,
    PROJECT_TYPE_LABELS,
    STAGE_LABELS,
    Group,
)
from models.features import CATEGORIES, FEATURES, Feature
from models.pricing import PlanPrice
from models.pricing.premium import BAND, FLOATING, GATE, INTENSITY, OFF_BALANCE
from service.quotes.schemas import (
    Factor,
    GroupOut,
    Layer,
    Metric,
    MetricWindow,
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
GROUP_ORDER: Final = tuple(g.value for g in Group)

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


def factors(
    adjustment: PlanPrice,
    values: Mapping[str, float],
    peer_medians: Mapping[str, float],
) -> list[Factor]:
    """Every feature that moved the model (φ ≠ 0 or a cent of effect), largest |φ|
    first (its sentence is :mod:`service.quotes.texts`')."""
    moved = [e for e in adjustment.features if e.contribution != 0.0 or e.cents != 0]
    moved.sort(key=lambda e: -abs(e.contribution))  # stable: ties keep the model's order
    out = []
    isfinite = math.isfinite
    for effect in moved:
        feature = BY_NAME[effect.name]
        value = values.get(effect.name)
        value = float(value) if value is not None and isfinite(value) else None
        median = peer_medians.get(effect.name)
        median = float(median) if median is not None and isfinite(median) else None
        out.append(
            Factor(
                feature=effect.name,
                group=effect.group,
                value=value,
                value_label=category(feature, value) if feature.categorical else None,
                peer_median=median,
                contribution=effect.contribution,
                factor=effect.factor,
                premium_effect_cny=effect.cents / 100,  # the float nearest the cents
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


# A feature's metric (source columns, unit and name but for the window) and its window.
_FOLD: Final = {f.name: (f.source, f.unit, _METRIC_KEYS[f.name][0]) for f in FEATURES}
_WINDOW_OF: Final = {f.name: _METRIC_KEYS[f.name][1] for f in FEATURES}


def metrics(adjustment: PlanPrice, found: list[Factor]) -> list[Metric]:
    """The factors folded by source metric (same source columns, unit and name but for
    the window), largest |contribution| first. A metric's contribution and cents are
    the sums of its features' (its label and sentence are :mod:`service.quotes.texts`')."""
    cents = {e.name: e.cents for e in adjustment.features}
    folded: dict[tuple[str, tuple[str, str, str]], list[Factor]] = {}
    fold, window_of = _FOLD, _WINDOW_OF
    for f in found:
        folded.setdefault((f.group, fold[f.feature]), []).append(f)
    out = []
    for (group, (_, _, stem)), members in folded.items():
        if len(members) > 1:
            members.sort(key=lambda f: window_of[f.feature] or 0)
        windows = [
            MetricWindow(
                feature=f.feature,
                window_months=window_of[f.feature],
                value=f.value,
                value_label=f.value_label,
                peer_median=f.peer_median,
            )
            for f in members
        ]
        contribution = math.fsum(f.contribution for f in members)
        factor = math.exp(contribution)
        effect = sum([cents[f.feature] for f in members])
        if len(members) == 1:
            stem = members[0].feature
        out.append(
            Metric(
                metric=stem,
                group=group,
                features=[f.feature for f in members],
                windows=windows,
                contribution=contribution,
                factor=factor,
                premium_effect_cny=effect / 100,
            )
        )
    out.sort(key=lambda m: -abs(m.contribution))
    return out


def groups(adjustment: PlanPrice) -> list[GroupOut]:
    """The eight groups in their fixed order; a group no feature reached has factor 1."""
    found = {g.name: g for g in adjustment.groups}
    out = []
    for name in GROUP_ORDER:
        g = found.get(name)
        out.append(
            GroupOut(
                group=name,
                factor=g.factor if g else 1.0,
                premium_effect_cny=money(g.premium_effect) if g else 0.0,
                features=list(g.features) if g else [],
            )
        )
    return out


def layers(
    a: PlanPrice,
    *,
    model_version: str,
    plan_version: str,
) -> list[Layer]:
    """The plan's lines in the order they apply, each with its cents and the version it
    comes from (its label and sentence are :mod:`service.quotes.texts`')."""
    out = []
    kinds = {
        INTENSITY: "exposure", OFF_BALANCE: "book", FLOATING: "floating", GATE: "gate",
        BAND: "band",
    }  # fmt: skip
    for line in a.lines:
        if line.layer in kinds:
            kind = kinds[line.layer]
            # the gate, the band and the floating schedule are the band's book's
            version = a.band.version if line.layer in (GATE, BAND, FLOATING) else plan_version
        else:
            kind, version = "model_group", model_version
        out.append(
            Layer(
                layer=line.layer,
                kind=kind,  # type: ignore[arg-type]  # one of the Literal's values above
                factor=line.factor,
                pct=line.pct + 0.0,
                premium_before_cny=money(line.before),
                premium_effect_cny=money(line.effect),
                version=version,
            )
        )
    return out
