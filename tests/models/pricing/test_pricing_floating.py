"""The explicit floating schedule: accident grades by the national thresholds for one
incident, claims grouped into incidents by site and date, the move over the lookback
window, and the floating line of the plan adding up to the cent."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from decimal import Decimal

import pytest

from models.pricing import price
from models.pricing.floating import (
    Award,
    accident_grade,
    floating_move,
    incidents,
)
from models.pricing.premium import FLOATING, GATE, OFF_BALANCE
from models.pricing.ratebook import load_ratebook
from models.pricing.rulesets import Band, DataQualityRule

SCHEDULE = dataclasses.replace(load_ratebook().floating, enabled=True)
START = dt.date(2026, 1, 1)


@pytest.mark.parametrize(
    ("deaths", "serious", "grade"),
    [
        (0, 0, "general"),  # a minor injury is still an accident
        (2, 9, "general"),
        (3, 0, "larger"),
        (0, 10, "larger"),
        (9, 49, "larger"),
        (10, 0, "major"),
        (0, 50, "major"),
        (29, 99, "major"),
        (30, 0, "extraordinary"),
        (0, 100, "extraordinary"),
        (2, 100, "extraordinary"),
    ],
)
def test_an_incident_is_graded_by_the_national_thresholds(
    deaths: int, serious: int, grade: str
) -> None:
    assert accident_grade(deaths, serious) == grade


def test_claims_of_one_site_and_day_are_one_incident() -> None:
    day = dt.date(2025, 5, 6)
    claims = [("S1", day, "fatality")] * 3 + [("S1", day, "serious_injury")] * 4
    claims += [("S1", dt.date(2025, 5, 7), "fatality"), ("S2", day, "minor_injury")]
    found = incidents(claims)
    assert [(i.site_id, i.incident_date, i.claims, i.grade) for i in found] == [
        ("S1", day, 7, "larger"),
        ("S2", day, 1, "general"),
        ("S1", dt.date(2025, 5, 7), 1, "general"),
    ]
    # three deaths on three days are three general accidents, not one larger one
    spread = incidents([("S1", dt.date(2025, 5, d), "fatality") for d in (1, 2, 3)])
    assert {i.grade for i in spread} == {"general"}


def test_the_worst_incident_in_the_window_sets_the_move() -> None:
    larger = incidents([("S1", dt.date(2025, 3, 1), "fatality")] * 3)
    general = incidents([("S1", dt.date(2025, 6, 1), "minor_injury")])
    before = incidents([("S1", dt.date(2024, 12, 31), "fatality")] * 40)  # outside 12 months
    move = floating_move(SCHEDULE, START, [*larger, *general, *before])
    assert move.worst_grade == "larger"
    assert move.accident_pct == SCHEDULE.accidents_pct["larger"] == 20
    assert len(move.incidents) == 2
    assert move.factor == pytest.approx(1.2)
    quiet = floating_move(SCHEDULE, START, before)
    assert quiet.worst_grade is None
    assert quiet.pct == SCHEDULE.accident_free_pct == -10
    assert quiet.factor == pytest.approx(0.9)
    # an incident on the start date belongs to the policy, not to the record
    assert floating_move(SCHEDULE, START, incidents([("S1", START, "fatality")])).pct == -10


def test_the_best_award_in_the_window_counts_once() -> None:
    awards = [
        Award("city", dt.date(2025, 4, 1)),
        Award("provincial", dt.date(2025, 9, 1)),
        Award("provincial", dt.date(2023, 9, 1)),  # too old
    ]
    move = floating_move(SCHEDULE, START, [], awards)
    assert (move.award, move.award_pct) == ("provincial", -10)
    assert move.pct == -20
    city = floating_move(SCHEDULE, START, [], awards[:1] + awards[2:])
    assert (city.award, city.award_pct) == ("city", -5)


def test_the_floating_line_adds_up_to_the_cent_and_stays_in_the_band() -> None:
    band = Band("b", "b", "", -30.0, 30.0, DataQualityRule(6, 1, 0.8, 0.85))
    phi, groups = {"a": math.log(1.1), "b": math.log(0.95)}, {"a": "behaviour", "b": "project"}
    base = Decimal("1000.00")
    off = price(base, phi, groups, 1.0, 1.0, band, True)
    on = price(base, phi, groups, 1.0, 1.0, band, True, floating=1.2)
    layers = [line.layer for line in on.lines]
    assert layers.index(OFF_BALANCE) + 1 == layers.index(FLOATING) == layers.index(GATE) - 1
    assert FLOATING not in [line.layer for line in off.lines]
    line = next(x for x in on.lines if x.layer == FLOATING)
    assert line.factor == pytest.approx(1.2)
    assert line.before == off.final  # 1000 × 1.1 × 0.95 = 1045.00
    assert line.effect == Decimal("209.00")
    assert on.final == Decimal("1254.00")
    assert sum(x.effect for x in on.lines) == on.final - on.base
    # a big surcharge is capped by the band, on the band's own line
    capped = price(base, phi, groups, 1.0, 1.0, band, True, floating=1.5)
    assert capped.final == Decimal("1300.00")
    assert next(x for x in capped.lines if x.layer == FLOATING).effect == Decimal("522.50")
    # without data good enough, the gate takes back a net discount the schedule gave
    gated = price(base, phi, groups, 1.0, 1.0, band, False, floating=0.8)
    assert gated.final == base
    assert gated.discount_withheld
