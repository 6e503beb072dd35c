"""The training pipeline on a small synthetic world: balance, monotonicity, exact
explanations, time discipline and the refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap

from models import features as fdef
from models.contract import ContractData, validate_frames
from models.contract.spec import controllable
from training.dataset import TrainingDataError, build_dataset, claims_by_month
from training.fit import FitConfig
from training.pipeline import TrainOutcome, modelling_rows, part_of, train_from_data
from training.score import score_data
from training.synth import generate_world

FAST = FitConfig(max_rounds=300, early_stopping=30)


@pytest.fixture(scope="module")
def world() -> ContractData:
    w = generate_world(700, seed=5, months=24)
    return validate_frames(w.sites, w.site_months, w.claims)


@pytest.fixture(scope="module")
def outcome(world: ContractData) -> TrainOutcome:
    return train_from_data(world, cfg=FAST)


def test_predicted_total_equals_actual_total_on_training_rows(outcome: TrainOutcome) -> None:
    part = part_of(outcome.train_frame)
    predicted = float(np.sum(outcome.bundle.loss_rate(part.x) * part.exposure))
    assert predicted == pytest.approx(float(part.loss.sum()), rel=1e-9)
    claims = float(np.sum(outcome.bundle.claim_rate(part.x) * part.exposure))
    assert claims == pytest.approx(float(part.claims.sum()), rel=1e-9)


def test_training_rows_exclude_the_test_months(outcome: TrainOutcome) -> None:
    assert set(outcome.train_frame["month"]).isdisjoint(outcome.split.test)
    assert max(outcome.split.train) < min(outcome.split.valid) < min(outcome.split.test)


def test_shap_package_equals_pred_contrib_and_adds_up(outcome: TrainOutcome) -> None:
    bundle = outcome.bundle
    x = fdef.to_matrix(outcome.test_frame.head(300))
    for name, _ in bundle.meta.loss_terms:
        explainer = shap.TreeExplainer(bundle.boosters[name])
        values = np.asarray(explainer.shap_values(x))
        contrib = bundle.tree_contributions(name, x)
        np.testing.assert_allclose(values, contrib[:, :-1], rtol=0, atol=1e-9)
        raw = bundle.boosters[name].predict(x, raw_score=True)
        np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=0, atol=1e-9)
    total = bundle.contributions(x)
    np.testing.assert_allclose(
        total[:, :-1].sum(axis=1) + bundle.base_value, bundle.log_rate(x), rtol=0, atol=1e-9
    )


def _improve(months: pd.DataFrame, column: str, direction: int, rng: np.random.Generator) -> None:
    """Make one controllable metric better on every reported row: fewer of a bad count,
    more of a good rate."""
    values = months[column]
    reported = values.notna().to_numpy()
    if direction > 0:
        cut = rng.integers(1, 4, size=len(months))
        new = np.maximum(values.fillna(0).to_numpy(np.int64) - cut, 0)
        months[column] = pd.array(np.where(reported, new, pd.NA), dtype="Int64")
    else:
        new = np.minimum(values.to_numpy(np.float64) + rng.uniform(0.02, 0.3, len(months)), 1.0)
        months[column] = np.where(reported, new, np.nan)


@pytest.mark.parametrize("column", sorted(controllable()))
def test_improving_a_controllable_metric_never_raises_the_predicted_loss(
    world: ContractData, outcome: TrainOutcome, column: str
) -> None:
    rng = np.random.default_rng(abs(hash(column)) % 2**32)
    direction = controllable()[column]
    months = world.site_months.copy()
    _improve(months, column, direction, rng)
    assert not months[column].equals(world.site_months[column])
    targets = world.site_months[["site_id", "month"]]
    before = fdef.to_matrix(fdef.build_features(world.sites, world.site_months, world.claims))
    after = fdef.to_matrix(fdef.build_features(world.sites, months, world.claims, targets))
    loss_before, loss_after = outcome.bundle.loss_rate(before), outcome.bundle.loss_rate(after)
    assert np.all(loss_after <= loss_before * (1 + 1e-12))
    assert np.any(loss_after < loss_before)  # the metric matters somewhere


def test_scores_of_a_month_ignore_everything_after_it(
    world: ContractData, outcome: TrainOutcome
) -> None:
    cut = outcome.split.test[0]
    later = world.site_months["month"] >= cut
    changed_months = world.site_months.copy()
    changed_months.loc[later, "hazards_found"] = 40
    changed_months.loc[later, "major_hazards"] = 20
    changed_months.loc[later, "worker_hours"] *= 3
    changed_claims = world.claims[world.claims["incident_date"] < pd.Timestamp(cut + "-01")]
    changed = ContractData(world.sites, changed_months, changed_claims, {}, [])
    a = score_data(world, outcome.bundle)
    b = score_data(changed, outcome.bundle)
    assert len(a) == len(world.site_months)
    upto = (a["month"] <= cut).to_numpy()
    # the month itself keeps its features but prices its own (changed) worker-hours
    same_features = (a["month"] < cut).to_numpy()
    pd.testing.assert_frame_equal(a[same_features], b[same_features])
    ratio = (
        b.loc[upto & ~same_features, "expected_loss_cny"].to_numpy()
        / a.loc[upto & ~same_features, "expected_loss_cny"].to_numpy()
    )
    np.testing.assert_allclose(ratio[np.isfinite(ratio)], 3.0, rtol=1e-9)


def test_too_few_months_is_refused_with_a_clear_message() -> None:
    w = generate_world(80, seed=2, months=6)
    data = validate_frames(w.sites, w.site_months, w.claims)
    with pytest.raises(TrainingDataError, match="too few months"):
        train_from_data(data, cfg=FAST)


def test_no_claims_is_refused_with_a_clear_message(world: ContractData) -> None:
    data = ContractData(world.sites, world.site_months, world.claims.head(0), {}, [])
    with pytest.raises(TrainingDataError, match="no claims"):
        train_from_data(data, cfg=FAST)


def test_claims_are_counted_in_their_incident_month(world: ContractData) -> None:
    per_month = claims_by_month(world.claims)
    assert per_month["claims"].sum() == len(world.claims)
    incurred = world.claims["paid_cny"].sum() + world.claims["reserve_cny"].sum()
    assert per_month["loss"].sum() == pytest.approx(incurred)
    ds = build_dataset(world)
    rows = modelling_rows(ds)
    assert (rows["exposure"] > 0).all()


def test_claims_without_a_site_month_are_counted_not_silently_dropped(
    world: ContractData,
) -> None:
    first = world.site_months.groupby("site_id")["month"].min()
    site = str(first.index[0])
    before = pd.Period(first.iloc[0], "M") - 2
    extra = world.claims.head(1).copy()
    extra["claim_id"] = "orphan-1"
    extra["site_id"] = site
    extra["incident_date"] = before.to_timestamp()
    extra["paid_cny"], extra["reserve_cny"] = 1000.0, 500.0
    claims = pd.concat([world.claims, extra], ignore_index=True)
    ds = build_dataset(ContractData(world.sites, world.site_months, claims, {}, []))
    assert ds.unmatched_claims == 1
    assert ds.unmatched_loss == pytest.approx(1500.0)
