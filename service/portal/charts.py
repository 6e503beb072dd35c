"""Geometry of the portal's two charts, drawn by the templates as inline SVG.

All money is in integer cents, so the waterfall ends exactly on the final premium:
base + the groups' effects = final, to the cent, or :class:`ChartMismatchError` is raised
(a stored quote always adds up; one that did not would be a bug worth seeing).

The charts are laid out in a narrow view box (360 units, a phone's width) and scaled
by CSS; rows run down the page, so they read on a phone without sideways scrolling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

WIDTH: Final = 360.0
PAD: Final = 8.0
ROW: Final = 40.0
BAR: Final = 14.0
AXIS: Final = 30.0

Kind = Literal["total", "up", "down", "zero"]
Format = Callable[[float], str]


class ChartMismatchError(ValueError):
    """The steps do not lead from the start to the end."""


def to_cents(amount: float) -> int:
    return round(amount * 100)


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    label: str
    effect_cents: int
    note: str = ""  # e.g. the group's factor


@dataclass(frozen=True, slots=True)
class Bar:
    key: str
    label: str
    note: str
    kind: Kind
    amount_cents: int  # the total (base, final) or the step's effect
    from_cents: int
    to_cents: int
    x: float
    width: float
    y: float  # top of the row
    bar_y: float
    value_text: str

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Waterfall:
    width: float
    height: float
    bars: list[Bar]
    ticks: list[Tick]
    axis_y: float
    axis_start_cents: int
    connectors: list[tuple[float, float, float]]  # x, y1, y2


def nice_step(span: float, target_ticks: int = 3) -> float:
    """A 1-2-5 step giving about ``target_ticks`` intervals over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * power:
            return float(multiple * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def waterfall(
    base_label: str,
    base_cents: int,
    steps: Sequence[Step],
    final_label: str,
    final_cents: int,
    *,
    money: Format,
    signed_money: Format,
    short_money: Format,
) -> Waterfall:
    total = base_cents + sum(s.effect_cents for s in steps)
    if total != final_cents:
        raise ChartMismatchError(
            f"base {base_cents} + steps {total - base_cents} != final {final_cents} (cents)"
        )
    running = [base_cents]
    for step in steps:
        running.append(running[-1] + step.effect_cents)
    low, high = min(running), max(running)
    # Effects are a few percent of the premium: an axis from zero would flatten them,
    # so the axis starts below the lowest total (at zero when that is near anyway).
    spread = max(high - low, 1, high // 50)
    start = low - spread
    if start <= high * 0.25:
        start = 0
    step_size = nice_step((high - start) / 100) * 100
    start = int(math.floor(start / step_size) * step_size) if start > 0 else 0
    end = high + spread * 0.1
    plot = WIDTH - 2 * PAD

    def x_of(cents: float) -> float:
        return PAD + (cents - start) / (end - start) * plot

    bars: list[Bar] = []
    y = 4.0

    def add(key: str, label: str, note: str, kind: Kind, amount: int, a: int, b: int) -> None:
        nonlocal y
        left, right = x_of(min(a, b)), x_of(max(a, b))
        text = money(amount / 100) if kind == "total" else signed_money(amount / 100)
        bars.append(Bar(key, label, note, kind, amount, a, b, left, right - left, y, y + 20, text))
        y += ROW

    add("base", base_label, "", "total", base_cents, start, base_cents)
    for step, before, after in zip(steps, running[:-1], running[1:], strict=True):
        kind: Kind = "up" if after > before else "down" if after < before else "zero"
        add(step.key, step.label, step.note, kind, step.effect_cents, before, after)
    add("final", final_label, "", "total", final_cents, start, final_cents)

    connectors = []
    for upper, lower, level in zip(bars, bars[1:], running, strict=False):
        connectors.append((x_of(level), upper.bar_y + BAR, lower.bar_y))
    axis_y = y + 2
    ticks = []
    tick_step = nice_step(end - start)
    tick = math.ceil(start / tick_step) * tick_step
    while tick <= end:
        ticks.append(Tick(x_of(tick), short_money(tick / 100)))
        tick += tick_step
    return Waterfall(WIDTH, axis_y + AXIS, bars, ticks, axis_y, start, connectors)


# --- the trend -------------------------------------------------------------------------

TREND_HEIGHT: Final = 150.0
TREND_TOP: Final = 18.0
TREND_BOTTOM: Final = 28.0
TREND_LEFT: Final = 16.0


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    label: str  # the tooltip: when and how much


@dataclass(frozen=True, slots=True)
class Trend:
    width: float
    height: float
    final_points: list[Point]
    base_points: list[Point]
    grid: list[Tick]  # horizontal lines: y in Tick.x, the amount in label
    first_label: str
    last_label: str
    bottom: float
    axis_label: str = ""  # what the x axis is (the quote date)

    @staticmethod
    def polyline(points: Sequence[Point]) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in points)


def trend(
    labels: Sequence[str],
    finals: Sequence[float],
    bases: Sequence[float | None],
    *,
    money: Format,
    tips: Sequence[str] | None = None,
    axis_label: str = "",
) -> Trend:
    """Final (and base) premium of each quote, oldest first, evenly spaced. ``labels``
    name the x axis's ends; ``tips`` (default: the labels) start each point's tooltip."""
    if not finals or len(labels) != len(finals) or len(bases) != len(finals):
        raise ValueError("one label, final and base premium per quote")
    if tips is None:
        tips = labels
    elif len(tips) != len(finals):
        raise ValueError("one tooltip per quote")
    known = [*finals, *(b for b in bases if b is not None)]
    low, high = min(known), max(known)
    pad = (high - low) * 0.1 or max(high * 0.05, 1.0)
    low, high = low - pad, high + pad
    bottom = TREND_HEIGHT - TREND_BOTTOM
    span_y = bottom - TREND_TOP
    plot = WIDTH - TREND_LEFT - PAD

    def x_of(i: int) -> float:
        if len(finals) == 1:
            return TREND_LEFT + plot / 2
        return TREND_LEFT + i * plot / (len(finals) - 1)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * span_y

    final_points = [Point(x_of(i), y_of(v), f"{tips[i]}: {money(v)}") for i, v in enumerate(finals)]
    base_points = [
        Point(x_of(i), y_of(v), f"{tips[i]}: {money(v)}")
        for i, v in enumerate(bases)
        if v is not None
    ]
    top_value, bottom_value = high - pad, low + pad
    grid = [Tick(y_of(top_value), money(top_value))]
    if bottom_value != top_value:
        grid.append(Tick(y_of(bottom_value), money(bottom_value)))
    return Trend(
        WIDTH,
        TREND_HEIGHT,
        final_points,
        base_points,
        grid,
        labels[0],
        labels[-1],
        bottom,
        axis_label,
    )
