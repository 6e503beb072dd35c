"""Premium dislocation: how far a change (a new model, a new rate book) moves each
premium. Pure, so training (a challenger against the champion) and the service (a
candidate rate book against the quotes it would re-price) band moves alike.

Bands are on the absolute relative change ``|new / old - 1|`` and are closed
below, open above: ``[0, 5%)``, ``[5%, 10%)``, ``[10%, 20%)``, ``[20%, inf)``.
So a move of exactly 5% is a 5–10% move, exactly 10% a 10–20% move and exactly
20% lands in the top band (labelled ``≥20%``). The change is rounded to
``DECIMALS`` places before banding, far below a cent on any real premium, so a
premium computed as ``old * 1.05`` counts as exactly 5% despite float noise.

Rows run from the largest cut to the largest increase; unchanged premiums have
their own row so "up" and "down" mean strictly up and strictly down.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

BOUNDS: Final = (0.05, 0.10, 0.20)
BANDS: Final = ("<5%", "5–10%", "10–20%", "≥20%")
DECIMALS: Final = 10


def relative_change(
    old_premium: npt.ArrayLike, new_premium: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """``new / old - 1`` per site, rounded to ``DECIMALS`` places."""
    old = np.asarray(old_premium, dtype=np.float64)
    new = np.asarray(new_premium, dtype=np.float64)
    if old.ndim != 1 or old.shape != new.shape:
        raise ValueError(f"premiums must be 1-D and of equal length, got {old.shape}, {new.shape}")
    if not (np.all(np.isfinite(old)) and np.all(old > 0)):
        raise ValueError("old premiums must be finite and > 0")
    if not (np.all(np.isfinite(new)) and np.all(new >= 0)):
        raise ValueError("new premiums must be finite and >= 0")
    return np.round((new - old) / old, DECIMALS)


def rate_impact(old_premium: npt.ArrayLike, new_premium: npt.ArrayLike) -> pd.DataFrame:
    """Count and share of sites per dislocation band, split by direction.

    Columns: ``direction`` (``down``, ``none``, ``up``), ``band`` (one of
    ``BANDS``; ``none`` only with ``<5%``), ``label`` (e.g. ``"5–10% up"``),
    ``count`` and ``share`` (of all sites; shares add up to 1). Always nine rows
    in a fixed order, zero counts included, so tables from different runs line up.
    """
    change = relative_change(old_premium, new_premium)
    if change.size == 0:
        raise ValueError("no premiums to compare")
    band = np.searchsorted(np.asarray(BOUNDS), np.abs(change), side="right")
    down = [
        ("down", BANDS[b], f"{BANDS[b]} down", (change < 0) & (band == b))
        for b in range(len(BANDS))
    ]
    up = [("up", BANDS[b], f"{BANDS[b]} up", (change > 0) & (band == b)) for b in range(len(BANDS))]
    rows = [*reversed(down), ("none", BANDS[0], "unchanged", change == 0), *up]
    table = pd.DataFrame(
        [(d, b, label, int(mask.sum())) for d, b, label, mask in rows],
        columns=["direction", "band", "label", "count"],
    )
    table["share"] = table["count"] / change.size
    return table
