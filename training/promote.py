"""Promotion: a challenger becomes champion only if it is not worse on months
neither model learned from, and the premium moves it would cause are on record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import features as fdef
from models.bundle import ModelBundle
from models.contract import ContractData
from training import metrics as m
from training.dataset import build_dataset, split_by_time
from training.dislocation import rate_impact

# A challenger may trail the champion by this much and still count as "not worse":
# test months are few and claims noisy, so exact ties are not the bar.
GINI_TOLERANCE = 0.01
DEVIANCE_TOLERANCE = 0.01
AE_TOLERANCE = 0.05


@dataclass
class Comparison:
    months: tuple[str, ...]
    challenger: dict[str, float]
    champion: dict[str, float] | None
    dislocation: pd.DataFrame | None
    reasons: list[str] = field(default_factory=list)

    @property
    def not_worse(self) -> bool:
        return not self.reasons


def _metrics(bundle: ModelBundle, frame: pd.DataFrame) -> tuple[dict[str, float], np.ndarray]:
    x = fdef.to_matrix(frame)
    rate = bundle.loss_rate(x)
    exposure = frame["exposure"].to_numpy(np.float64)
    actual = frame["loss"].to_numpy(np.float64)
    predicted = rate * exposure
    out = {
        "gini": m.gini(actual, rate, exposure),
        "ae": m.actual_over_expected(actual, predicted),
        "deviance": m.mean_tweedie_deviance(actual / exposure, rate, power=1.5, weights=exposure),
    }
    return out, rate


def latest_site_premiums(frame: pd.DataFrame, rate: np.ndarray) -> pd.Series:
    """A site's premium under a model is proportional to its rate in its latest month."""
    return frame.assign(rate=rate).sort_values("month").groupby("site_id")["rate"].last()


def compare(
    challenger: ModelBundle, champion: ModelBundle | None, data: ContractData
) -> Comparison:
    ds = build_dataset(data)
    split = split_by_time(ds.months)
    frame = ds.frame[ds.frame["month"].isin(set(split.test))]
    frame = frame[frame["exposure"].fillna(0.0) > 0.0]
    ch_metrics, ch_rate = _metrics(challenger, frame)
    if champion is None:
        return Comparison(split.test, ch_metrics, None, None)
    cp_metrics, cp_rate = _metrics(champion, frame)
    reasons: list[str] = []
    if ch_metrics["gini"] < cp_metrics["gini"] - GINI_TOLERANCE:
        reasons.append(
            f"Gini {ch_metrics['gini']:.4f} is below the champion's {cp_metrics['gini']:.4f}"
        )
    if ch_metrics["deviance"] > cp_metrics["deviance"] * (1 + DEVIANCE_TOLERANCE):
        reasons.append(
            f"deviance {ch_metrics['deviance']:.4g} is above the champion's "
            f"{cp_metrics['deviance']:.4g}"
        )
    ch_gap, cp_gap = abs(ch_metrics["ae"] - 1), abs(cp_metrics["ae"] - 1)
    if ch_gap > max(cp_gap, AE_TOLERANCE):
        reasons.append(
            f"A/E {ch_metrics['ae']:.3f} is further from 1 than the champion's "
            f"{cp_metrics['ae']:.3f}"
        )
    old = latest_site_premiums(frame, cp_rate)
    new = latest_site_premiums(frame, ch_rate).reindex(old.index)
    impact = rate_impact(old.to_numpy(), new.to_numpy())
    return Comparison(split.test, ch_metrics, cp_metrics, impact, reasons)


def log_comparison(comparison: Comparison, promoted: bool, forced: bool, info: dict[str, Any],
                   tmp: Path) -> str:  # fmt: skip
    import mlflow

    with mlflow.start_run(run_name="promote") as run:
        mlflow.set_tags({"action": "promote", "promoted": str(promoted), "forced": str(forced)})
        mlflow.log_params({k: str(v) for k, v in info.items()})
        mlflow.log_param("test_months", f"{comparison.months[0]}..{comparison.months[-1]}")
        mlflow.log_metrics({f"challenger.{k}": v for k, v in comparison.challenger.items()})
        if comparison.champion is not None:
            mlflow.log_metrics({f"champion.{k}": v for k, v in comparison.champion.items()})
        if comparison.dislocation is not None:
            path = tmp / "rate_impact.csv"
            comparison.dislocation.to_csv(path, index=False)
            mlflow.log_artifact(str(path))
        if comparison.reasons:
            mlflow.log_text("\n".join(comparison.reasons), "reasons.txt")
        return str(run.info.run_id)
