"""The bundle's season table: per-month factors and their mean over a policy's cover."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from fixtures.bundle_meta import bundle_meta, projection_boosters

from models import features as fdef
from models.bundle import ModelBundle

SEASON = tuple(float(m) / 6.5 for m in range(1, 13))


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(fdef.FEATURE_NAMES)))
    data = lgb.Dataset(x, rng.poisson(1.0, 200), feature_name=list(fdef.FEATURE_NAMES))
    booster = lgb.train({"objective": "poisson", "verbose": -1, "num_leaves": 4}, data, 3)
    meta = bundle_meta(season=SEASON)
    return ModelBundle({"frequency": booster, **projection_boosters()}, meta)


def test_each_month_gets_its_calendar_factor(bundle: ModelBundle) -> None:
    got = bundle.season_factor(np.array(["2024-01", "2023-12", "2025-07"]))
    assert got.tolist() == [SEASON[0], SEASON[11], SEASON[6]]


def test_a_cover_across_new_year_averages_its_months(bundle: ModelBundle) -> None:
    assert bundle.term_season_factor("2024-11", 3.0) == pytest.approx(
        (SEASON[10] + SEASON[11] + SEASON[0]) / 3
    )


def test_a_fractional_last_month_counts_for_its_fraction(bundle: ModelBundle) -> None:
    assert bundle.term_season_factor("2024-06", 2.5) == pytest.approx(
        (SEASON[5] + SEASON[6] + 0.5 * SEASON[7]) / 2.5
    )


def test_a_full_year_is_the_plain_mean(bundle: ModelBundle) -> None:
    assert bundle.term_season_factor("2024-04", 12.0) == pytest.approx(np.mean(SEASON))


def test_without_a_table_every_factor_is_one(bundle: ModelBundle) -> None:
    plain = ModelBundle(bundle.boosters, dataclasses.replace(bundle.meta, season=()))
    assert plain.term_season_factor("2024-07", 5.0) == 1.0
    assert plain.season_factor(["2024-07", "2024-08"]).tolist() == [1.0, 1.0]


def test_the_table_survives_save_and_load(bundle: ModelBundle, tmp_path: Path) -> None:
    loaded = ModelBundle.load(bundle.save(tmp_path / "b"))
    assert loaded.meta.season == SEASON


def test_a_bundle_saved_before_seasons_loads_without_one(
    bundle: ModelBundle, tmp_path: Path
) -> None:
    folder = bundle.save(tmp_path / "old")
    meta = json.loads((folder / "bundle.json").read_text())
    del meta["season"]
    (folder / "bundle.json").write_text(json.dumps(meta))
    assert ModelBundle.load(folder).meta.season == ()


def test_a_terms_expected_loss_is_rate_trend_season_and_projected_hours(
    bundle: ModelBundle,
) -> None:
    from models.exposure import hours_matrix

    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, len(fdef.FEATURE_NAMES)))
    starts = ["2024-11", "2024-06", "2025-01", "2024-03", "2024-12"]
    risk = bundle.term_risk(x, starts, 6.0)
    h = hours_matrix(x, bundle.meta.feature_names, 6.0)
    hours = np.exp(bundle.boosters["hours"].predict(h, raw_score=True)) * 6.0
    trend = np.exp(bundle.boosters["trend"].predict(h, raw_score=True))
    season = np.array([bundle.term_season_factor(s, 6.0) for s in starts])
    rate = bundle.loss_rate(x)
    np.testing.assert_allclose(risk.hours, hours, rtol=1e-12)
    np.testing.assert_allclose(risk.trend, trend, rtol=1e-12)
    np.testing.assert_allclose(risk.season, season, rtol=1e-12)
    np.testing.assert_allclose(risk.expected_loss, rate * trend * season * hours, rtol=1e-12)
