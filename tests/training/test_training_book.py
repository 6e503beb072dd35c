"""The book priced as the service prices it: the book loss ratio, the off-balance factor
and the premiums, against an independent computation on a generated world."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import features as fdef
from models.contract import validate_frames
from models.pricing import base_premium, plan_premium
from models.pricing.site_history import data_quality, histories
from training.book import active_rows, calibrate, price_book
from training.fit import FitConfig
from training.pipeline import TrainOutcome, train_from_data
from training.synth import generate_world


@pytest.fixture(scope="module")
def outcome() -> TrainOutcome:
    world = generate_world(700, seed=12, months=30)
    data = validate_frames(world.sites, world.site_months, world.claims)
    return train_from_data(data, cfg=FitConfig(max_rounds=200, early_stopping=30, threads=2))


def test_the_book_loss_ratio_is_expected_loss_over_base_premium(outcome: TrainOutcome) -> None:
    rating = outcome.bundle.meta.rating
    month = rating["book_month"]
    assert month == outcome.split.valid[-1]
    rows = active_rows(outcome.frame, month)
    assert rating["book_sites"] == len(rows)
    risk = outcome.bundle.term_risk(fdef.to_matrix(rows), [month] * len(rows), 12.0)
    sites = outcome.data.sites.set_index("site_id")
    tariff = outcome.rules.tariff
    bases = [
        float(base_premium(sites.loc[s, "contract_value_cny"], 12, max(d, 1.0), tariff))
        for s, d in zip(rows["site_id"], rows["planned_duration_months"], strict=True)
    ]
    assert rating["book_loss_ratio"] == pytest.approx(
        float(risk.expected_loss.sum()) / sum(bases), rel=1e-9
    )
    assert rating["plan_version"] == outcome.rules.plan.version
    assert rating["tariff_version"] == outcome.rules.tariff.version


def test_the_off_balance_factor_holds_the_book_within_the_plans_tolerance(
    outcome: TrainOutcome,
) -> None:
    rating = outcome.bundle.meta.rating
    tolerance = outcome.rules.plan.off_balance.tolerance_pct
    assert abs(rating["off_balance_after_pct"]) <= tolerance
    # priced again from scratch, the calibration book's premiums total the tariff's
    book = price_book(
        outcome.data, outcome.frame, outcome.bundle, outcome.rules,
        month=rating["book_month"], term=12,
    )  # fmt: skip
    assert abs(book["final"].sum() / book["base"].sum() - 1) * 100 <= tolerance
    again = calibrate(
        outcome.data, outcome.frame, outcome.bundle, outcome.rules, rating["book_month"]
    )
    assert again.off_balance_factor == pytest.approx(rating["off_balance_factor"], rel=1e-9)


def test_book_premiums_are_the_quote_arithmetic_inside_the_band(outcome: TrainOutcome) -> None:
    month = outcome.split.test[0]
    rules = outcome.rules
    book = price_book(outcome.data, outcome.frame, outcome.bundle, rules, month=month, term=6)
    band = rules.band
    # never a cent outside the band (float division aside)
    ratio = book["final"] / book["base"]
    assert (ratio >= 1 + band.lower - 1e-9).all()
    assert (ratio <= 1 + band.upper + 1e-9).all()
    gates = [
        data_quality(band, h, month).passed
        for h in histories(
            outcome.data, book["site_id"].tolist(), ("device_online_rate", "data_completeness")
        )
    ]
    assert book["discount_allowed"].tolist() == gates
    assert (
        book.loc[~book["discount_allowed"], "final"] >= book.loc[~book["discount_allowed"], "base"]
    ).all()
    f = outcome.bundle.meta.rating["off_balance_factor"]
    for row in book.head(50).itertuples():
        assert row.final == float(
            plan_premium(row.base, row.risk_factor, f, band, row.discount_allowed)
        )
    # the risk factor is the relativity times the exposure intensity: EL / (c × B)
    c = outcome.bundle.meta.rating["book_loss_ratio"]
    r = book["expected_loss"] / (c * book["base"])
    assert np.allclose(book["risk_factor"], r, rtol=1e-9)
    assert math.isfinite(float(book["risk_factor"].sum()))
