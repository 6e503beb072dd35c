"""The registered pyfunc, as ``mlflow models serve`` and the service load it: expected
loss and claims for the exposure, in the season of an optional ``month`` column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from fixtures.bundle_meta import bundle_meta, projection_boosters

from models import features as fdef
from models.bundle import ModelBundle
from models.mlflow_model import (
    BUNDLE_ARTIFACT,
    MONTH_COLUMN,
    SiteRiskModel,
    load_bundle,
    model_signature,
)

SEASON = tuple(0.7 + m / 20 for m in range(12))


def _bundle() -> ModelBundle:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, len(fdef.FEATURE_NAMES)))
    data = lgb.Dataset(x, rng.poisson(np.exp(0.3 * x[:, 0])), feature_name=list(fdef.FEATURE_NAMES))
    booster = lgb.train({"objective": "poisson", "verbose": -1, "num_leaves": 4}, data, 5)
    meta = bundle_meta(
        loss_log_balance=-2.0, freq_log_balance=-1.0, peer_rates=(0.01, 0.1, 1.0), season=SEASON
    )
    return ModelBundle({"frequency": booster, **projection_boosters()}, meta)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Any, ModelBundle, pd.DataFrame]]:
    """The bundle logged as training logs it, loaded back through MLflow."""
    home = tmp_path_factory.mktemp("mlflow")
    bundle = _bundle()
    rng = np.random.default_rng(4)
    rows = pd.DataFrame(rng.normal(size=(4, len(fdef.FEATURE_NAMES))), columns=fdef.FEATURE_NAMES)
    rows.insert(0, "exposure", [1000.0, 2000.0, 500.0, 0.0])
    before = mlflow.get_tracking_uri()  # MLflow's URI is process-wide: put it back after
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    mlflow.set_experiment("pyfunc-test")
    model = SiteRiskModel()
    model.bundle = bundle
    with mlflow.start_run():
        folder = bundle.save(Path(home) / BUNDLE_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            artifacts={BUNDLE_ARTIFACT: str(folder)},
            signature=model_signature(bundle, rows),
            pip_requirements=["lightgbm"],
        )
    try:
        yield mlflow.pyfunc.load_model(info.model_uri), bundle, rows
    finally:
        mlflow.set_tracking_uri(before)


def test_without_a_month_it_prices_the_average_month(
    served: tuple[Any, ModelBundle, pd.DataFrame],
) -> None:
    model, bundle, rows = served
    out = model.predict(rows)
    x = rows[list(fdef.FEATURE_NAMES)].to_numpy(np.float64)
    rate = bundle.loss_rate(x)
    np.testing.assert_allclose(out["expected_loss_cny"], rate * rows["exposure"], rtol=1e-12)
    np.testing.assert_allclose(
        out["expected_claims"], bundle.claim_rate(x) * rows["exposure"], rtol=1e-12
    )
    assert out["season_factor"].tolist() == [1.0] * 4
    np.testing.assert_allclose(out["percentile"], bundle.percentile(rate))


def test_a_month_brings_its_season_and_an_empty_one_the_average(
    served: tuple[Any, ModelBundle, pd.DataFrame],
) -> None:
    model, _, rows = served
    plain = model.predict(rows)
    dated = model.predict(rows.assign(**{MONTH_COLUMN: ["2025-01", "2025-08", None, "2024-12"]}))
    want = [SEASON[0], SEASON[7], 1.0, SEASON[11]]
    np.testing.assert_allclose(dated["season_factor"], want, rtol=0, atol=0)
    np.testing.assert_allclose(
        dated["expected_loss_cny"], plain["expected_loss_cny"] * want, rtol=1e-12
    )
    np.testing.assert_allclose(dated["loss_rate_per_hour"], plain["loss_rate_per_hour"])


def test_a_malformed_month_is_refused_by_name(
    served: tuple[Any, ModelBundle, pd.DataFrame],
) -> None:
    model, _, rows = served
    with pytest.raises(ValueError, match="month must look like YYYY-MM"):
        model.predict(rows.assign(**{MONTH_COLUMN: ["2025-13", "2025-01", "2025-01", "x"]}))


def test_the_service_gets_the_same_bundle_back(
    served: tuple[Any, ModelBundle, pd.DataFrame],
) -> None:
    model, bundle, rows = served
    uri = model.metadata.get_model_info().model_uri
    again = load_bundle(uri)
    x = rows[list(fdef.FEATURE_NAMES)].to_numpy(np.float64)
    np.testing.assert_array_equal(again.loss_rate(x), bundle.loss_rate(x))
    assert again.meta.season == SEASON
