"""Risk grades A–E for regulators, as versioned rule data (``grades-<version>.yaml``):
a pure function from the model's risk percentile to a grade, and the rules for
comparing a site with its district's peers and for calling a trend."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from models.pricing.rulesets import RuleError, _labels, _read

Level = Literal["better", "typical", "worse"]
Direction = Literal["improving", "stable", "worsening", "unknown"]


@dataclass(frozen=True, slots=True)
class Grade:
    grade: str
    below: float | None  # None: the rest
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class GradeRules:
    version: str
    label: str
    description: str
    grades: tuple[Grade, ...]
    better_below: float
    worse_above: float
    trend_points: int
    trend_threshold: float

    def grade(self, percentile: float) -> Grade:
        """The grade of a risk percentile (0–100, 0 = lowest risk)."""
        for g in self.grades:
            if g.below is None or percentile < g.below:
                return g
        raise AssertionError("the last grade is open")  # pragma: no cover - loader checks

    def level(self, peer_percentile: float) -> Level:
        if peer_percentile < self.better_below:
            return "better"
        if peer_percentile > self.worse_above:
            return "worse"
        return "typical"

    def direction(self, first: float | None, last: float | None, points: int) -> Direction:
        if first is None or last is None or points < 2:
            return "unknown"
        change = last - first
        if change <= -self.trend_threshold:
            return "improving"
        if change >= self.trend_threshold:
            return "worsening"
        return "stable"


def load_grades(
    version: str | None = None, *, path: str | os.PathLike[str] | None = None
) -> GradeRules:
    """Shipped grade rules (default: the latest version) or the ones in ``path``."""
    top, _ = _read("grades", version, path)
    top.only("version", "label", "description", "grades", "peers", "trend")
    version_, label, description = _labels(top)
    grades: list[Grade] = []
    previous = 0.0
    raw = top.items("grades")
    for i, item in enumerate(raw):
        node = top.child("grades", i, item)
        node.only("grade", "below", "zh", "en")
        last = i == len(raw) - 1
        below: float | None
        if node.raw("below") is None:
            if not last:
                raise node.fail("below", "only the last grade may be open (null)")
            below = None
        else:
            if last:
                raise node.fail("below", "the last grade must be open: write null")
            below = node.number("below", gt=previous, le=100.0)
            previous = below
        grades.append(Grade(node.text("grade"), below, node.text("zh"), node.text("en")))
    names = [g.grade for g in grades]
    if len(set(names)) != len(names):
        raise RuleError(f"{top.source}: grades: each grade must appear once")
    peers = top.node("peers")
    peers.only("better_below", "worse_above")
    better = peers.number("better_below", ge=0.0, le=100.0)
    worse = peers.number("worse_above", ge=better, le=100.0)
    trend = top.node("trend")
    trend.only("points", "threshold_points")
    return GradeRules(
        version=version_,
        label=label,
        description=description,
        grades=tuple(grades),
        better_below=better,
        worse_above=worse,
        trend_points=trend.integer("points", ge=1),
        trend_threshold=trend.number("threshold_points", gt=0.0, le=100.0),
    )
