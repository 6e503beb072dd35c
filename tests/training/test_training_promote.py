"""Promotion (training/promote.py) on the premiums charged: both models price the same
test book; the plan's adequacy, dislocation and off-balance limits refuse a challenger
that breaks them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.bundle import ModelBundle
from models.contract import ContractData, validate_frames
from models.pricing import PromotionRule
from training import adequacy as ad
from training import promote as pr
from training.book import BookRules
from training.fit import FitConfig
from training.pipeline import TrainOutcome, train_from_data
from training.synth import generate_world

FAST = FitConfig(max_rounds=300, early_stopping=30)


@pytest.fixture(scope="module")
def world() -> tuple[ContractData, pd.DataFrame]:
    w = generate_world(500, seed=13, months=24)
    return validate_frames(w.sites, w.site_months, w.claims), w.truth


@pytest.fixture(scope="module")
def outcome(world: tuple[ContractData, pd.DataFrame]) -> TrainOutcome:
    return train_from_data(world[0], cfg=FAST, truth=world[1])


def _with_rating(bundle: ModelBundle, **changes: Any) -> ModelBundle:
    return ModelBundle(
        bundle.boosters, replace(bundle.meta, rating={**bundle.meta.rating, **changes})
    )


def _rules(outcome: TrainOutcome, **limits: float) -> BookRules:
    promo = replace(outcome.rules.plan.promotion, **limits)
    return replace(outcome.rules, plan=replace(outcome.rules.plan, promotion=promo))


def test_the_same_model_moves_nobody_and_is_not_worse(
    outcome: TrainOutcome, world: tuple[ContractData, pd.DataFrame]
) -> None:
    c = pr.compare(outcome.bundle, outcome.bundle, world[0], truth=world[1], rules=outcome.rules)
    assert c.not_worse, c.reasons
    assert c.dislocation is not None
    unchanged = c.dislocation.set_index("label").loc["unchanged"]
    assert unchanged["share"] == 1.0
    assert c.moving == {"share_moving_10pct": 0.0, "share_moving_20pct": 0.0}
    assert c.adequacy is not None
    assert c.adequacy.of("challenger") == c.adequacy.of("champion")
    assert c.challenger_adequacy is not None
    assert c.challenger_adequacy.equalisation is not None  # truth given
    metrics = c.metrics()
    assert metrics["challenger.adequacy.spread"] == c.challenger_adequacy.adequacy
    assert metrics["dislocation.share_moving_10pct"] == 0.0
    text = pr.summary_text(c)
    assert "Premium dislocation" in text
    assert "adequacy spread" in text


def test_dislocation_is_measured_on_the_final_premium(
    outcome: TrainOutcome, world: tuple[ContractData, pd.DataFrame]
) -> None:
    # The same model with a 25% higher off-balance factor: the model rates are equal,
    # only the premiums charged move.
    f = float(outcome.bundle.meta.rating["off_balance_factor"])
    challenger = _with_rating(outcome.bundle, off_balance_factor=1.25 * f)
    c = pr.compare(challenger, outcome.bundle, world[0], rules=outcome.rules)
    assert c.challenger == c.champion  # model metrics see no difference
    book = ad.outcome_book(outcome)
    months = outcome.split.test
    moved = ad.test_book(outcome.data, outcome.frame, challenger, outcome.rules, months)
    change = moved["final"].to_numpy() / book["final"].to_numpy() - 1
    assert c.moving["share_moving_10pct"] == pytest.approx(np.mean(np.round(change, 10) >= 0.10))
    assert c.moving["share_moving_20pct"] == pytest.approx(np.mean(np.round(change, 10) >= 0.20))
    assert c.moving["share_moving_10pct"] > 0.2
    strict = _rules(outcome, max_share_moving_10pct=0.05, max_share_moving_20pct=0.05)
    refused = pr.compare(challenger, outcome.bundle, world[0], rules=strict)
    assert any(r.startswith("dislocation") and "10%" in r for r in refused.reasons)
    assert any(r.startswith("dislocation") and "20%" in r for r in refused.reasons)
    lax = _rules(outcome, max_share_moving_10pct=1.0, max_share_moving_20pct=1.0)
    accepted = pr.compare(challenger, outcome.bundle, world[0], rules=lax)
    assert not any(r.startswith("dislocation") for r in accepted.reasons)


def test_a_challenger_whose_premiums_ignore_the_risk_is_refused_on_adequacy(
    outcome: TrainOutcome, world: tuple[ContractData, pd.DataFrame]
) -> None:
    # A book loss ratio a thousand times too low makes every risk factor huge: every
    # site pays the band's ceiling, 1.3 × the tariff, whatever its risk. Its spread is
    # the tariff's, on either model's deciles (the spread ignores the premium's scale).
    c_book = float(outcome.bundle.meta.rating["book_loss_ratio"])
    flat = _with_rating(outcome.bundle, book_loss_ratio=c_book / 1000)
    lax = _rules(outcome, max_share_moving_10pct=1.0, max_share_moving_20pct=1.0)
    c = pr.compare(flat, outcome.bundle, world[0], rules=lax)
    assert c.challenger_adequacy is not None
    assert c.adequacy is not None
    table = c.challenger_adequacy.tables["risk_decile"]
    np.testing.assert_allclose(table["final"], 1.3 * table["base"], rtol=1e-6)
    book = ad.with_groups(ad.outcome_book(outcome))
    tariff = ad.adequacy_spread(book, "base", "actual_loss", "risk_decile")
    assert c.adequacy.spreads[("challenger", "champion")] == pytest.approx(tariff, rel=1e-6)
    champion = c.adequacy.of("champion")
    worse_by = c.adequacy.of("challenger") - champion
    assert worse_by > 0  # the premium that follows the risk is the more adequate
    # refused when it is worse by more than the plan's tolerance, not otherwise
    for tolerance, refused in ((worse_by * 0.9, True), (worse_by * 1.1, False)):
        rules = _rules(
            outcome,
            max_share_moving_10pct=1.0,
            max_share_moving_20pct=1.0,
            adequacy_tolerance=tolerance,
        )
        reasons = pr.compare(flat, outcome.bundle, world[0], rules=rules).reasons
        assert [r for r in reasons if r.startswith("adequacy")] == (
            [
                f"adequacy: the spread of actual loss ratios across risk deciles is "
                f"{c.adequacy.of('challenger'):.3f} against the champion's {champion:.3f} "
                f"(tolerance {tolerance:g})"
            ]
            if refused
            else []
        )
    # the better model as challenger against the flat one passes on adequacy
    back = pr.compare(outcome.bundle, flat, world[0], rules=lax)
    assert not any(r.startswith("adequacy") for r in back.reasons)


def _pair_spread(order: list[int], premium: list[float], loss: list[float]) -> float:
    """Twenty sites of equal base: each decile is two consecutive sites of ``order``;
    the spread is Σ over deciles of |share of loss − share of premium|."""
    total_p, total_l = sum(premium), sum(loss)
    out = 0.0
    for k in range(0, len(order), 2):
        i, j = order[k], order[k + 1]
        out += abs((loss[i] + loss[j]) / total_l - (premium[i] + premium[j]) / total_p)
    return out


def test_promotion_adequacy_takes_the_worse_of_both_rankings() -> None:
    rng = np.random.default_rng(8)
    n = 20
    loss = rng.gamma(1.0, 100.0, n).round(2).tolist()
    champion_risk = rng.permutation(n).astype(float).tolist()
    challenger_risk = rng.permutation(n).astype(float).tolist()
    champion_final = rng.uniform(70, 130, n).round(2).tolist()
    challenger_final = rng.uniform(70, 130, n).round(2).tolist()
    ids = [f"s{i:02d}" for i in range(n)]
    champion = pd.DataFrame(
        {
            "site_id": ids,
            "base": 1.0,
            "final": champion_final,
            "actual_loss": loss,
            "risk_factor": champion_risk,
        }
    )
    challenger = champion.assign(final=challenger_final, risk_factor=challenger_risk)
    by_champion = sorted(range(n), key=lambda i: champion_risk[i])
    by_challenger = sorted(range(n), key=lambda i: challenger_risk[i])
    got = pr.promotion_adequacy(challenger, champion)
    hand = {
        ("champion", "champion"): _pair_spread(by_champion, champion_final, loss),
        ("champion", "challenger"): _pair_spread(by_challenger, champion_final, loss),
        ("challenger", "champion"): _pair_spread(by_champion, challenger_final, loss),
        ("challenger", "challenger"): _pair_spread(by_challenger, challenger_final, loss),
    }
    assert got.spreads == pytest.approx(hand)
    assert got.of("champion") == pytest.approx(
        max(hand[("champion", r)] for r in ("champion", "challenger"))
    )
    assert got.of("challenger") == pytest.approx(
        max(hand[("challenger", r)] for r in ("champion", "challenger"))
    )
    assert set(got.table()["deciles_of"]) == {"champion", "challenger"}
    with pytest.raises(ValueError, match="same sites"):
        pr.promotion_adequacy(challenger.iloc[::-1], champion)


def test_an_unbalanced_challenger_is_refused_on_off_balance(
    outcome: TrainOutcome, world: tuple[ContractData, pd.DataFrame]
) -> None:
    tolerance = outcome.rules.plan.off_balance.tolerance_pct
    off = _with_rating(outcome.bundle, off_balance_after_pct=tolerance + 0.5)
    c = pr.compare(off, None, world[0], rules=outcome.rules)
    assert c.champion is None
    assert c.dislocation is None
    assert [r for r in c.reasons if r.startswith("off-balance")]
    inside = _with_rating(outcome.bundle, off_balance_after_pct=tolerance - 0.5)
    assert pr.compare(inside, None, world[0], rules=outcome.rules).not_worse


def test_a_champion_without_a_rating_plan_is_compared_on_model_metrics_only(
    outcome: TrainOutcome, world: tuple[ContractData, pd.DataFrame]
) -> None:
    legacy = ModelBundle(outcome.bundle.boosters, replace(outcome.bundle.meta, rating={}))
    c = pr.compare(outcome.bundle, legacy, world[0], rules=outcome.rules)
    assert c.not_worse
    assert c.dislocation is None
    assert c.champion_adequacy is None
    assert c.notes
    refused = pr.compare(legacy, outcome.bundle, world[0], rules=outcome.rules)
    assert any("no rating-plan calibration" in r for r in refused.reasons)


def test_the_plan_carries_the_promotion_limits(outcome: TrainOutcome) -> None:
    promo = outcome.rules.plan.promotion
    assert isinstance(promo, PromotionRule)
    assert 0 < promo.max_share_moving_20pct <= promo.max_share_moving_10pct <= 1
    assert promo.adequacy_tolerance >= 0
