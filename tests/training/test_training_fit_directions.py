"""A trained model follows the data contract's directions (v1.1) on every scored row.

``training/fit.py`` hands LightGBM the feature definition's monotone constraints;
these tests change the raw data and score every site-month again:

- every controllable safety metric and every reporting metric moves the rate only in
  the contract's direction, made better or worse;
- reporting more (device-online rate, data completeness) never raises a rate;
- more hazards found, with major hazards and the unrectified count held fixed, never
  raise a rate: finding hazards is diligence, not risk.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from fixtures.diligence import more_hazards_found

from models import features as fdef
from models.contract import ContractData, spec, validate_frames
from training.fit import FitConfig
from training.pipeline import TrainOutcome, train_from_data
from training.synth import generate_world

FAST = FitConfig(max_rounds=300, early_stopping=30)
FloatArray = npt.NDArray[np.float64]
_TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def world() -> ContractData:
    w = generate_world(700, seed=5, months=24)
    return validate_frames(w.sites, w.site_months, w.claims)


@pytest.fixture(scope="module")
def outcome(world: ContractData) -> TrainOutcome:
    return train_from_data(world, cfg=FAST)


def _rates(world: ContractData, outcome: TrainOutcome, months: pd.DataFrame) -> FloatArray:
    """Loss rate and claim rate of every site-month of the world, from ``months``."""
    targets = world.site_months[["site_id", "month"]]
    x = fdef.to_matrix(fdef.build_features(world.sites, months, world.claims, targets))
    return np.vstack([outcome.bundle.loss_rate(x), outcome.bundle.claim_rate(x)])


@pytest.fixture(scope="module")
def base(world: ContractData, outcome: TrainOutcome) -> FloatArray:
    return _rates(world, outcome, world.site_months)


def _move(months: pd.DataFrame, column: str, better: bool, rng: np.random.Generator) -> None:
    """One metric made better or worse on every reported row, in the contract's sense."""
    values = months[column]
    reported = values.notna().to_numpy()
    more_is_worse = spec.monotone()[column] > 0
    if spec.column("site_months", column).kind == "int":
        step = rng.integers(1, 4, size=len(months))
        old = values.fillna(0).to_numpy(np.int64)
        new = old + step if better != more_is_worse else np.maximum(old - step, 0)
        months[column] = pd.arrays.IntegerArray(new.astype(np.int64), ~reported)
    else:
        old = values.to_numpy(np.float64)
        if better != more_is_worse:  # higher
            new = old + (1.0 - old) * rng.uniform(0.05, 1.0, len(months))
        else:
            new = old * rng.uniform(0.3, 0.95, len(months))
        months[column] = np.where(reported, np.clip(new, 0.0, 1.0), np.nan)


@pytest.mark.parametrize("better", [True, False], ids=["better", "worse"])
@pytest.mark.parametrize("column", sorted(spec.monotone()))
def test_every_metric_moves_the_rate_only_its_way(
    world: ContractData, outcome: TrainOutcome, base: FloatArray, column: str, better: bool
) -> None:
    rng = np.random.default_rng(sum(map(ord, column)) + better)
    months = world.site_months.copy()
    _move(months, column, better, rng)
    assert not months[column].equals(world.site_months[column])
    after = _rates(world, outcome, months)
    if better:
        assert np.all(after <= base * (1 + _TOLERANCE)), column
    else:
        assert np.all(after >= base * (1 - _TOLERANCE)), column


@pytest.mark.parametrize("column", sorted(spec.controllable()))
def test_a_better_safety_metric_lowers_some_rate(
    world: ContractData, outcome: TrainOutcome, base: FloatArray, column: str
) -> None:
    """The property above is not vacuous: every safety metric matters somewhere."""
    months = world.site_months.copy()
    _move(months, column, True, np.random.default_rng(1))
    assert np.any(_rates(world, outcome, months)[0] < base[0])


def test_reporting_more_never_raises_a_rate(
    world: ContractData, outcome: TrainOutcome, base: FloatArray
) -> None:
    """Higher device-online rate and data completeness together, all else as it was."""
    assert set(spec.reporting()) == {"device_online_rate", "data_completeness"}
    months = world.site_months.copy()
    rng = np.random.default_rng(2)
    for column in spec.reporting():
        _move(months, column, True, rng)
    after = _rates(world, outcome, months)
    assert np.all(after <= base * (1 + _TOLERANCE))
    assert np.any(after[0] < base[0])  # the model does read them


@pytest.mark.parametrize("share", [0.3, 1.0])
def test_more_hazards_found_with_major_and_unrectified_fixed_never_raise_a_rate(
    world: ContractData, outcome: TrainOutcome, base: FloatArray, share: float
) -> None:
    months = more_hazards_found(world.site_months, np.random.default_rng(3), share=share)
    assert (months["hazards_found"] != world.site_months["hazards_found"]).fillna(False).any()
    pd.testing.assert_series_equal(months["major_hazards"], world.site_months["major_hazards"])
    after = _rates(world, outcome, months)
    assert np.all(after <= base * (1 + _TOLERANCE))
