from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.dislocation import BANDS, rate_impact, relative_change


def _counts(table: pd.DataFrame) -> dict[str, int]:
    return dict(zip(table["label"], table["count"], strict=True))


def test_bands_are_closed_below_and_open_above() -> None:
    old = np.full(14, 100.0)
    new = np.array([
        100.0,            # unchanged
        104.99, 95.01,    # just under 5%
        105.0, 95.0,      # exactly 5%: 5–10%
        109.99,           # just under 10%
        110.0, 90.0,      # exactly 10%: 10–20%
        119.99,           # just under 20%
        120.0, 80.0,      # exactly 20%: top band
        150.0, 0.0,       # far out, incl. a premium cut to nothing
        100.001,          # a tiny rise is still a rise
    ])  # fmt: skip
    counts = _counts(rate_impact(old, new))
    assert counts == {
        "≥20% down": 2,
        "10–20% down": 1,
        "5–10% down": 1,
        "<5% down": 1,
        "unchanged": 1,
        "<5% up": 2,
        "5–10% up": 2,
        "10–20% up": 2,
        "≥20% up": 2,
    }


def test_float_noise_does_not_move_a_site_across_a_boundary() -> None:
    old = np.array([1234.56, 987.65, 333.33, 3.0])
    # Computed the way a pipeline would: these are exact 5%, 10%, 20% and -20% moves.
    new = old * np.array([1.05, 1.1, 1.2, 0.8])
    np.testing.assert_array_equal(relative_change(old, new), [0.05, 0.1, 0.2, -0.2])
    counts = _counts(rate_impact(old, new))
    assert counts["5–10% up"] == 1
    assert counts["10–20% up"] == 1
    assert counts["≥20% up"] == 1
    assert counts["≥20% down"] == 1


def test_table_layout_and_shares() -> None:
    rng = np.random.default_rng(0)
    old = rng.lognormal(10, 1, 500)
    new = old * rng.lognormal(0, 0.15, 500)
    table = rate_impact(old, new)
    assert list(table.columns) == ["direction", "band", "label", "count", "share"]
    assert table["direction"].tolist() == ["down"] * 4 + ["none"] + ["up"] * 4
    assert table["band"].tolist() == [*reversed(BANDS), BANDS[0], *BANDS]
    assert table["count"].sum() == 500
    assert table["share"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(table["share"], table["count"] / 500)
    up = table[table["direction"] == "up"]["count"].sum()
    assert up == int(np.sum(new > old))


def test_rejects_premiums_it_cannot_compare() -> None:
    with pytest.raises(ValueError, match="old premiums"):
        rate_impact([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="new premiums"):
        rate_impact([1.0, 1.0], [np.nan, 1.0])
    with pytest.raises(ValueError, match="equal length"):
        rate_impact([1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="no premiums"):
        rate_impact([], [])
