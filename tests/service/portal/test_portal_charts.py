"""The waterfall goes from the base to the final premium through every group, to the
cent; the geometry stays inside the chart; the trend puts higher premiums higher."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.portal import charts


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _waterfall(base: int, effects: list[int]) -> charts.Waterfall:
    steps = [charts.Step(f"g{i}", f"group {i}", e) for i, e in enumerate(effects)]
    return charts.waterfall(
        "base", base, steps, "final", base + sum(effects),
        money=_fmt, signed_money=_fmt, short_money=_fmt,
    )  # fmt: skip


def test_steps_that_do_not_reach_the_final_premium_are_refused() -> None:
    steps = [charts.Step("a", "a", 100), charts.Step("b", "b", -30)]
    with pytest.raises(charts.ChartMismatchError):
        charts.waterfall(
            "base", 10_000, steps, "final", 10_071,
            money=_fmt, signed_money=_fmt, short_money=_fmt,
        )  # fmt: skip


def test_a_waterfall_walks_from_base_to_final() -> None:
    chart = _waterfall(4_000_000, [50_000, -20_000, 0, 120_000])
    keys = [b.key for b in chart.bars]
    assert keys == ["base", "g0", "g1", "g2", "g3", "final"]
    assert [b.kind for b in chart.bars] == ["total", "up", "down", "zero", "up", "total"]
    base, *steps, final = chart.bars
    assert base.amount_cents == 4_000_000
    assert final.amount_cents == 4_150_000
    # Each step starts where the previous one ended.
    level = 4_000_000
    for bar in steps:
        assert bar.from_cents == level
        level = bar.to_cents
    assert level == final.to_cents
    # The final bar ends exactly where the last step does.
    last = steps[-1]
    assert final.x + final.width == pytest.approx(last.x + last.width)
    assert [b.value_text for b in steps] == ["500.00", "-200.00", "0.00", "1200.00"]


@settings(max_examples=200, deadline=None)
@given(
    base=st.integers(min_value=100, max_value=10**10),
    shares=st.lists(st.integers(min_value=-300, max_value=300), min_size=1, max_size=8),
)
def test_the_geometry_stays_inside_the_chart(base: int, shares: list[int]) -> None:
    effects = [base * s // 10_000 for s in shares]  # up to ±3% per group, in cents
    chart = _waterfall(base, effects)
    assert chart.bars[-1].amount_cents == base + sum(effects)
    assert chart.axis_start_cents <= min(b.to_cents for b in chart.bars)
    for bar in chart.bars:
        assert bar.x >= charts.PAD - 1e-6
        assert bar.x + bar.width <= charts.WIDTH - charts.PAD + 1e-6
        assert bar.width >= 0
        assert bar.bar_y + charts.BAR <= chart.axis_y
    assert chart.ticks
    for tick in chart.ticks:
        assert charts.PAD - 1e-6 <= tick.x <= charts.WIDTH - charts.PAD + 1e-6
    assert chart.height > chart.axis_y


def test_the_trend_puts_higher_premiums_higher() -> None:
    trend = charts.trend(
        ["Jan", "Apr", "Jul"], [100.0, 130.0, 90.0], [100.0, 100.0, None], money=_fmt
    )
    ys = [p.y for p in trend.final_points]
    assert ys[1] < ys[0] < ys[2]  # SVG y grows downwards
    xs = [p.x for p in trend.final_points]
    assert xs == sorted(xs)
    assert len(trend.base_points) == 2
    for p in trend.final_points:
        assert charts.TREND_TOP <= p.y <= trend.bottom
    assert trend.final_points[1].label == "Apr: 130.00"
    assert trend.polyline(trend.final_points).count(",") == 3


def test_one_quote_is_a_single_point_in_the_middle() -> None:
    trend = charts.trend(["Jul"], [100.0], [None], money=_fmt)
    (point,) = trend.final_points
    assert point.x == pytest.approx((charts.TREND_LEFT + charts.WIDTH - charts.PAD) / 2)
    assert charts.TREND_TOP <= point.y <= trend.bottom
    with pytest.raises(ValueError, match="one label"):
        charts.trend([], [], [], money=_fmt)
