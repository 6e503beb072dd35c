"""The explicit floating schedule of a rate book (费率浮动, docs/rate-books.md): the
premium moves with the site's accident record and its safety awards.

Accidents. Claims are grouped into incidents by site and incident date (one accident
may injure several workers), and each incident is graded by the national thresholds
for one accident (生产安全事故等级, 《生产安全事故报告和调查处理条例》):

- 一般 ``general``: fewer than 3 deaths and fewer than 10 serious injuries;
- 较大 ``larger``: 3–9 deaths or 10–49 serious injuries;
- 重大 ``major``: 10–29 deaths or 50–99 serious injuries;
- 特别重大 ``extraordinary``: 30 or more deaths or 100 or more serious injuries.

Any claim makes an accident, a minor injury included (it is then ``general``). Every
insurer's claims of the site count: an accident is the site's, whoever paid.

The move. Over the ``lookback_months`` calendar months before the policy's start: the
worst incident's grade sets the accident move; none at all earns ``accident_free_pct``.
Of the site's safety awards in the same window, the best level counts (a provincial
award includes the city's). The moves add up, in percent of the premium: factor =
1 + (accident move + award move) / 100, never below zero. The band still bounds the
final premium, and the data-quality gate still withholds a net discount that the
site's smart-site data cannot support.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from models.pricing.ratebook import ACCIDENT_GRADES, AWARD_LEVELS, FloatingSchedule

# The first count of deaths / serious injuries of one incident at each grade above
# 一般 (general), mildest first.
GRADE_THRESHOLDS: Final[tuple[tuple[str, int, int], ...]] = (
    ("larger", 3, 10),
    ("major", 10, 50),
    ("extraordinary", 30, 100),
)
GRADE_LABELS: Final[Mapping[str, tuple[str, str]]] = {
    "general": ("一般事故", "general accident"),
    "larger": ("较大事故", "larger accident"),
    "major": ("重大事故", "major accident"),
    "extraordinary": ("特别重大事故", "extraordinarily serious accident"),
}
AWARD_LABELS: Final[Mapping[str, tuple[str, str]]] = {
    "city": ("市级安全文明工地", "city safety award"),
    "provincial": ("省级安全文明工地", "provincial safety award"),
}


def accident_grade(deaths: int, serious_injuries: int) -> str:
    """The grade of one incident by its deaths and serious injuries."""
    if deaths < 0 or serious_injuries < 0:
        raise ValueError(f"counts must be >= 0, got {deaths}, {serious_injuries}")
    grade = "general"
    for name, min_deaths, min_serious in GRADE_THRESHOLDS:
        if deaths >= min_deaths or serious_injuries >= min_serious:
            grade = name
    return grade


@dataclass(frozen=True, slots=True)
class Incident:
    """One accident: a site's claims of one incident date."""

    site_id: str
    incident_date: dt.date
    claims: int
    deaths: int
    serious_injuries: int

    @property
    def grade(self) -> str:
        return accident_grade(self.deaths, self.serious_injuries)


def incidents(claims: Iterable[tuple[str, dt.date, str]]) -> list[Incident]:
    """Claims as (site_id, incident_date, severity), grouped into incidents by site and
    date, in date order."""
    counts: dict[tuple[str, dt.date], Counter[str]] = {}
    for site_id, day, severity in claims:
        counts.setdefault((site_id, day), Counter())[severity] += 1
    return [
        Incident(site, day, sum(c.values()), c["fatality"], c["serious_injury"])
        for (site, day), c in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


@dataclass(frozen=True, slots=True)
class Award:
    level: str  # AWARD_LEVELS
    awarded_on: dt.date


@dataclass(frozen=True, slots=True)
class FloatingMove:
    """What the schedule does to one policy, and why."""

    factor: float  # 1 + pct / 100, at least 0
    pct: float
    accident_pct: float
    award_pct: float
    incidents: tuple[Incident, ...]  # in the window
    worst_grade: str | None  # None: accident-free over the window
    award: str | None  # the best award level in the window


def _months_before(start: dt.date, months: int) -> dt.date:
    index = start.year * 12 + start.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def floating_move(
    schedule: FloatingSchedule,
    start: dt.date,
    site_incidents: Iterable[Incident],
    awards: Iterable[Award] = (),
) -> FloatingMove:
    """The schedule's move for a policy starting on ``start`` (the first of its month):
    incidents and awards dated in the ``lookback_months`` calendar months before it."""
    since = _months_before(start, schedule.lookback_months)
    seen = tuple(i for i in site_incidents if since <= i.incident_date < start)
    worst = max((i.grade for i in seen), key=ACCIDENT_GRADES.index, default=None)
    accident = schedule.accident_free_pct if worst is None else float(schedule.accidents_pct[worst])
    held = [a.level for a in awards if since <= a.awarded_on < start]
    best = max(held, key=AWARD_LEVELS.index, default=None)
    award = 0.0 if best is None else float(schedule.awards_pct[best])
    pct = accident + award
    return FloatingMove(
        factor=max(0.0, 1.0 + pct / 100.0),
        pct=pct,
        accident_pct=accident,
        award_pct=award,
        incidents=seen,
        worst_grade=worst,
        award=best,
    )
