"""models.pricing.impact: a book's revenue-neutral off-balance factor over re-priced
quotes, and the impact summary (totals, dislocation, loss ratio by risk decile)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from models.pricing import plan_move
from models.pricing.impact import QuoteImpact, revenue_neutral_factor, summarise
from models.pricing.rulesets import Band, DataQualityRule


def _band(min_pct: float, max_pct: float) -> Band:
    return Band("test", "test band", "", min_pct, max_pct, DataQualityRule(6, 1, 0.8, 0.85))


def test_without_clipping_the_factor_is_the_base_total_over_the_moved_total() -> None:
    bases = [1000.0, 2500.0, 400.0, 7300.0]
    r = [0.8, 1.1, 1.4, 0.95]
    phi = [1.0, 0.9, 1.2, 1.1]
    wide = _band(-99, 1000)
    f = revenue_neutral_factor(bases, r, [True] * 4, wide)
    assert f == pytest.approx(sum(bases) / sum(b * x for b, x in zip(bases, r, strict=True)))
    # the floating schedule's factor is part of what the book must balance
    g = revenue_neutral_factor(bases, r, [True] * 4, wide, phi)
    moved = sum(b * x * p for b, x, p in zip(bases, r, phi, strict=True))
    assert g == pytest.approx(sum(bases) / moved)


def test_with_band_and_gate_the_factor_still_balances_the_total() -> None:
    bases = [float(100 + 37 * i) for i in range(40)]
    r = [0.3 + 0.05 * i for i in range(40)]
    allowed = [i % 3 != 0 for i in range(40)]
    band = _band(-20, 25)
    f = revenue_neutral_factor(bases, r, allowed, band)
    total = math.fsum(
        b * plan_move(x, f, band, a).multiplier for b, x, a in zip(bases, r, allowed, strict=True)
    )
    assert total == pytest.approx(sum(bases), rel=1e-9)
    # the gate withholds discounts, so f must cut deeper than without it
    assert f < revenue_neutral_factor(bases, r, [True] * 40, band)


def test_a_book_that_cannot_balance_stops_at_the_search_edge() -> None:
    # every quote clipped at +10% whatever f: the smallest factor searched
    assert revenue_neutral_factor([100.0], [50.0], [True], _band(-10, 10)) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="differ in length"):
        revenue_neutral_factor([1.0, 2.0], [1.0], [True, True], _band(-10, 10))
    with pytest.raises(ValueError, match="no premiums"):
        revenue_neutral_factor([], [], [], _band(-10, 10))


def _quote(i: int, old: str, new: str, loss: str, rate: float) -> QuoteImpact:
    return QuoteImpact(f"q{i:02d}", Decimal(old), Decimal(new), Decimal(loss), rate)


def test_the_summary_adds_up_bands_moves_and_splits_loss_ratios_by_risk_decile() -> None:
    # 20 quotes: rates rising with i, listed out of order; each decile holds two
    quotes = [
        _quote(i, f"{1000 + 10 * i}.00", f"{(1000 + 10 * i) * 1.1:.2f}", f"{300 + 20 * i}.50", i)
        for i in reversed(range(20))
    ]
    quotes[0] = _quote(19, "1190.00", "1190.00", "680.50", 19)  # one unchanged
    s = summarise(quotes)
    old = sum(Decimal(f"{1000 + 10 * i}.00") for i in range(20))
    assert s.quotes == 20
    assert s.old_premium == old
    assert s.new_premium == sum(q.new_premium for q in quotes)
    assert s.change == s.new_premium - s.old_premium
    assert s.change_pct == pytest.approx(float(100 * s.change / old))
    assert s.expected_loss == sum(q.expected_loss for q in quotes)
    assert s.new_loss_ratio == pytest.approx(float(s.expected_loss / s.new_premium))
    counts = {b.label: b.count for b in s.dislocation}
    assert counts["10–20% up"] == 19  # +10% exactly is a 10–20% move
    assert counts["unchanged"] == 1
    assert sum(counts.values()) == 20
    assert [d.decile for d in s.deciles] == list(range(1, 11))
    for d in s.deciles:
        members = [q for q in quotes if q.loss_rate in (2 * d.decile - 2, 2 * d.decile - 1)]
        assert d.quotes == 2
        assert (d.loss_rate_from, d.loss_rate_to) == (2 * d.decile - 2, 2 * d.decile - 1)
        assert d.old_premium == sum(q.old_premium for q in members)
        assert d.new_premium == sum(q.new_premium for q in members)
        assert d.old_loss_ratio == pytest.approx(float(d.expected_loss / d.old_premium))
        assert d.new_loss_ratio == pytest.approx(float(d.expected_loss / d.new_premium))
    assert sum((d.new_premium for d in s.deciles), Decimal(0)) == s.new_premium


def test_fewer_than_ten_quotes_fill_only_some_deciles() -> None:
    quotes = [_quote(i, "100.00", "90.00", "40.00", 1.0) for i in range(4)]
    s = summarise(quotes)
    assert sum(d.quotes for d in s.deciles) == 4
    assert all(d.quotes == 1 for d in s.deciles)
    assert s.change == Decimal("-40.00")
    with pytest.raises(ValueError, match="no quotes"):
        summarise([])
