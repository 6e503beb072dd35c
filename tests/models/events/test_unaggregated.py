"""Site-months with events but no attendance are named, never dropped silently (issue
20, item 3): ``siterisk data aggregate`` lists each with what it holds."""

from __future__ import annotations

from pathlib import Path

from events_helpers import baseline, days, device, write
from typer.testing import CliRunner

from models.events.load import load_events
from models.events.unaggregated import unaggregated_months


def _rows() -> dict[str, list[dict[str, object]]]:
    """S1 attends in March and May; April has a camera, an alert and a ticket due, and a
    gate reported on the last day of February."""
    rows = baseline()
    rows["attendance"] += days("S1", "W1", "2025-05-01", "2025-05-01")
    rows["device_days"] = device("S1", "C1", "camera", "2025-03-30", "2025-04-02")
    rows["device_days"] += device("S1", "G1", "attendance_gate", "2025-02-28", "2025-02-28")
    rows["video_events"] = [
        {"event_id": "E1", "site_id": "S1", "device_id": "C1", "ts": "2025-04-01T09:00:00",
         "kind": "ppe", "closed_at": None},
    ]  # fmt: skip
    rows["hazard_tickets"] = [
        {"ticket_id": "T1", "site_id": "S1", "found_on": "2025-03-28", "source": "self",
         "level": "general", "deadline": "2025-04-03", "rectified_on": None},
        # due after the last month with attendance: not yet, not named
        {"ticket_id": "T2", "site_id": "S1", "found_on": "2025-05-01", "source": "self",
         "level": "general", "deadline": "2025-06-03", "rectified_on": None},
    ]  # fmt: skip
    return rows


def test_a_month_with_events_and_no_attendance_is_named(tmp_path: Path) -> None:
    events = load_events(write(tmp_path / "ev", _rows()))
    try:
        assert unaggregated_months(events) == [
            "S1 2025-02: 1 device_days but no attendance, so no site_months row (the month "
            "cannot be aggregated)",
            "S1 2025-04: 2 device_days, 1 hazard_tickets due, 1 video_events but no attendance, "
            "so no site_months row (the month cannot be aggregated)",
        ]
        assert unaggregated_months(events, ("2025-05", None)) == []
        first, rest = unaggregated_months(events, limit=1)
        assert first.startswith("S1 2025-02: 1 device_days")
        assert rest == "... and 1 more site-months with events but no attendance"
    finally:
        events.con.close()


def test_the_aggregate_command_names_them(tmp_path: Path) -> None:
    from training.cli import app

    folder = write(tmp_path / "ev", _rows())
    for extra in ([], ["--incremental"]):
        out = tmp_path / f"out{len(extra)}"
        args = ["data", "aggregate", str(folder), "--out", str(out), *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "! S1 2025-04: 2 device_days, 1 hazard_tickets due" in result.output
