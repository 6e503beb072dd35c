"""The direct prediction call gives LightGBM's own numbers, bit for bit."""

from __future__ import annotations

import pickle
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from fixtures.bundle_meta import bundle_meta, projection_boosters

from models import features as fdef
from models import predict
from models.bundle import ModelBundle
from models.predict import DirectPredictor, Output

P = len(fdef.FEATURE_NAMES)


def _booster(objective: str, seed: int, rounds: int = 40, **extra: object) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, P))
    x[rng.random(x.shape) < 0.1] = np.nan
    filled = np.nan_to_num(x)
    if objective == "gamma":
        y = rng.gamma(2.0, 1.0 + np.abs(filled[:, 0]).clip(0, 3))
    else:
        y = rng.poisson(np.exp(0.3 * filled[:, 1]))
    params = {"objective": objective, "verbose": -1, "num_leaves": 7, **extra}
    data = lgb.Dataset(x, y, feature_name=list(fdef.FEATURE_NAMES))
    return lgb.train(params, data, rounds)


@pytest.fixture(scope="module")
def frequency() -> lgb.Booster:
    return _booster("poisson", 1)


@pytest.fixture(scope="module")
def severity() -> lgb.Booster:
    return _booster("gamma", 2, rounds=15)


def _rows(n: int, seed: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, P)) * 2
    x[:, ::5] = np.nan
    return x


@pytest.mark.parametrize("n", [1, 7, 130])
@pytest.mark.parametrize("threads", [1, 2])
def test_raw_scores_and_treeshap_equal_booster_predict(
    frequency: lgb.Booster, n: int, threads: int
) -> None:
    predictor = DirectPredictor(frequency)
    assert predictor.direct
    x = _rows(n)
    raw = predictor.predict(x, Output.RAW, threads)
    contrib = predictor.predict(x, Output.CONTRIB, threads)
    assert raw.shape == (n,)
    assert contrib.shape == (n, P + 1)
    np.testing.assert_array_equal(raw, frequency.predict(x, raw_score=True, num_threads=threads))
    np.testing.assert_array_equal(
        contrib, frequency.predict(x, pred_contrib=True, num_threads=threads)
    )


def test_any_memory_layout_gives_the_same_numbers(frequency: lgb.Booster) -> None:
    predictor = DirectPredictor(frequency)
    x = _rows(40)
    expected = frequency.predict(x, raw_score=True)
    np.testing.assert_array_equal(predictor.predict(np.asfortranarray(x), Output.RAW, 1), expected)
    wide = np.hstack([x, x])[:, :P]  # a view with a row stride not its width
    np.testing.assert_array_equal(predictor.predict(wide, Output.RAW, 1), expected)
    np.testing.assert_array_equal(
        predictor.predict(x.astype(np.float32), Output.RAW, 1),
        frequency.predict(x.astype(np.float32).astype(np.float64), raw_score=True),
    )


def test_a_model_trained_with_early_stopping_predicts_with_its_best_iteration() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, P))
    y = rng.poisson(np.exp(0.5 * x[:, 0]))
    names = list(fdef.FEATURE_NAMES)
    train = lgb.Dataset(x[:200], y[:200], feature_name=names)
    valid = lgb.Dataset(x[200:], y[200:], feature_name=names, reference=train)
    booster = lgb.train(
        {"objective": "poisson", "verbose": -1, "num_leaves": 15, "learning_rate": 0.5},
        train,
        200,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(3, verbose=False)],
        keep_training_booster=True,  # keeps the trees after the best
    )
    assert 0 < booster.best_iteration < booster.current_iteration()
    rows = _rows(20)
    np.testing.assert_array_equal(
        DirectPredictor(booster).predict(rows, Output.RAW, 1),
        booster.predict(rows, raw_score=True),
    )


def test_a_pickled_copy_predicts_directly_too(frequency: lgb.Booster) -> None:
    copy = pickle.loads(pickle.dumps(DirectPredictor(frequency)))
    assert copy.direct
    x = _rows(5)
    np.testing.assert_array_equal(
        copy.predict(x, Output.CONTRIB, 1), frequency.predict(x, pred_contrib=True)
    )


def test_a_row_of_the_wrong_width_is_refused(frequency: lgb.Booster) -> None:
    with pytest.raises(ValueError, match=f"takes {P} features, got {P - 1}"):
        DirectPredictor(frequency).predict(np.zeros((1, P - 1)), Output.RAW, 1)


def test_without_the_library_handle_it_falls_back_to_booster_predict(
    frequency: lgb.Booster, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(predict, "_library", lambda: None)
        predictor = DirectPredictor(frequency)
    assert not predictor.direct
    x = _rows(9)
    np.testing.assert_array_equal(
        predictor.predict(x, Output.CONTRIB, 1), frequency.predict(x, pred_contrib=True)
    )


def test_a_model_of_several_outputs_falls_back() -> None:
    rng = np.random.default_rng(6)
    data = lgb.Dataset(rng.normal(size=(150, P)), rng.integers(0, 3, 150))
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, data, 3)
    assert not DirectPredictor(booster).direct


def test_the_bundle_scores_as_its_boosters_do(
    frequency: lgb.Booster, severity: lgb.Booster
) -> None:
    meta = bundle_meta(
        structure="frequency_severity",
        loss_terms=(("frequency", 0.9), ("severity", 1.1)),
        loss_log_balance=-0.25,
        freq_slope=0.95,
        freq_log_balance=0.1,
    )
    bundle = ModelBundle(
        {"frequency": frequency, "severity": severity, **projection_boosters()}, meta
    )
    x = _rows(12)
    f_raw = frequency.predict(x, raw_score=True)
    s_raw = severity.predict(x, raw_score=True)
    log_rate = np.full(12, -0.25) + 0.9 * f_raw
    log_rate += 1.1 * s_raw
    claim_rate = np.exp(0.95 * f_raw + 0.1)
    got_log, got_claims = bundle.rates(x)
    np.testing.assert_array_equal(got_log, log_rate)
    np.testing.assert_array_equal(bundle.log_rate(x), log_rate)
    np.testing.assert_array_equal(got_claims, claim_rate)
    np.testing.assert_array_equal(bundle.claim_rate(x), claim_rate)
    contrib = bundle.contributions(x)
    expected = 0.9 * frequency.predict(x, pred_contrib=True)
    expected += 1.1 * severity.predict(x, pred_contrib=True)
    np.testing.assert_array_equal(contrib, expected)
    np.testing.assert_allclose(contrib.sum(axis=1) + meta.loss_log_balance, log_rate, atol=1e-9)


@pytest.mark.parametrize(
    "terms", [(("tweedie", 0.8),), (("frequency", 0.9), ("severity", 1.1))], ids=["tweedie", "fs"]
)
def test_what_ifs_scored_with_the_sites_change_no_number_and_no_booster_runs_twice(
    frequency: lgb.Booster,
    severity: lgb.Booster,
    terms: tuple[tuple[str, float], ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    boosters = {"frequency": frequency, **projection_boosters()}
    boosters.update({name: severity for name, _ in terms if name != "frequency"})
    bundle = ModelBundle(boosters, bundle_meta(loss_terms=terms, loss_log_balance=-0.3))
    x, what_ifs = _rows(3), _rows(8, seed=4)
    starts = ["2025-01", "2025-06", "2025-11"]
    alone = bundle.term_risk(x, starts, 12.0)
    calls: list[int] = []
    original = DirectPredictor.predict

    def counted(self: DirectPredictor, rows: np.ndarray, output: Output, threads: int) -> Any:
        calls.append(id(self))
        return original(self, rows, output, threads)

    monkeypatch.setattr(DirectPredictor, "predict", counted)
    risk = bundle.term_risk(x, starts, 12.0, what_ifs=what_ifs)
    assert sorted(calls) == sorted({id(p) for p in bundle._predictors.values()})
    monkeypatch.undo()
    for name in (
        "rate",
        "claim_rate",
        "hours",
        "trend",
        "season",
        "expected_loss",
        "expected_claims",
        "log_rate",
    ):
        np.testing.assert_array_equal(getattr(risk, name), getattr(alone, name))
    np.testing.assert_array_equal(risk.log_rate, bundle.log_rate(x))
    np.testing.assert_array_equal(risk.what_if_log_rate, bundle.log_rate(what_ifs))
    assert alone.what_if_log_rate.shape == (0,)
