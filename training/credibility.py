"""Bühlmann–Straub credibility constant from training data.

Each site's monthly loss ratio against its class rate (actual / class-expected) is
an observation weighted by worker-hours. The within-site variance s² (how noisy one
site's experience is) over the between-site variance a (how much sites truly differ)
gives k = s² / a in worker-hours: a site with E observed worker-hours earns weight
Z = E / (E + k). The estimators are the standard non-parametric ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def buhlmann_straub_k(
    site: pd.Series, ratio: pd.Series, weight: pd.Series, *, ceiling: float = 1e12
) -> float:
    frame = pd.DataFrame(
        {"site": site.to_numpy(), "x": ratio.to_numpy(float), "w": weight.to_numpy(float)}
    )
    frame = frame[frame["w"] > 0]
    frame["wx"] = frame["w"] * frame["x"]
    per_site = frame.groupby("site").agg(w=("w", "sum"), wx=("wx", "sum"), n=("x", "size"))
    per_site = per_site[per_site["n"] >= 2]
    if len(per_site) < 2:
        return ceiling
    frame = frame[frame["site"].isin(per_site.index)]
    mean_i = per_site["wx"] / per_site["w"]
    dev = frame["x"].to_numpy() - mean_i.loc[frame["site"]].to_numpy()
    s2 = float(np.sum(frame["w"].to_numpy() * dev**2) / np.sum(per_site["n"] - 1))
    w_tot = float(per_site["w"].sum())
    x_bar = float(np.sum(per_site["w"] * mean_i) / w_tot)
    r = len(per_site)
    a = float(
        (np.sum(per_site["w"] * (mean_i - x_bar) ** 2) - (r - 1) * s2)
        / (w_tot - float(np.sum(per_site["w"] ** 2)) / w_tot)
    )
    if a <= 0 or not np.isfinite(a):
        return ceiling
    return float(min(s2 / a, ceiling))
