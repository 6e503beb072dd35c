"""What a site could improve, and the model's own estimate of what it would pay.

For every controllable metric of the contract (``spec.controllable()``) where the site
lags, the target is the most demanding incentive threshold on that metric it misses,
or else the peer median. The site's reported history is then moved to the target
(rates raised to it, counts cut to it, never made worse in any month, months not
reported left alone), features are rebuilt and the whole portfolio's variants are
priced in one batched prediction. The result is labelled a model estimate: the model
says what the premium would be, not that the site would earn it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from models.contract import ContractData, spec
from service.pricing.history import month_number
from service.pricing.rulesets import IncentiveRuleSet
from service.quotes.schemas import Recommendation, Text
from service.quotes.site_history import SiteHistory

WINDOW_MONTHS: Final = 6
PER_10K: Final = 1e4
_SLACK: Final = 1e-9
CONTROLLABLE: Final = spec.controllable()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One metric of one site to move: ``position`` is the site's place in the batch."""

    position: int
    column: str
    direction: int  # +1: fewer is better (a count); -1: more is better (a rate)
    current: float
    target: float
    source: Literal["incentive", "peer_median"]
    reference: str

    @property
    def unit(self) -> str:
        return "share" if self.direction < 0 else "per 10k worker-hours"


def incentive_targets(rules: IncentiveRuleSet) -> dict[str, list[tuple[float, str]]]:
    """Thresholds the incentive tiers set on each controllable column."""
    out: dict[str, list[tuple[float, str]]] = {}
    for tier in rules.tiers:
        for c in tier.criteria:
            if c.column not in CONTROLLABLE:
                continue
            direction = CONTROLLABLE[c.column]
            if (direction < 0 and c.metric == "months_mean" and c.operator == ">=") or (
                direction > 0 and c.metric == "per_10k_worker_hours" and c.operator == "<="
            ):
                out.setdefault(c.column, []).append((c.threshold, f"{tier.name}.{c.name}"))
    return out


def _peer_feature(column: str, direction: int) -> str:
    return f"{column}_{WINDOW_MONTHS}m" if direction < 0 else f"{column}_per_10kwh_{WINDOW_MONTHS}m"


def _current(h: SiteHistory, window: np.ndarray, column: str, direction: int) -> float | None:
    """A rate's mean over the reported months, or a count per 10k worker-hours of the
    months that reported it (as the incentive criteria measure them)."""
    v = h.column(column)[window]
    seen = ~np.isnan(v)
    if not seen.any():
        return None
    if direction < 0:
        return float(v[seen].mean())
    hours = float(np.nansum(h.column("worker_hours")[window][seen]))
    return float(v[seen].sum()) / hours * PER_10K if hours > 0 else None


def _lags(current: float, target: float, direction: int) -> bool:
    return current < target - _SLACK if direction < 0 else current > target + _SLACK


def candidates(
    position: int,
    history: SiteHistory,
    start_month: str,
    thresholds: Mapping[str, list[tuple[float, str]]],
    peer_medians: Mapping[str, float],
) -> list[Candidate]:
    """The metrics where one site lags, with the target for each."""
    window = history.window(month_number(start_month), WINDOW_MONTHS)
    out = []
    for column, direction in CONTROLLABLE.items():
        current = _current(history, window, column, direction)
        if current is None:
            continue
        missed = [(t, ref) for t, ref in thresholds.get(column, []) if _lags(current, t, direction)]
        if missed:
            pick = max(missed) if direction < 0 else min(missed)
            out.append(
                Candidate(position, column, direction, current, pick[0], "incentive", pick[1])
            )
            continue
        feature = _peer_feature(column, direction)
        median = peer_medians.get(feature)
        if median is not None and math.isfinite(median) and _lags(current, median, direction):
            out.append(
                Candidate(position, column, direction, current, float(median), "peer_median",
                          feature)
            )  # fmt: skip
    return out


def _moved(
    old: np.ndarray,
    hours: np.ndarray,
    major: np.ndarray | None,
    direction: int,
    target: np.ndarray,
) -> np.ndarray:
    """Reported months brought to the target, none made worse; NaN (not reported) stays."""
    if direction < 0:
        new = np.maximum(old, target)
    else:
        new = np.minimum(old, np.floor(target * np.nan_to_num(hours) / PER_10K + _SLACK))
        if major is not None:  # keep major_hazards <= hazards_found
            new = np.where(np.isnan(major), new, np.maximum(new, major))
    return np.where(np.isnan(old), np.nan, new)


@dataclass(frozen=True)
class Variants:
    sites: pd.DataFrame
    site_months: pd.DataFrame
    claims: pd.DataFrame
    targets: pd.DataFrame  # one row per candidate, in the candidates' order


def _take(
    frame: pd.DataFrame, rows_of: Mapping[Any, Any], owners: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of each owner in turn (one take), and which owner each row is of."""
    parts = [np.asarray(rows_of.get(o, ()), dtype=np.intp) for o in owners]
    index = np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)
    owner = np.repeat(np.arange(len(owners)), [len(p) for p in parts])
    return frame.iloc[index].reset_index(drop=True), owner


def variants(
    data: ContractData,
    found: Sequence[Candidate],
    site_of: Sequence[str],
    start_months: Sequence[str],
) -> Variants:
    """Every candidate as a site of its own (its own contractor too, so variants never
    see each other's claims), in a few whole-batch operations."""
    vid = np.array([f"v{j}" for j in range(len(found))], dtype=object)
    owners = [site_of[c.position] for c in found]
    months_of = data.site_months.groupby("site_id", sort=False).indices
    months, cand = _take(data.site_months, months_of, owners)
    months["site_id"] = vid[cand]
    hours = months["worker_hours"].to_numpy(np.float64, na_value=np.nan)
    column_of = np.array([c.column for c in found], dtype=object)[cand]
    target_of = np.array([c.target for c in found], dtype=np.float64)[cand]
    for column in dict.fromkeys(c.column for c in found):
        rows = column_of == column
        values_ = months[column].to_numpy(np.float64, na_value=np.nan, copy=True)
        major = None
        if column == "hazards_found":
            major = months["major_hazards"].to_numpy(np.float64, na_value=np.nan)[rows]
        values_[rows] = _moved(
            values_[rows], hours[rows], major, CONTROLLABLE[column], target_of[rows]
        )
        dtype = months[column].dtype
        months[column] = pd.Series(values_).astype(dtype)
    site_row = pd.Index(data.sites["site_id"]).get_indexer(owners)
    sites = data.sites.iloc[site_row].reset_index(drop=True)
    sites["site_id"] = vid
    sites["contractor_id"] = vid
    claims_of = data.claims.groupby("site_id", sort=False).indices if len(data.claims) else {}
    claims, owner = _take(data.claims, claims_of, owners)
    claims["site_id"] = vid[owner]
    claims["claim_id"] = claims["claim_id"] + "~" + vid[owner].astype(str)
    return Variants(
        sites=sites,
        site_months=months,
        claims=claims,
        targets=pd.DataFrame({"site_id": vid, "month": [start_months[c.position] for c in found]}),
    )


def _shown(c: Candidate, value: float) -> str:
    return f"{100 * value:.1f}%" if c.direction < 0 else f"{value:.2f}"


def recommendation(c: Candidate, premium: Decimal, saving: Decimal) -> Recommendation:
    col = spec.column("site_months", c.column)
    group = col.group.value if col.group is not None else ""
    cur, tgt = _shown(c, c.current), _shown(c, c.target)
    if c.direction < 0:
        move_zh, move_en = "提高至", "rose to"
        unit_zh, unit_en = "", ""
    else:
        move_zh, move_en = "降低至", "fell to"
        unit_zh, unit_en = "次/万工时", " per 10k worker-hours"
    src_zh = "激励门槛" if c.source == "incentive" else "同类工地中位数"
    src_en = "the incentive threshold" if c.source == "incentive" else "the peer median"
    text = Text(
        zh=(
            f"若{col.zh}从{cur}{unit_zh}{move_zh}{tgt}{unit_zh}（{src_zh}），"
            f"模型估算保费约{premium:,.2f}元，可节省{saving:,.2f}元。此为模型估算，非承诺报价。"
        ),
        en=(
            f"If {col.meaning} {move_en} {tgt}{unit_en} from {cur}{unit_en} ({src_en}), the "
            f"model estimates a premium of CNY {premium:,.2f}, saving CNY {saving:,.2f}. "
            "A model estimate, not an offer."
        ),
    )
    return Recommendation(
        metric=c.column,
        group=group,
        label=Text(zh=col.zh, en=col.meaning),
        direction="increase" if c.direction < 0 else "decrease",
        unit=c.unit,
        current=c.current,
        target=c.target,
        target_source=c.source,
        target_reference=c.reference,
        estimated_premium_cny=float(premium),
        estimated_saving_cny=float(saving),
        text=text,
    )
