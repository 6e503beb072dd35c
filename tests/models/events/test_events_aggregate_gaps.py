"""Hand-worked folders for the parts of the event contract's rules that
``test_events_aggregate.py`` leaves out (issue 20, item 2): which feed a device-day
delivers, whose training records make a coverage a number, and the month boundary
of monitor alarms. Every expected value is worked out in the comments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from events_helpers import baseline, days, device, site

Aggregate = Callable[..., list[dict[str, Any]]]


def _march(rows: list[dict[str, Any]], site_id: str = "S1") -> dict[str, Any]:
    found = [r for r in rows if r["site_id"] == site_id and r["month"] == "2025-03"]
    assert len(found) == 1, rows
    return found[0]


def test_which_feed_a_device_day_delivers(aggregate: Aggregate) -> None:
    rows = baseline()  # attendance on March 1-10: 10 days, 80% is 8
    # a camera registered all ten days but online on 7 only: devices are delivered on
    # 10 days, video on 7 (< 8): devices yes, video no
    rows["device_days"] = device("S1", "C1", "camera", "2025-03-01", "2025-03-07") + device(
        "S1", "C1", "camera", "2025-03-08", "2025-03-10", minutes=0
    )
    # a government ticket found on March 3 delivers the hazards feed on March 3-10 (8)
    rows["hazard_tickets"] = [
        {"ticket_id": "T1", "site_id": "S1", "found_on": "2025-03-03", "source": "government",
         "level": "general", "deadline": "2025-03-20", "rectified_on": "2025-03-05"},
    ]  # fmt: skip
    got = _march(aggregate(rows))
    # attendance, devices and hazards of the four expected feeds
    assert got["data_completeness"] == 3 / 4
    # a gate on the three days the camera was off does not deliver video either
    rows["device_days"] += device("S1", "G1", "attendance_gate", "2025-03-08", "2025-03-10")
    got = _march(aggregate(rows))
    assert got["data_completeness"] == 3 / 4
    # device-days: camera 7 x 1440 + 3 x 0, gate 3 x 1440
    assert got["device_online_rate"] == (10 * 1440) / (1440 * 13)
    # the government ticket is an inspection finding, not a hazard found
    assert (got["hazards_found"], got["inspection_violations"]) == (None, 1)


def test_training_records_that_make_the_coverage_a_number(aggregate: Aggregate) -> None:
    rows = baseline()  # W1 at S1 on March 1-10
    rows["sites"].append(site("S2"))
    rows["site_stages"].append({"site_id": "S2", "stage": "civil", "from_date": "2024-01-01"})
    rows["attendance"] += days("S2", "W2", "2025-03-01", "2025-03-02")
    # W2 works at S2 only, W1's record is completed on April 1 (after March)
    rows["training_records"] = [
        {"worker_id": "W2", "site_id": "S1", "completed_on": "2025-01-01",
         "valid_until": "2026-01-01"},
        {"worker_id": "W1", "site_id": "S1", "completed_on": "2025-04-01",
         "valid_until": "2026-04-01"},
    ]  # fmt: skip
    got = aggregate(rows)
    # at S1 nobody of March has a record completed by March 31: null, whatever W2 holds
    assert _march(got)["training_coverage"] is None
    # at S2, W2's record (given at S1) covers W2's first March day: 1 of 1
    assert _march(got, "S2")["training_coverage"] == 1.0
    # a record of W1 that expired before W1's first March day: a number, and zero
    rows["training_records"].append(
        {"worker_id": "W1", "site_id": "S2", "completed_on": "2024-01-01",
         "valid_until": "2025-02-28"}
    )  # fmt: skip
    assert _march(aggregate(rows))["training_coverage"] == 0.0


def test_alarms_at_the_month_boundary(aggregate: Aggregate) -> None:
    rows = baseline()
    rows["attendance"] += days("S1", "W1", "2025-04-01", "2025-04-01")
    rows["device_days"] = device("S1", "M1", "crane_monitor", "2025-03-31", "2025-04-01")
    rows["device_events"] = [
        {"event_id": f"A{i}", "site_id": "S1", "device_id": "M1", "ts": ts, "kind": kind}
        for i, (ts, kind) in enumerate([
            ("2025-03-31T23:59:59", "crane_overload"),  # March's last second
            ("2025-04-01T00:00:00", "crane_collision"),  # April's first
            ("2025-04-01T00:00:01", "high_formwork"),  # structural, not a crane warning
        ])
    ]  # fmt: skip
    got = aggregate(rows)
    march = _march(got)
    april = next(r for r in got if r["month"] == "2025-04")
    assert (march["crane_warnings"], april["crane_warnings"]) == (1, 1)
    # no structural monitor: the high-formwork alarm makes no count
    assert april["structural_alarms"] is None
