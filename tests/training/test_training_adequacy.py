"""Rate adequacy (training/adequacy.py): every figure against a hand computation on a
tiny hand-made book, issue 16's equalisation and gap on their defining cases, and the
test book of a small generated world priced the way the service prices it."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from models.contract import ContractData, validate_frames
from training import adequacy as ad
from training.fit import FitConfig
from training.pipeline import TrainOutcome, train_from_data
from training.synth import generate_world

FAST = FitConfig(max_rounds=300, early_stopping=30)


# ---------------------------------------------------------------------------
# a hand-made book of six sites: bases and finals both total 1,000


def _hand_book(truth: bool = True) -> pd.DataFrame:
    book = pd.DataFrame(
        {
            "site_id": ["a", "b", "c", "d", "e", "f"],
            "month": "2025-01",
            "term_months": 6,
            "project_type": ["res", "res", "com", "com", "ind", "ind"],
            "contract_value_cny": [5e6, 20e6, 60e6, 200e6, 1e9, 2e9],
            "base": [100.0, 200.0, 100.0, 300.0, 200.0, 100.0],
            "final": [70.0, 200.0, 130.0, 330.0, 140.0, 130.0],
            "expected_loss": [30.0, 100.0, 80.0, 200.0, 40.0, 150.0],
            "actual_loss": [10.0, 150.0, 0.0, 400.0, 20.0, 100.0],
            "risk_factor": [0.5, 1.0, 2.0, 1.2, 0.3, 3.0],
            "discount_allowed": [True, False, True, True, True, True],
            "truth": [45.0, 90.0, 70.0, 210.0, 50.0, 140.0],
        }
    )
    if not truth:
        book["truth"] = np.nan
    return book


def test_value_bands_follow_the_tariff_bands_upper_end_included() -> None:
    book = _hand_book()
    assert ad.value_labels() == (
        "≤10M",
        "10M–50M",
        "50M–100M",
        "100M–500M",
        "500M–1B",
        ">1B",
    )
    got = ad.value_bands([10e6, 10e6 + 1, 50e6, 1e9, 1e9 + 1, *book["contract_value_cny"]])
    assert list(got) == [
        "≤10M", "10M–50M", "10M–50M", "500M–1B", ">1B",
        "≤10M", "10M–50M", "50M–100M", "100M–500M", "500M–1B", ">1B",
    ]  # fmt: skip


def test_risk_deciles_are_base_weighted_along_the_risk_factor() -> None:
    book = _hand_book()
    # sorted by risk: e(0.3, base 200) a(0.5, 100) b(1.0, 200) d(1.2, 300) c(2.0, 100)
    # f(3.0, 100); base midpoints on the cumulative axis of 1,000: 100, 250, 400, 650,
    # 850, 950 -> decile = floor(10 * midpoint / 1000) + 1
    expected = {"e": 2, "a": 3, "b": 5, "d": 7, "c": 9, "f": 10}
    got = ad.risk_deciles(book["risk_factor"], book["base"])
    assert dict(zip(book["site_id"], got.tolist(), strict=True)) == expected
    # equal weights, ten sites: one per decile
    assert ad.risk_deciles(np.arange(10.0)[::-1], np.ones(10)).tolist() == list(range(10, 0, -1))


def test_loss_ratio_table_by_project_type_by_hand() -> None:
    table = ad.loss_ratio_table(_hand_book(), "project_type").set_index("project_type")
    assert list(table.index) == ["com", "ind", "res"]
    # res = a + b, com = c + d, ind = e + f
    hand = {
        "res": {"sites": 2, "base": 300, "final": 270, "exp": 130, "act": 160, "truth": 135},
        "com": {"sites": 2, "base": 400, "final": 460, "exp": 280, "act": 400, "truth": 280},
        "ind": {"sites": 2, "base": 300, "final": 270, "exp": 190, "act": 120, "truth": 190},
    }
    # book: base 1000, final 1000, expected 600, actual 680, truth 605
    book_lr = {"exp": 600 / 1000, "act": 680 / 1000, "truth": 605 / 1000}
    names = {"exp": "expected", "act": "actual", "truth": "truth"}
    for group, h in hand.items():
        row = table.loc[group]
        assert row["sites"] == h["sites"]
        assert row["base"] == h["base"]
        assert row["final"] == h["final"]
        assert row["expected_loss"] == h["exp"]
        assert row["actual_loss"] == h["act"]
        assert row["truth"] == h["truth"]
        for short, name in names.items():
            assert row[f"lr_tariff_{name}"] == pytest.approx(h[short] / h["base"])
            assert row[f"lr_final_{name}"] == pytest.approx(h[short] / h["final"])
            # base and final both total 1000, so the book's LR is the same on both
            assert row[f"rel_tariff_{name}"] == pytest.approx(h[short] / h["base"] / book_lr[short])
            assert row[f"rel_final_{name}"] == pytest.approx(h[short] / h["final"] / book_lr[short])


def test_loss_ratio_table_by_value_band_and_decile_lists_every_group() -> None:
    book = _hand_book(truth=False)
    bands = ad.loss_ratio_table(book, "value_band")
    assert list(bands["value_band"]) == list(ad.value_labels())
    assert bands["sites"].tolist() == [1, 1, 1, 1, 1, 1]
    assert "truth" not in bands
    assert "lr_final_truth" not in bands
    # site e (contract value exactly 1B) is in 500M–1B: base 200, actual 20
    row = bands.set_index("value_band").loc["500M–1B"]
    assert row["lr_tariff_actual"] == pytest.approx(20 / 200)
    assert row["rel_tariff_actual"] == pytest.approx((20 / 200) / (680 / 1000))

    deciles = ad.loss_ratio_table(book, "risk_decile")
    assert deciles["risk_decile"].tolist() == list(range(1, 11))
    assert deciles["sites"].tolist() == [0, 1, 1, 0, 1, 0, 1, 0, 1, 1]
    assert np.isnan(deciles.loc[0, "lr_final_actual"])  # an empty decile has no ratio
    assert deciles["final"].sum() == 1000


def test_adequacy_spread_by_hand() -> None:
    book = _hand_book()
    # Σ_g (P_g/P)|(L_g/P_g)/(L/P) − 1| = Σ_g |L_g/L − P_g/P|, in exact fractions:
    # final on actual by project type: res P 270 L 160, com P 460 L 400, ind P 270 L 120
    loss, prem = Fraction(680), Fraction(1000)
    hand = sum(
        abs(Fraction(lg) / loss - Fraction(pg) / prem)
        for pg, lg in ((270, 160), (460, 400), (270, 120))
    )
    got = ad.adequacy_spread(book, "final", "actual_loss", "project_type")
    assert got == pytest.approx(float(hand), abs=1e-12)
    # the same, written as the premium-weighted mean absolute deviation
    lr = 680 / 1000
    mad = sum(p / 1000 * abs(ll / p / lr - 1) for p, ll in ((270, 160), (460, 400), (270, 120)))
    assert got == pytest.approx(mad, abs=1e-12)
    # tariff on expected by risk decile: one site per decile, so Σ_i |L_i/L − B_i/B|
    per_site = sum(
        abs(Fraction(e, 600) - Fraction(b, 1000))
        for b, e in ((100, 30), (200, 100), (100, 80), (300, 200), (200, 40), (100, 150))
    )
    with_deciles = ad.with_groups(book)
    assert ad.adequacy_spread(
        with_deciles, "base", "expected_loss", "risk_decile"
    ) == pytest.approx(float(per_site), abs=1e-12)
    # premiums in proportion to the loss: no spread
    flat = book.assign(final=book["actual_loss"] * 2.0)
    assert ad.adequacy_spread(flat, "final", "actual_loss", "project_type") == 0.0
    # no loss at all: undefined
    assert math.isnan(
        ad.adequacy_spread(book.assign(actual_loss=0.0), "final", "actual_loss", "project_type")
    )


# ---------------------------------------------------------------------------
# equalisation and the gap (issue 16, "How the check measures it")

T3 = np.array([1.0, 2.0, 6.0])
B3 = np.array([2.0, 2.0, 2.0])


def _weighted_log_variance(t: list[float], p: list[float]) -> float:
    x = [math.log(ti / pi) for ti, pi in zip(t, p, strict=True)]
    mean = sum(pi * xi for pi, xi in zip(p, x, strict=True)) / sum(p)
    return sum(pi * (xi - mean) ** 2 for pi, xi in zip(p, x, strict=True)) / sum(p)


def test_equalisation_by_hand() -> None:
    # c = 9 / 6 = 1.5; r = T / (1.5 × 2) = 1/3, 2/3, 2; oracle = 2 × (0.7, 0.7, 1.3)
    oracle = [1.4, 1.4, 2.6]
    np.testing.assert_allclose(ad.true_relativity(T3, B3), [1 / 3, 2 / 3, 2.0])
    np.testing.assert_allclose(ad.oracle_premium(T3, B3, -30, 30), oracle)
    p = [1.8, 1.9, 2.4]
    d_b = _weighted_log_variance([1, 2, 6], [2, 2, 2])
    d_o = _weighted_log_variance([1, 2, 6], oracle)
    d_p = _weighted_log_variance([1, 2, 6], p)
    assert ad.dispersion(T3, B3) == pytest.approx(d_b, rel=1e-12)
    assert ad.equalisation(T3, B3, p, -30, 30) == pytest.approx((d_b - d_p) / (d_b - d_o))


def test_equalisation_is_one_at_the_oracle_and_zero_at_the_tariff() -> None:
    rng = np.random.default_rng(3)
    t = rng.gamma(0.8, 1000.0, 300)
    b = rng.lognormal(7.0, 0.5, 300)
    oracle = b * np.clip(t / (t.sum() / b.sum() * b), 0.7, 1.3)
    assert ad.equalisation(t, b, oracle, -30, 30) == pytest.approx(1.0, abs=1e-12)
    assert ad.equalisation(t, b, b, -30, 30) == pytest.approx(0.0, abs=1e-12)
    # a premium between the two lies between
    assert 0.0 < ad.equalisation(t, b, 0.5 * (b + oracle), -30, 30) < 1.0


def test_sites_without_true_loss_are_left_out_of_the_dispersion_only() -> None:
    t = np.array([0.0, 3.0, 6.0])
    # D(B): only sites 2 and 3, equal weights -> variance of log 1.5 and log 3
    assert ad.dispersion(t, B3) == pytest.approx((math.log(2.0) / 2) ** 2)
    # c still counts the site: c = 9 / 6, r = 0, 1, 2
    np.testing.assert_allclose(ad.true_relativity(t, B3), [0.0, 1.0, 2.0])
    assert ad.equalisation(t, B3, ad.oracle_premium(t, B3, -30, 30), -30, 30) == pytest.approx(1.0)


def test_gap_by_hand_with_the_gate() -> None:
    allowed = [True, False, True]
    # r = 1/3, 2/3, 2: ideal = clip(1/3, .7, 1.3) − 1 = −0.3; gated: clip(2/3, 1, 1.3) − 1
    # = 0; clip(2, .7, 1.3) − 1 = 0.3
    np.testing.assert_allclose(ad.ideal_adjustment(T3, B3, -30, 30, allowed), [-0.3, 0.0, 0.3])
    assert ad.ideal_gap(T3, B3, B3 * [0.7, 1.0, 1.3], -30, 30, allowed) == pytest.approx(0.0)
    # the tariff alone: (0.3 + 0 + 0.3) / 3
    assert ad.ideal_gap(T3, B3, B3, -30, 30, allowed) == pytest.approx(0.2)
    # P = 2.2, 2.2, 2.2 -> P/B − 1 = 0.1: |0.1 + 0.3| + |0.1 − 0| + |0.1 − 0.3| over 3
    assert ad.ideal_gap(T3, B3, [2.2, 2.2, 2.2], -30, 30, allowed) == pytest.approx(0.7 / 3)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="T"):
        ad.equalisation([-1.0, 2.0], [1.0, 1.0], [1.0, 1.0], -30, 30)
    with pytest.raises(ValueError, match="base premium"):
        ad.ideal_gap([1.0, 2.0], [0.0, 1.0], [1.0, 1.0], -30, 30, [True, True])
    with pytest.raises(ValueError, match="band"):
        ad.equalisation([1.0, 2.0], [1.0, 1.0], [1.0, 1.0], 10, 30)


# ---------------------------------------------------------------------------
# the report


def test_report_of_the_hand_book() -> None:
    book = _hand_book()
    rating = {
        "off_balance_before_pct": 1.5,
        "off_balance_after_pct": 0.0,
        "off_balance_factor": 0.97,
        "book_month": "2024-12",
    }
    rep = ad.report(book, band_min_pct=-30, band_max_pct=30, rating=rating)
    assert rep.sites == 6
    assert rep.term_months == 6
    assert set(rep.tables) == {"risk_decile", "value_band", "project_type"}
    # final vs base totals 1000 / 1000
    assert rep.book_off_balance_pct == pytest.approx(0.0)
    assert rep.actual_over_expected == pytest.approx(680 / 600)
    assert rep.expected_over_truth == pytest.approx(600 / 605)
    assert rep.totals["discount_withheld_share"] == pytest.approx(1 / 6)
    assert rep.adequacy == pytest.approx(
        ad.adequacy_spread(ad.with_groups(book), "final", "actual_loss", "risk_decile")
    )
    t = book["truth"].to_numpy()
    b = book["base"].to_numpy()
    p = book["final"].to_numpy()
    allowed = book["discount_allowed"].to_numpy()
    assert rep.equalisation == pytest.approx(ad.equalisation(t, b, p, -30, 30))
    assert rep.gap == pytest.approx(ad.ideal_gap(t, b, p, -30, 30, allowed))
    assert rep.gap_tariff == pytest.approx(ad.ideal_gap(t, b, b, -30, 30, allowed))

    metrics = rep.metrics()
    assert metrics["adequacy.spread"] == rep.adequacy
    assert metrics["adequacy.off_balance_before_pct"] == 1.5
    assert metrics["adequacy.equalisation"] == rep.equalisation
    assert metrics["adequacy.lr_final_actual"] == pytest.approx(0.68)
    assert all(math.isfinite(v) for v in metrics.values())

    text = rep.to_text()
    assert "6 sites active in 2025-01, priced for 6 month(s)" in text
    for part in ("decile", "tariff act", "final truth", "equalisation", "+1.50% before"):
        assert part in text
    # one header, ten deciles, the book row
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("decile"))
    assert lines[start + 11].startswith("book LR")


def test_report_without_truth_has_no_truth_figures() -> None:
    rep = ad.report(_hand_book(truth=False), band_min_pct=-30, band_max_pct=30)
    assert rep.equalisation is None
    assert rep.gap is None
    assert rep.expected_over_truth is None
    assert "adequacy.equalisation" not in rep.metrics()
    assert rep.to_text().split("\n")[2] == "(exp: the model's expected loss; act: incurred)"
    assert "Against the truth" not in rep.to_text()


# ---------------------------------------------------------------------------
# the test book of a generated world


@pytest.fixture(scope="module")
def world() -> tuple[ContractData, pd.DataFrame]:
    w = generate_world(500, seed=11, months=24)
    return validate_frames(w.sites, w.site_months, w.claims), w.truth


@pytest.fixture(scope="module")
def outcome(world: tuple[ContractData, pd.DataFrame]) -> TrainOutcome:
    data, truth = world
    return train_from_data(data, cfg=FAST, truth=truth)


@pytest.fixture(scope="module")
def book(outcome: TrainOutcome, world: tuple[ContractData, pd.DataFrame]) -> pd.DataFrame:
    return ad.outcome_book(outcome, world[1])


def test_the_test_book_is_every_site_active_in_the_first_test_month(
    outcome: TrainOutcome, book: pd.DataFrame
) -> None:
    months = outcome.split.test
    frame = outcome.frame
    first = frame[(frame["month"] == months[0]) & (frame["exposure"].fillna(0) > 0)]
    assert sorted(book["site_id"]) == sorted(first["site_id"])
    assert (book["term_months"] == len(months)).all()
    assert (book["month"] == months[0]).all()
    band = outcome.rules.band
    ratio = book["final"] / book["base"]
    assert ratio.between(1 + band.lower - 1e-4, 1 + band.upper + 1e-4).all()
    # no discount past the gate
    assert (ratio[~book["discount_allowed"]] >= 1 - 1e-4).all()


def test_actual_and_true_loss_are_summed_over_the_test_months(
    outcome: TrainOutcome, book: pd.DataFrame, world: tuple[ContractData, pd.DataFrame]
) -> None:
    months = set(outcome.split.test)
    truth = world[1]
    for site in book["site_id"].sample(25, random_state=0):
        rows = outcome.frame[
            (outcome.frame["site_id"] == site) & outcome.frame["month"].isin(months)
        ]
        t_rows = truth[(truth["site_id"] == site) & truth["month"].isin(months)]
        got = book.set_index("site_id").loc[site]
        assert got["actual_loss"] == pytest.approx(float(rows["loss"].fillna(0).sum()))
        assert got["truth"] == pytest.approx(float(t_rows["expected_loss_cny"].sum()))
    assert book["actual_loss"].sum() > 0
    assert ad.has_truth(book)
    no_truth = ad.outcome_book(outcome)
    assert no_truth["truth"].isna().all()
    pd.testing.assert_series_equal(no_truth["final"], book["final"])


def test_the_report_of_a_trained_model_adds_up(
    outcome: TrainOutcome, book: pd.DataFrame, world: tuple[ContractData, pd.DataFrame]
) -> None:
    rep = ad.outcome_report(outcome, world[1])
    for table in rep.tables.values():
        assert table["sites"].sum() == len(book)
        for column in ("base", "final", "expected_loss", "actual_loss", "truth"):
            assert table[column].sum() == pytest.approx(book[column].sum())
    # the decile spread recomputed site by site, in plain Python
    deciles = ad.risk_deciles(book["risk_factor"], book["base"])
    premium: dict[int, float] = {}
    loss: dict[int, float] = {}
    for d, p, ll in zip(deciles, book["final"], book["actual_loss"], strict=True):
        premium[d] = premium.get(d, 0.0) + p
        loss[d] = loss.get(d, 0.0) + ll
    total_p, total_l = sum(premium.values()), sum(loss.values())
    hand = sum(abs(loss[d] / total_l - premium[d] / total_p) for d in premium)
    assert rep.adequacy == pytest.approx(hand, rel=1e-9)
    # deciles carry about a tenth of the base each
    shares = rep.tables["risk_decile"]["base"] / book["base"].sum()
    assert shares.between(0.05, 0.15).all()
    rating = outcome.bundle.meta.rating
    metrics = rep.metrics()
    assert metrics["adequacy.off_balance_after_pct"] == pytest.approx(
        outcome.calibration.off_balance_after_pct
    )
    assert metrics["adequacy.off_balance_before_pct"] == rating["off_balance_before_pct"]
    assert 0.0 <= metrics["adequacy.gap"] < metrics["adequacy.gap_tariff"]
    assert metrics["adequacy.equalisation"] > 0.0
    assert metrics["adequacy.expected_over_truth"] == pytest.approx(
        book["expected_loss"].sum() / book["truth"].sum()
    )
