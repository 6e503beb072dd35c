"""Seasonality: a calendar-month offset fitted on what the trees left unexplained."""

from __future__ import annotations

import numpy as np
import pytest

from training.seasonality import fit_season, month_of_year

MONTHS = [f"{y}-{m:02d}" for y in (2022, 2023, 2024) for m in range(1, 13)]


def _world(true_season: np.ndarray, rows_per_month: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    months = np.repeat(np.array(MONTHS), rows_per_month)
    moy = month_of_year(months)
    mu = rng.gamma(2.0, 0.05, size=months.size)  # what the trees expect per row
    claims = rng.poisson(mu * true_season[moy - 1]).astype(np.float64)
    loss = mu * 50_000.0
    return months, claims, mu, loss


def test_month_of_year_reads_contract_months() -> None:
    assert month_of_year(["2024-01", "2023-12", "2025-07"]).tolist() == [1, 12, 7]


def test_a_summer_peak_is_recovered() -> None:
    moy = np.arange(1, 13)
    true = np.exp(0.3 * np.cos(2 * np.pi * (moy - 8) / 12))  # peak in August
    months, claims, mu, loss = _world(true, 4000, seed=1)
    season = np.array(fit_season(months, claims, mu, loss))
    assert season.argmax() + 1 in (7, 8, 9)
    assert season.argmin() + 1 in (1, 2, 3)
    # the shape, up to the rescaling that keeps the totals
    assert np.allclose(season / season.mean(), true / true.mean(), rtol=0.08)


def test_the_fitted_factors_keep_the_predicted_total() -> None:
    moy = np.arange(1, 13)
    true = 1.0 + 0.4 * (moy >= 6) * (moy <= 9)
    months, claims, mu, loss = _world(true, 3000, seed=2)
    season = np.array(fit_season(months, claims, mu, loss))
    assert not np.allclose(season, 1.0)
    assert float(np.sum(loss * season[month_of_year(months) - 1])) == pytest.approx(
        float(loss.sum()), rel=1e-12
    )


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_world_without_season_gets_exactly_ones(seed: int) -> None:
    months, claims, mu, loss = _world(np.ones(12), 1500, seed=seed)
    assert fit_season(months, claims, mu, loss) == (1.0,) * 12


def test_too_little_data_gets_ones() -> None:
    months = np.array(["2024-01", "2024-02"])
    ones = np.ones(2)
    assert fit_season(months, np.zeros(2), ones, ones) == (1.0,) * 12
