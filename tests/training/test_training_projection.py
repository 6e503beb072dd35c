"""The term projection's targets, worked out by hand, and the fitted projection on a
generated world against what its later months really held."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models import features as fdef
from models.contract import validate_frames
from training.fit import FitConfig
from training.pipeline import TrainOutcome, train_from_data
from training.projection import future_sum, projection_rows
from training.synth import World, generate_world

MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]


def test_future_sum_adds_the_horizons_months_and_counts_missing_ones_as_zero() -> None:
    values = pd.DataFrame(
        {
            "site_id": ["A", "A", "A", "B"],
            "month": ["2024-01", "2024-02", "2024-03", "2024-02"],
            "value": [1.0, 2.0, 3.0, 5.0],
        }
    )
    rows = pd.DataFrame(
        {"site_id": ["A", "A", "B", "A"], "month": ["2024-01", "2024-03", "2024-02", "2024-02"]}
    )
    two = future_sum(values, rows, 2, MONTHS)
    # A from Jan: 1 + 2; A from Mar: 3 + 0 (April has no row); B from Feb: 5 + 0
    assert two[:3].tolist() == [3.0, 3.0, 5.0]
    three = future_sum(values, rows, 3, MONTHS)
    # A from Mar over three months runs past April: not known yet
    assert three[0] == 6.0
    assert math.isnan(three[1])
    assert three[3] == 5.0  # A from Feb: 2 + 3 + 0


def test_trend_is_the_later_rate_over_the_start_months_hour_weighted() -> None:
    world = generate_world(60, seed=4, months=14)
    data = validate_frames(world.sites, world.site_months, world.claims)
    from training.dataset import build_dataset

    frame = build_dataset(data).frame
    months = sorted(frame["month"].unique())
    # a made-up rate that doubles every month: the trend over h months is then
    # Σ hours_k 2^k / Σ hours_k, relative to the start month's rate
    index = {m: i for i, m in enumerate(months)}
    rate = np.array([2.0 ** index[m] for m in frame["month"]])
    rows = projection_rows(frame, rate, months, seed=1)
    assert rows.x.shape[0] == rows.hours.size == rows.trend.size
    assert np.all(rows.trend[rows.trend_weight > 0] >= 1.0 - 1e-12)
    # one row by hand: the first site-month with hours, over a 3-month horizon
    first = frame[frame["exposure"] > 0].iloc[0]
    site = frame[frame["site_id"] == first["site_id"]].set_index("month")["exposure"]
    i = index[first["month"]]
    span = months[i : i + 3]
    hours = np.array([site.get(m, 0.0) for m in span])
    expected = float(np.sum(hours * 2.0 ** np.arange(3)) / np.sum(hours))
    names = fdef.FEATURE_NAMES
    x = fdef.to_matrix(frame.loc[[first.name]])[0]
    match = np.flatnonzero(
        np.all(
            np.isclose(
                rows.x[:, :-1], x[[names.index(n) for n in _hours_features()]], equal_nan=True
            ),
            axis=1,
        )
        & (rows.x[:, -1] == 3)
    )
    assert match.size >= 1
    assert rows.trend[match[0]] == pytest.approx(expected)


def _hours_features() -> tuple[str, ...]:
    from models.exposure import HOURS_FEATURES

    return HOURS_FEATURES


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(900, seed=8, months=36)


@pytest.fixture(scope="module")
def outcome(world: World) -> TrainOutcome:
    data = validate_frames(world.sites, world.site_months, world.claims)
    return train_from_data(data, cfg=FitConfig(max_rounds=200, early_stopping=30, threads=2))


def test_the_books_expected_loss_for_a_year_follows_the_truth(
    world: World, outcome: TrainOutcome
) -> None:
    """Every site active in a learning month, priced for the twelve months from it:
    the served expected loss (rate × trend × season × projected hours) against the
    truth table over the months the site was really active."""
    months = sorted(world.truth["month"].unique())
    start = months[-24]
    term = months[-24:-12]
    frame = outcome.frame
    rows = frame[(frame["month"] == start) & (frame["exposure"] > 0)]
    risk = outcome.bundle.term_risk(fdef.to_matrix(rows), [start] * len(rows), 12.0)
    truth = world.truth[world.truth["month"].isin(term)]
    true_loss = truth.groupby("site_id")["expected_loss_cny"].sum()
    total = float(true_loss.reindex(rows["site_id"]).fillna(0.0).sum())
    assert float(risk.expected_loss.sum()) / total == pytest.approx(1.0, abs=0.12)
    # and the worker-hours alone
    actual = world.site_months[world.site_months["month"].isin(term)]
    hours = actual.groupby("site_id")["worker_hours"].sum().reindex(rows["site_id"]).fillna(0)
    assert float(risk.hours.sum()) / float(hours.sum()) == pytest.approx(1.0, abs=0.08)
