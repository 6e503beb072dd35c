from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training import metrics as m
from training.baselines import GLMBaseline, ManualRate

TYPE_FACTOR = {"residential": 1.0, "municipal": 1.6, "rail_transit": 2.2}
STAGE_FACTOR = {"foundation": 1.4, "structure": 1.0, "finishing": 0.7}


def _world(seed: int, n: int = 4000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Site-months whose true rate is class x stage x exp(0.8 * alerts_z), with a noise
    column, missing values and a heavy-tailed count. Returns (frame, loss, exposure,
    expected loss)."""
    rng = np.random.default_rng(seed)
    ptype = rng.choice(list(TYPE_FACTOR), n, p=[0.6, 0.3, 0.1])
    stage = rng.choice(list(STAGE_FACTOR), n)
    alerts_z = rng.normal(0.0, 1.0, n)
    noise = rng.normal(0.0, 1.0, n)
    noise[rng.random(n) < 0.2] = np.nan
    violations = rng.poisson(2.0, n) + (rng.random(n) < 0.01) * 500
    exposure = rng.lognormal(8.0, 0.6, n)  # worker-hours
    rate = (
        2e-2
        * np.array([TYPE_FACTOR[t] for t in ptype])
        * np.array([STAGE_FACTOR[s] for s in stage])
        * np.exp(0.8 * alerts_z)
    )
    expected = rate * exposure
    severity = 500.0
    claims = rng.poisson(expected / severity)
    loss = np.array([rng.gamma(2.0, severity / 2.0, c).sum() for c in claims])
    frame = pd.DataFrame(
        {
            "project_type": pd.Categorical(ptype),
            "stage": stage,
            "alerts_z": alerts_z,
            "noise": noise,
            "violations": violations,
        }
    )
    return frame, loss, exposure, expected


def _balance(rate: np.ndarray, loss: np.ndarray, exposure: np.ndarray) -> float:
    return float(np.sum(rate * exposure) / loss.sum())


# --- manual rate --------------------------------------------------------------------


@pytest.mark.parametrize("by", [["project_type"], ["project_type", "stage"]])
def test_manual_rate_is_balanced_on_training_data(by: list[str]) -> None:
    frame, loss, exposure, _ = _world(1)
    manual = ManualRate().fit(frame, loss, exposure, by=by)
    assert _balance(manual.predict_rate(frame), loss, exposure) == pytest.approx(1.0, rel=1e-12)
    assert len(manual.table_) == frame[by].drop_duplicates().shape[0]


def test_manual_rate_blends_cells_with_the_given_credibility() -> None:
    frame = pd.DataFrame({"project_type": ["a"] * 3 + ["b"]})
    loss = np.array([10.0, 20.0, 30.0, 40.0])
    exposure = np.array([100.0, 100.0, 100.0, 20.0])
    manual = ManualRate(credibility_k=100.0).fit(frame, loss, exposure, by=["project_type"])
    overall = 100.0 / 320.0
    z_a, z_b = 300.0 / 400.0, 20.0 / 120.0
    blended_a = z_a * 0.2 + (1 - z_a) * overall
    blended_b = z_b * 2.0 + (1 - z_b) * overall
    factor = 100.0 / (blended_a * 300.0 + blended_b * 20.0)
    rate = manual.predict_rate(pd.DataFrame({"project_type": ["b", "a", "zzz"]}))
    np.testing.assert_allclose(rate, [blended_b * factor, blended_a * factor, overall * factor])
    # The thin cell is pulled far from its own rate towards the overall one.
    assert abs(rate[0] - 2.0) > abs(rate[1] - 0.2)


def test_manual_rate_full_credibility_reproduces_cell_rates() -> None:
    frame = pd.DataFrame({"project_type": ["a", "a", "b", None]})
    loss = np.array([1.0, 3.0, 5.0, 2.0])
    exposure = np.array([10.0, 30.0, 10.0, 4.0])
    manual = ManualRate(credibility_k=0.0).fit(frame, loss, exposure, by=["project_type"])
    assert manual.balance_factor_ == pytest.approx(1.0)
    # A missing class is a cell of its own.
    rate = manual.predict_rate(pd.DataFrame({"project_type": [None, "b", "a"]}))
    np.testing.assert_allclose(rate, [0.5, 0.5, 0.1])


def test_manual_rate_estimated_credibility_follows_the_data() -> None:
    # Distinct classes with plenty of data earn high credibility ...
    frame, loss, exposure, _ = _world(2, n=6000)
    distinct = ManualRate().fit(frame, loss, exposure, by=["project_type"])
    assert np.isfinite(distinct.k_)
    assert distinct.table_["credibility"].min() > 0.5
    # ... while labels that carry no information earn little: the rate stays near overall.
    shuffled = frame.assign(
        project_type=np.random.default_rng(2).permutation(frame["project_type"])
    )
    noise = ManualRate().fit(shuffled, loss, exposure, by=["project_type"])
    spread = noise.predict_rate(shuffled)
    assert (
        spread.max() / spread.min()
        < distinct.predict_rate(frame).max() / distinct.predict_rate(frame).min()
    )
    assert noise.table_["credibility"].max() < distinct.table_["credibility"].min()


def test_manual_rate_rejects_bad_inputs() -> None:
    frame = pd.DataFrame({"project_type": ["a", "b"]})
    with pytest.raises(KeyError, match="stage"):
        ManualRate().fit(frame, np.ones(2), np.ones(2), by=["stage"])
    with pytest.raises(ValueError, match="one value per frame row"):
        ManualRate().fit(frame, np.ones(3), np.ones(2), by=["project_type"])
    with pytest.raises(ValueError, match="loss is 0"):
        ManualRate().fit(frame, np.zeros(2), np.ones(2), by=["project_type"])


# --- GLM ----------------------------------------------------------------------------


@pytest.mark.parametrize("power", [1.0, 1.5])
def test_glm_is_balanced_on_training_data(power: float) -> None:
    frame, loss, exposure, _ = _world(3, n=2000)
    glm = GLMBaseline().fit(
        frame, loss, exposure, categorical=["project_type", "stage"], power=power
    )
    assert _balance(glm.predict_rate(frame), loss, exposure) == pytest.approx(1.0, rel=1e-9)


def test_glm_beats_manual_rate_when_a_numeric_feature_drives_risk() -> None:
    frame, loss, exposure, expected = _world(4, n=8000)
    train, test = slice(0, 5000), slice(5000, None)
    cats = ["project_type", "stage"]
    glm = GLMBaseline().fit(frame.iloc[train], loss[train], exposure[train], categorical=cats)
    manual = ManualRate().fit(frame.iloc[train], loss[train], exposure[train], by=cats)

    test_frame, w, truth = frame.iloc[test], exposure[test], expected[test]
    glm_rate, manual_rate = glm.predict_rate(test_frame), manual.predict_rate(test_frame)
    glm_share = m.gini_share_of_oracle(truth, glm_rate, w)
    manual_share = m.gini_share_of_oracle(truth, manual_rate, w, ties="group")
    assert glm_share > 0.9
    assert glm_share > manual_share + 0.2
    dev = {
        name: m.mean_tweedie_deviance(loss[test] / w, rate, 1.5, weights=w)
        for name, rate in (("glm", glm_rate), ("manual", manual_rate))
    }
    assert dev["glm"] < dev["manual"]


def test_glm_clips_extreme_values_and_tolerates_gaps() -> None:
    frame, loss, exposure, _ = _world(5, n=2000)
    glm = GLMBaseline(clip_quantiles=(0.01, 0.99)).fit(
        frame, loss, exposure, categorical=["project_type", "stage"]
    )
    row = frame.iloc[[0, 0, 0]].copy()
    top = float(np.quantile(frame["alerts_z"], 0.99))
    row["alerts_z"] = [top, 50.0, 1e9]
    rate = glm.predict_rate(row)
    assert np.all(np.isfinite(rate))
    assert rate[1] == pytest.approx(rate[0])
    assert rate[2] == pytest.approx(rate[0])

    # Missing numerics, a missing class and a class never seen in training still price.
    odd = frame.iloc[[1, 2]].copy()
    odd["noise"] = np.nan
    odd["stage"] = ["demolition", None]
    assert np.all(np.isfinite(glm.predict_rate(odd)))
    assert np.all(glm.predict_rate(odd) > 0)


def test_glm_keeps_binary_flags_unclipped() -> None:
    frame, loss, exposure, _ = _world(6, n=2000)
    flag = np.zeros(len(frame))
    flag[:5] = 1.0  # rarer than the clipping quantile
    loss = loss.copy()
    loss[:5] += 5e5
    glm = GLMBaseline().fit(
        frame.assign(flag=flag), loss, exposure, categorical=["project_type", "stage"]
    )
    on, off = glm.predict_rate(frame.iloc[[0, 0]].assign(flag=[1.0, 0.0]))
    assert on > off


def test_glm_requires_numeric_or_declared_categorical_columns() -> None:
    frame, loss, exposure, _ = _world(7, n=200)
    with pytest.raises(TypeError, match="stage"):
        GLMBaseline().fit(frame, loss, exposure, categorical=["project_type"])
    with pytest.raises(KeyError, match="district"):
        GLMBaseline().fit(frame, loss, exposure, categorical=["project_type", "stage", "district"])
