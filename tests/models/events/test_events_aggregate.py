"""site_months from hand-written events, one test per rule of the event contract's
"From events to site_months": every expected value is worked out by hand in the
comments (issue 20, item 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from events_helpers import baseline, days, device, site

Aggregate = Callable[..., list[dict[str, Any]]]


def _row(rows: list[dict[str, Any]], month: str, site_id: str = "S1") -> dict[str, Any]:
    found = [r for r in rows if r["site_id"] == site_id and r["month"] == month]
    assert len(found) == 1, (site_id, month, rows)
    return found[0]


def _stages(*periods: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"site_id": "S1", "stage": s, "from_date": d} for s, d in periods]


def test_a_row_exists_only_for_months_with_attendance(aggregate: Aggregate) -> None:
    rows = baseline()
    rows["attendance"] += days("S1", "W1", "2025-05-31", "2025-05-31")
    rows["weather_warnings"] = [{"district": "pudong", "date": "2025-04-10", "kind": "heat"}]
    got = aggregate(rows)
    assert [(r["site_id"], r["month"]) for r in got] == [("S1", "2025-03"), ("S1", "2025-05")]


@pytest.mark.parametrize(
    ("periods", "month", "days_", "expected"),
    [
        # March: foundation 1-15 (15 days), structure 16-31 (16): structure
        ((("foundation", "2024-01-01"), ("structure", "2025-03-16")), "03", 31, "structure"),
        # April: foundation 1-15 (15), structure 16-30 (15): a tie, the later period wins
        ((("foundation", "2024-01-01"), ("structure", "2025-04-16")), "04", 30, "structure"),
        # April: civil 1-8 (8), structure 9-23 (15), civil 24-30 (7): civil 15 days in two
        # periods ties structure's 15; civil's latest period (from the 24th) started later
        (
            (("civil", "2024-01-01"), ("structure", "2025-04-09"), ("civil", "2025-04-24")),
            "04",
            30,
            "civil",
        ),
        # the same with civil from the 25th: civil 14, structure 16: structure
        (
            (("civil", "2024-01-01"), ("structure", "2025-04-09"), ("civil", "2025-04-25")),
            "04",
            30,
            "structure",
        ),
        # the first stage row is on April 20: the days before it take its stage
        ((("finishing", "2025-04-20"), ("civil", "2025-06-01")), "04", 30, "finishing"),
    ],
    ids=["most-days", "tie-later-period", "two-periods-tie", "two-periods-lose", "before-first"],
)
def test_stage_by_most_days_with_the_tie_rule(
    aggregate: Aggregate,
    periods: tuple[tuple[str, str], ...],
    month: str,
    days_: int,
    expected: str,
) -> None:
    rows = baseline()
    rows["site_stages"] = _stages(*periods)
    rows["attendance"] = days("S1", "W1", f"2025-{month}-02", f"2025-{month}-02")
    assert _row(aggregate(rows), f"2025-{month}")["stage"] == expected


def test_worker_hours_and_average_daily_workers(aggregate: Aggregate) -> None:
    rows = baseline()  # W1 on March 1-10, 8 h
    rows["attendance"] += days("S1", "W2", "2025-03-01", "2025-03-05", hours=6.5)
    got = _row(aggregate(rows), "2025-03")
    assert got["worker_hours"] == 10 * 8.0 + 5 * 6.5
    assert got["avg_daily_workers"] == 15 / 10  # 15 rows over 10 dates


def test_worker_hours_do_not_depend_on_the_order_rows_are_added_in(
    aggregate: Aggregate,
) -> None:
    # Hours whose float sum changes with the order of addition (0.1 + 0.2 + 0.3 is not
    # 0.3 + 0.2 + 0.1 in binary): summed as exact decimals, every order gives the total
    # of the hours as written, so a re-run never looks like a correction.
    import random
    from decimal import Decimal

    hours = [0.1, 0.2, 0.3, 7.7, 1e-3, 23.9, 0.7, 3.3] * 9
    rows = baseline()
    rows["attendance"] = [
        {"site_id": "S1", "worker_id": f"W{k}", "date": "2025-03-03", "hours": h}
        for k, h in enumerate(hours)
    ]
    totals = set()
    for seed in range(6):
        random.Random(seed).shuffle(rows["attendance"])
        totals.add(_row(aggregate(rows), "2025-03")["worker_hours"])
    assert totals == {float(sum(Decimal(repr(h)) for h in hours))}


def test_new_workers_across_months_sites_and_asked_months(aggregate: Aggregate) -> None:
    rows = baseline()  # W1 at S1 from March 1
    rows["sites"].append(site("S2"))
    rows["site_stages"].append({"site_id": "S2", "stage": "civil", "from_date": "2024-01-01"})
    # W2 works at S2 in March and moves to S1 in April; W3 is new at S1 in April
    rows["attendance"] += days("S2", "W2", "2025-03-20", "2025-03-31")
    rows["attendance"] += days("S1", "W1", "2025-04-01", "2025-04-03")
    rows["attendance"] += days("S1", "W2", "2025-04-02", "2025-04-03")
    rows["attendance"] += days("S1", "W3", "2025-04-03", "2025-04-03")
    got = aggregate(rows)
    assert _row(got, "2025-03")["new_worker_share"] == 1.0
    assert _row(got, "2025-03", "S2")["new_worker_share"] == 1.0
    assert _row(got, "2025-04")["new_worker_share"] == 2 / 3  # W2 and W3 of W1, W2, W3
    assert _row(got, "2025-04")["avg_daily_workers"] == 6 / 3
    # April alone: W1's first attendance is still March's (the whole folder is read)
    only = aggregate(rows, ("2025-04", "2025-04"))
    assert [(r["site_id"], r["month"]) for r in only] == [("S1", "2025-04")]
    assert only[0]["new_worker_share"] == 2 / 3


def test_training_valid_on_the_first_attendance_of_the_month(aggregate: Aggregate) -> None:
    rows = baseline()  # W1 on March 1-10
    rows["sites"].append(site("S2"))
    rows["site_stages"].append({"site_id": "S2", "stage": "civil", "from_date": "2024-01-01"})
    rows["attendance"] += days("S1", "W1", "2025-04-01", "2025-04-02")
    rows["attendance"] += days("S1", "W2", "2025-04-03", "2025-04-05")
    rows["attendance"] += days("S1", "W3", "2025-04-01", "2025-04-01")
    rows["training_records"] = [
        # W1: completed after March ended (March's coverage is null: nobody has a
        # record completed by March 31), valid on April 1 only, W1's first April day
        {"worker_id": "W1", "site_id": "S1", "completed_on": "2025-04-01",
         "valid_until": "2025-04-01"},
        # W2: given at another site, completed on the day of the first April attendance
        {"worker_id": "W2", "site_id": "S2", "completed_on": "2025-04-03",
         "valid_until": "2025-04-03"},
        # W3: completed after the first April attendance: not covered
        {"worker_id": "W3", "site_id": "S1", "completed_on": "2025-04-02",
         "valid_until": "2026-04-02"},
    ]  # fmt: skip
    got = aggregate(rows)
    assert _row(got, "2025-03")["training_coverage"] is None
    # April: W1 (first April day Apr 1, valid Apr 1) and W2 covered, W3 not: 2 of 3
    assert _row(got, "2025-04")["training_coverage"] == 2 / 3
    # a record that exists but covers nobody: zero, not null
    rows["training_records"] = rows["training_records"][2:]
    assert _row(aggregate(rows), "2025-04")["training_coverage"] == 0.0


def _alert(i: int, kind: str, ts: str, closed: str | None) -> dict[str, Any]:
    return {"event_id": f"E{i}", "site_id": "S1", "device_id": "C1", "ts": ts, "kind": kind,
            "closed_at": closed}  # fmt: skip


def test_alerts_closure_within_24_hours_and_the_camera_rule(aggregate: Aggregate) -> None:
    rows = baseline()
    rows["attendance"] += days("S1", "W1", "2025-04-01", "2025-04-02")
    rows["device_days"] = device("S1", "C1", "camera", "2025-03-01", "2025-03-31")
    rows["video_events"] = [
        _alert(1, "ppe", "2025-03-01T08:00:00", "2025-03-02T08:00:00"),  # exactly 24 h
        _alert(2, "ppe", "2025-03-02T08:00:00", "2025-03-03T08:00:01"),  # one second late
        _alert(3, "ppe", "2025-03-03T08:00:00", None),  # open
        _alert(4, "intrusion", "2025-03-31T23:30:00", "2025-04-01T00:10:00"),  # March's
        _alert(5, "fire", "2025-04-01T00:00:00", None),  # April's, open
    ]
    got = aggregate(rows)
    march = _row(got, "2025-03")
    assert (march["ai_alerts_ppe"], march["ai_alerts_intrusion"], march["ai_alerts_fire"]) == (
        3,
        1,
        0,
    )
    assert march["alert_closure_rate"] == 2 / 4
    # April: no camera registered, so no alert count, but the closure rate of the alert
    april = _row(got, "2025-04")
    assert (april["ai_alerts_ppe"], april["ai_alerts_intrusion"], april["ai_alerts_fire"]) == (
        None,
        None,
        None,
    )
    assert april["alert_closure_rate"] == 0.0


def test_a_site_with_a_camera_and_no_alerts(aggregate: Aggregate) -> None:
    rows = baseline()
    rows["device_days"] = device("S1", "C1", "camera", "2025-03-31", "2025-03-31", minutes=0)
    got = _row(aggregate(rows), "2025-03")
    assert (got["ai_alerts_ppe"], got["ai_alerts_intrusion"], got["ai_alerts_fire"]) == (0, 0, 0)
    assert got["alert_closure_rate"] is None
    assert got["device_online_rate"] == 0.0


def _ticket(
    i: int, source: str, level: str, found: str, deadline: str, rectified: str | None
) -> dict[str, Any]:
    return {"ticket_id": f"T{i}", "site_id": "S1", "found_on": found, "source": source,
            "level": level, "deadline": deadline, "rectified_on": rectified}  # fmt: skip


def test_hazards_found_rectified_later_and_inspections(aggregate: Aggregate) -> None:
    rows = baseline()
    rows["attendance"] = (
        days("S1", "W1", "2025-01-10", "2025-01-10")
        + days("S1", "W1", "2025-03-10", "2025-03-10")
        + days("S1", "W1", "2025-04-10", "2025-04-10")
    )
    rows["hazard_tickets"] = [
        _ticket(1, "self", "general", "2025-02-10", "2025-03-05", "2025-03-20"),  # late
        _ticket(2, "insurer", "major", "2025-03-03", "2025-04-10", "2025-04-02"),  # on time
        _ticket(3, "government", "general", "2025-03-15", "2025-03-31", "2025-03-31"),
        _ticket(4, "self", "general", "2025-04-01", "2025-04-15", None),  # still open
    ]
    got = aggregate(rows)
    jan = _row(got, "2025-01")  # before any self/insurer ticket: null; none due: null
    assert (jan["hazards_found"], jan["major_hazards"]) == (None, None)
    assert jan["hazard_rectification_rate"] is None
    assert jan["inspection_violations"] == 0
    march = _row(got, "2025-03")  # found: T2 (major); T3 is the government's
    assert (march["hazards_found"], march["major_hazards"]) == (1, 1)
    assert march["inspection_violations"] == 1
    assert march["hazard_rectification_rate"] == 1 / 2  # due: T1 late, T3 on its deadline
    april = _row(got, "2025-04")  # found: T4; due: T2 (rectified in April, on time), T4 open
    assert (april["hazards_found"], april["major_hazards"]) == (1, 0)
    assert april["hazard_rectification_rate"] == 1 / 2
    assert april["inspection_violations"] == 0


def test_government_tickets_alone_leave_hazards_found_null(aggregate: Aggregate) -> None:
    rows = baseline()
    rows["hazard_tickets"] = [
        _ticket(1, "government", "major", "2025-03-02", "2025-03-09", "2025-03-09"),
    ]
    got = _row(aggregate(rows), "2025-03")
    assert (got["hazards_found"], got["major_hazards"]) == (None, None)
    assert got["inspection_violations"] == 1
    assert got["hazard_rectification_rate"] == 1.0


def _alarm(i: int, kind: str, ts: str) -> dict[str, Any]:
    return {"event_id": f"A{i}", "site_id": "S1", "device_id": "M1", "ts": ts, "kind": kind}


def test_monitor_alarms_and_a_device_registered_mid_month(aggregate: Aggregate) -> None:
    rows = baseline()
    rows["attendance"] += days("S1", "W1", "2025-04-01", "2025-04-01")
    # the crane monitor is registered on March 20, online half of every day
    rows["device_days"] = device("S1", "M1", "crane_monitor", "2025-03-20", "2025-03-31", 720)
    rows["device_events"] = [
        _alarm(1, "crane_overload", "2025-03-05T10:00:00"),  # in March, before registration
        _alarm(2, "crane_wind", "2025-03-25T10:00:00"),
        _alarm(3, "deep_excavation", "2025-03-10T10:00:00"),  # no structural monitor
        _alarm(4, "crane_collision", "2025-04-02T10:00:00"),  # no crane monitor in April
    ]
    got = aggregate(rows)
    march = _row(got, "2025-03")
    assert march["crane_warnings"] == 2
    assert march["structural_alarms"] is None
    assert march["device_online_rate"] == 720 * 12 / (1440 * 12)
    april = _row(got, "2025-04")
    assert (april["crane_warnings"], april["structural_alarms"]) == (None, None)
    assert april["device_online_rate"] is None
    rows["device_days"] += device("S1", "M2", "structural_monitor", "2025-03-31", "2025-03-31")
    assert _row(aggregate(rows), "2025-03")["structural_alarms"] == 1


@pytest.mark.parametrize(
    ("older_ticket", "expected"),
    [("2024-12-02", 4 / 5), ("2024-12-01", 3 / 5)],
    ids=["hazards-on-8-of-10-days", "hazards-on-7-of-10-days"],
)
def test_data_completeness_80_percent_of_attendance_days(
    aggregate: Aggregate, older_ticket: str, expected: float
) -> None:
    rows = baseline()  # attendance on March 1-10
    rows["sites"] = [site("S1", tower_cranes=1)]  # expected feeds: 4 + crane
    # video on 8 of the 10 days (80%: delivered); the crane monitor online on 7 days
    # and registered but offline on the 8th (devices delivered on 8 days, crane on 7)
    rows["device_days"] = (
        device("S1", "C1", "camera", "2025-03-01", "2025-03-08")
        + device("S1", "M1", "crane_monitor", "2025-03-01", "2025-03-07")
        + device("S1", "M1", "crane_monitor", "2025-03-08", "2025-03-08", minutes=0)
        + device("S1", "C1", "camera", "2025-03-20", "2025-03-21")  # not attendance days
    )
    # a ticket found on March 4 covers March 4-10 (7 days); one found on Dec 2 covers
    # March 1 (Mar 1 - 89 days = Dec 2) but not March 2; one on Dec 1 covers none
    rows["hazard_tickets"] = [
        _ticket(1, "self", "general", older_ticket, "2024-12-31", "2024-12-20"),
        _ticket(2, "self", "general", "2025-03-04", "2025-03-31", None),
    ]
    got = _row(aggregate(rows), "2025-03")
    assert got["data_completeness"] == expected
    # device-days: camera 10 (1440 each), crane 7 x 1440 and 1 x 0
    assert got["device_online_rate"] == (17 * 1440) / (1440 * 18)


def test_data_completeness_structural_feed_and_attendance_only(aggregate: Aggregate) -> None:
    rows = baseline()
    assert _row(aggregate(rows), "2025-03")["data_completeness"] == 1 / 4
    rows["sites"] = [site("S1", hazardous_works=2, over_scale_hazardous_works=1)]
    rows["device_days"] = device("S1", "M1", "structural_monitor", "2025-03-01", "2025-03-10")
    # attendance, devices and structural of 5 expected
    assert _row(aggregate(rows), "2025-03")["data_completeness"] == 3 / 5


def test_severe_weather_days_in_the_sites_district(aggregate: Aggregate) -> None:
    rows = baseline()  # S1 is in pudong
    rows["weather_warnings"] = [
        {"district": "pudong", "date": "2025-03-03", "kind": "typhoon"},
        {"district": "pudong", "date": "2025-03-03", "kind": "rainstorm"},  # same day
        {"district": "pudong", "date": "2025-03-31", "kind": "heat"},
        {"district": "pudong", "date": "2025-04-01", "kind": "heat"},  # April
        {"district": "xuhui", "date": "2025-03-05", "kind": "heat"},  # another district
    ]
    got = _row(aggregate(rows), "2025-03")
    assert got["severe_weather_days"] == 2


def test_nulls_of_a_quiet_month(aggregate: Aggregate) -> None:
    got = _row(aggregate(baseline()), "2025-03")
    assert got == {
        "site_id": "S1",
        "month": "2025-03",
        "stage": "structure",
        "worker_hours": 80.0,
        "avg_daily_workers": 1.0,
        "new_worker_share": 1.0,
        "training_coverage": None,
        "ai_alerts_ppe": None,
        "ai_alerts_intrusion": None,
        "ai_alerts_fire": None,
        "alert_closure_rate": None,
        "hazards_found": None,
        "major_hazards": None,
        "hazard_rectification_rate": None,
        "crane_warnings": None,
        "structural_alarms": None,
        "device_online_rate": None,
        "data_completeness": 0.25,
        "inspection_violations": 0,
        "severe_weather_days": 0,
    }
