from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import mean_poisson_deviance as sk_poisson
from sklearn.metrics import mean_tweedie_deviance as sk_tweedie

from training import metrics as m


def _portfolio(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with lognormal exposure, a continuous true rate and gamma-noised losses
    (some exactly zero), returned as (loss, true_rate, exposure)."""
    rng = np.random.default_rng(seed)
    exposure = rng.lognormal(7.0, 0.8, n)
    rate = rng.lognormal(-3.0, 0.7, n)
    loss = rate * exposure * rng.gamma(2.0, 0.5, n) * (rng.random(n) < 0.6)
    return loss, rate, exposure


# --- Lorenz curve -----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lorenz_curve_runs_monotone_from_origin_to_one_one(seed: int) -> None:
    loss, rate, exposure = _portfolio(seed, 500)
    score = rate * np.random.default_rng(seed).lognormal(0, 0.5, 500)
    x, y = m.lorenz_curve(loss, score, exposure)
    assert len(x) == len(y) == 501
    assert (x[0], y[0]) == (0.0, 0.0)
    assert (x[-1], y[-1]) == (1.0, 1.0)
    assert np.all(np.diff(x) > 0)
    assert np.all(np.diff(y) >= 0)


def test_lorenz_curve_points_follow_exposure_and_loss_shares() -> None:
    loss = np.array([6.0, 0.0, 2.0, 2.0])
    exposure = np.array([1.0, 4.0, 2.0, 3.0])
    score = np.array([3.0, 0.5, 1.0, 2.0])  # order: row 1, row 2, row 3, row 0
    x, y = m.lorenz_curve(loss, score, exposure)
    np.testing.assert_allclose(x, [0.0, 0.4, 0.6, 0.9, 1.0])
    np.testing.assert_allclose(y, [0.0, 0.0, 0.2, 0.4, 1.0])


def test_ties_keep_input_order_and_grouping_removes_that_dependence() -> None:
    loss = np.array([0.0, 10.0, 0.0, 10.0])
    exposure = np.ones(4)
    tied = np.zeros(4)
    _, y = m.lorenz_curve(loss, tied, exposure)
    np.testing.assert_allclose(y, [0.0, 0.0, 0.5, 0.5, 1.0])

    # Stable ranking: the same tied rows in another order give another curve.
    flipped = [1, 0, 3, 2]
    assert m.gini(loss, tied, exposure) != m.gini(loss[flipped], tied, exposure)
    # Grouped ties: one straight segment, so a constant score is exactly random.
    for order in ([0, 1, 2, 3], flipped):
        assert m.gini(loss[order], tied, exposure, ties="group") == pytest.approx(0.0)
    x, y = m.lorenz_curve(loss, tied, exposure, ties="group")
    np.testing.assert_allclose(x, [0.0, 1.0])
    np.testing.assert_allclose(y, [0.0, 1.0])


def test_lorenz_curve_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="total loss is 0"):
        m.lorenz_curve(np.zeros(3), np.arange(3.0), np.ones(3))
    with pytest.raises(ValueError, match="exposure"):
        m.lorenz_curve(np.ones(3), np.arange(3.0), np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="differ in length"):
        m.lorenz_curve(np.ones(3), np.arange(2.0), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        m.lorenz_curve(np.ones(3), np.array([0.0, np.nan, 1.0]), np.ones(3))


# --- Gini -------------------------------------------------------------------------


def test_perfect_ranking_reaches_the_oracle() -> None:
    loss, _, exposure = _portfolio(3)
    oracle_rate = loss / exposure
    assert m.normalized_gini(loss, oracle_rate, exposure) == pytest.approx(1.0)
    # Gini depends on the ranking only: a monotone transform scores the same.
    assert m.normalized_gini(loss, np.log1p(oracle_rate) * 7 + 2, exposure) == pytest.approx(1.0)
    assert m.gini(loss, oracle_rate, exposure) > 0.5


def test_random_score_gives_about_zero() -> None:
    loss, _, exposure = _portfolio(4, n=20_000)
    noise = np.random.default_rng(99).random(len(loss))
    assert abs(m.normalized_gini(loss, noise, exposure)) < 0.05


def test_reversed_ranking_mirrors_the_gini() -> None:
    loss, rate, exposure = _portfolio(5)
    score = rate * np.random.default_rng(5).lognormal(0, 0.3, len(rate))
    g = m.gini(loss, score, exposure)
    assert g > 0.1
    assert m.gini(loss, -score, exposure) == pytest.approx(-g)
    assert m.normalized_gini(loss, -loss / exposure, exposure) == pytest.approx(-1.0)


def test_exposure_weighting_changes_the_gini() -> None:
    # Same loss on both rows, but the low-score row has three times the exposure:
    # by exposure the low-score row is safer (loss-free share of exposure is larger).
    loss = np.array([1.0, 1.0])
    score = np.array([1.0, 2.0])
    # x: 0, .75, 1 ; y: 0, .5, 1 -> AUC .375 -> Gini .25. Unweighted the rows tie: 0.
    assert m.gini(loss, score, np.array([3.0, 1.0])) == pytest.approx(0.25)
    assert m.gini(loss, score, np.array([1.0, 1.0])) == pytest.approx(0.0)


def test_gini_without_loss_is_nan() -> None:
    assert np.isnan(m.gini(np.zeros(4), np.arange(4.0), np.ones(4)))
    assert np.isnan(m.normalized_gini(np.zeros(4), np.arange(4.0), np.ones(4)))


def test_zero_exposure_rows_with_loss_rank_riskiest() -> None:
    rate = m.loss_rate(np.array([2.0, 0.0, 5.0]), np.array([4.0, 0.0, 0.0]))
    np.testing.assert_array_equal(rate, [0.5, 0.0, np.inf])
    loss = np.array([1.0, 0.0, 3.0, 2.0])
    exposure = np.array([2.0, 1.0, 0.0, 1.0])
    assert m.normalized_gini(loss, m.loss_rate(loss, exposure), exposure) == pytest.approx(1.0)


def test_gini_share_of_oracle_uses_truth_as_the_yardstick() -> None:
    _, rate, exposure = _portfolio(6)
    truth = rate * exposure
    assert m.gini_share_of_oracle(truth, rate, exposure) == pytest.approx(1.0)
    noisy = rate * np.random.default_rng(6).lognormal(0, 1.0, len(rate))
    share = m.gini_share_of_oracle(truth, noisy, exposure)
    assert 0.1 < share < 0.95
    assert share == pytest.approx(m.gini(truth, noisy, exposure) / m.gini(truth, rate, exposure))


# --- deviances, A/E ---------------------------------------------------------------


@pytest.mark.parametrize("power", [1.2, 1.5, 1.8])
def test_tweedie_deviance_matches_sklearn_and_the_formula(power: float) -> None:
    rng = np.random.default_rng(7)
    y = rng.gamma(1.0, 2.0, 300) * (rng.random(300) < 0.5)
    mu = rng.gamma(2.0, 1.0, 300)
    w = rng.random(300) + 0.1
    ours = m.mean_tweedie_deviance(y, mu, power, weights=w)
    assert ours == pytest.approx(sk_tweedie(y, mu, sample_weight=w, power=power))
    p = power
    unit = 2 * (
        np.power(y, 2 - p) / ((1 - p) * (2 - p))
        - y * np.power(mu, 1 - p) / (1 - p)
        + np.power(mu, 2 - p) / (2 - p)
    )
    assert ours == pytest.approx(np.average(unit, weights=w))


def test_poisson_deviance_matches_sklearn_and_guards_mu() -> None:
    rng = np.random.default_rng(8)
    y = rng.poisson(2.0, 200).astype(float)
    mu = rng.gamma(2.0, 1.0, 200)
    assert m.mean_poisson_deviance(y, mu) == pytest.approx(sk_poisson(y, mu))
    # A zero prediction is floored instead of crashing sklearn: finite but heavily penalised.
    mu0 = mu.copy()
    mu0[0] = 0.0
    y[0] = 1.0
    guarded = m.mean_poisson_deviance(y, mu0)
    assert np.isfinite(guarded)
    assert guarded > m.mean_poisson_deviance(y, mu)
    with pytest.raises(ValueError, match="predictions"):
        m.mean_tweedie_deviance(y, -mu, 1.5)


def test_actual_over_expected() -> None:
    assert m.actual_over_expected([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == pytest.approx(1.0)
    assert m.actual_over_expected([3.0], [2.0]) == pytest.approx(1.5)
    assert np.isnan(m.actual_over_expected([3.0], [0.0]))


def test_ae_by_decile_adds_up_and_splits_exposure_evenly() -> None:
    loss, rate, exposure = _portfolio(9, n=3000)
    expected = rate * exposure
    table = m.ae_by_decile(loss, expected, exposure, rate, n=10)
    assert list(table.columns) == ["decile", "exposure", "actual", "expected", "ae", "mean_score"]
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["exposure"].sum() == pytest.approx(exposure.sum())
    assert table["actual"].sum() == pytest.approx(loss.sum())
    assert table["expected"].sum() == pytest.approx(expected.sum())
    np.testing.assert_allclose(table["ae"], table["actual"] / table["expected"])
    # Bands of equal exposure, up to the largest single row.
    share = exposure.sum() / 10
    assert np.all(np.abs(table["exposure"] - share) <= exposure.max())
    assert table["mean_score"].is_monotonic_increasing


def test_ae_by_decile_with_equal_rows_is_exact() -> None:
    score = np.arange(20.0)[::-1]  # highest score first in the input
    exposure = np.ones(20)
    actual = np.arange(20.0)
    expected = np.full(20, 2.0)
    table = m.ae_by_decile(actual, expected, exposure, score, n=4)
    np.testing.assert_allclose(table["exposure"], [5.0] * 4)
    # Decile 1 holds the five lowest scores: rows 15..19.
    assert table.loc[0, "actual"] == pytest.approx(sum(range(15, 20)))
    assert table.loc[0, "ae"] == pytest.approx(sum(range(15, 20)) / 10.0)
    assert table.loc[0, "mean_score"] == pytest.approx(2.0)


def test_ae_by_decile_lists_empty_bands() -> None:
    # One row carries nearly all exposure, so some bands stay empty but are still listed.
    table = m.ae_by_decile(
        np.array([1.0, 1.0]), np.array([1.0, 2.0]), np.array([1.0, 99.0]), np.array([0.0, 1.0])
    )
    assert len(table) == 10
    assert table["exposure"].sum() == pytest.approx(100.0)
    empty = table["exposure"] == 0
    assert empty.any()
    assert table.loc[empty, "ae"].isna().all()


def test_spearman_matches_scipy_and_handles_constants() -> None:
    rng = np.random.default_rng(10)
    a = rng.random(100)
    b = a + rng.random(100)
    assert m.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert np.isnan(m.spearman(a, np.ones(100)))


# --- evaluate ---------------------------------------------------------------------


def test_evaluate_reports_the_metrics_consistently() -> None:
    loss, rate, exposure = _portfolio(11, n=3000)
    truth = rate * exposure
    predicted = truth * np.random.default_rng(11).lognormal(0, 0.5, len(truth)) * 1.1
    out = m.evaluate(loss, predicted, exposure, truth_loss=truth, power=1.5)
    assert set(out) == {
        "gini", "normalized_gini", "deviance", "ae", "ae_decile_min", "ae_decile_max",
        "gini_share_of_oracle", "spearman_truth", "expected_over_truth",
        "ae_truth_decile_min", "ae_truth_decile_max",
    }  # fmt: skip
    assert all(isinstance(v, float) for v in out.values())
    score = predicted / exposure
    assert out["gini"] == pytest.approx(m.gini(loss, score, exposure))
    assert out["ae"] == pytest.approx(loss.sum() / predicted.sum())
    assert out["expected_over_truth"] == pytest.approx(predicted.sum() / truth.sum())
    assert out["deviance"] == pytest.approx(
        sk_tweedie(loss / exposure, score, sample_weight=exposure, power=1.5)
    )
    assert out["ae_decile_min"] <= out["ae"] <= out["ae_decile_max"]
    assert 0 < out["gini_share_of_oracle"] < 1
    assert 0 < out["spearman_truth"] < 1
    assert "gini_share_of_oracle" not in m.evaluate(loss, predicted, exposure)


def test_evaluate_on_the_truth_itself_is_perfect_against_truth() -> None:
    loss, rate, exposure = _portfolio(12)
    truth = rate * exposure
    out = m.evaluate(loss, truth, exposure, truth_loss=truth)
    assert out["gini_share_of_oracle"] == pytest.approx(1.0)
    assert out["spearman_truth"] == pytest.approx(1.0)
    assert out["expected_over_truth"] == pytest.approx(1.0)
    assert out["ae_truth_decile_min"] == pytest.approx(1.0)
    assert out["ae_truth_decile_max"] == pytest.approx(1.0)
