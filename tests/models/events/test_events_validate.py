"""The event contract's validation: every broken rule with its file, row and column,
nothing returned when anything is broken (issue 20, item 3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from events_helpers import baseline, write

from models.contract import ContractError
from models.events.load import load_events


def _problems(folder: Path) -> list[str]:
    with pytest.raises(ContractError) as caught:
        load_events(folder)
    return [p.render() for p in caught.value.report.problems]


def test_a_clean_folder_loads_with_typed_views(tmp_path: Path) -> None:
    rows = baseline()
    rows["video_events"] = [
        {"event_id": "E1", "site_id": "S1", "device_id": "C1", "ts": "2025-03-01T23:30:00",
         "kind": "ppe", "closed_at": None},
    ]  # fmt: skip
    events = load_events(write(tmp_path / "ev", rows))
    try:
        ts, closed = events.con.execute("SELECT ts, closed_at FROM video_events").fetchone() or ()
        assert str(ts) == "2025-03-01 23:30:00"  # the wall clock, never shifted
        assert closed is None
        assert events.con.execute("SELECT count(*) FROM attendance").fetchone() == (10,)
    finally:
        events.con.close()


def test_every_broken_rule_is_named_with_file_row_and_column(tmp_path: Path) -> None:
    rows = baseline()
    rows["attendance"].append(dict(rows["attendance"][0]))  # row 11 repeats row 1
    rows["attendance"].append(
        {"site_id": "S9", "worker_id": "W2", "date": "2025-02-30", "hours": 25}
    )
    rows["attendance"].append(
        {"site_id": "S1", "worker_id": "W2", "date": "2025-02-03", "hours": "x"}
    )
    rows["video_events"] = [
        {"event_id": "E1", "site_id": "S1", "device_id": "C1", "ts": "2025-03-01T08:00:00+08:00",
         "kind": "ppe", "closed_at": None},
        {"event_id": "E1", "site_id": "S1", "device_id": "C1", "ts": "2025-03-01T08:00:00",
         "kind": "helmet", "closed_at": "2025-03-01T07:00:00"},
    ]  # fmt: skip
    rows["hazard_tickets"] = [
        {"ticket_id": "T1", "site_id": "S1", "found_on": "2025-03-02", "source": "self",
         "level": "general", "deadline": "2025-03-01", "rectified_on": None},
    ]  # fmt: skip
    rows["device_days"] = [
        {"site_id": "S1", "device_id": "D", "date": "2025-03-01", "kind": "camera",
         "online_minutes": 1.5},
    ]  # fmt: skip
    found = _problems(write(tmp_path / "ev", rows, parquet=("device_days",)))
    expected = [
        "attendance.csv row 11 (line 12 of the file) date — 'S1, W1, 2025-03-01' repeats "
        "(site_id, worker_id, date) of an earlier row [unique]",
        "attendance.csv row 12 (line 13 of the file) date — '2025-02-30' is not a date",
        "attendance.csv row 12 (line 13 of the file) hours — 25 is out of range",
        "attendance.csv row 12 (line 13 of the file) site_id — 'S9' is not a site of sites",
        "attendance.csv row 13 (line 14 of the file) hours — 'x' is not a number",
        "video_events.csv row 1 (line 2 of the file) ts — '2025-03-01T08:00:00+08:00' is not a "
        "timestamp",
        "video_events.csv row 2 (line 3 of the file) closed_at — 2025-03-01T07:00:00 is before ts",
        "video_events.csv row 2 (line 3 of the file) event_id — 'E1' is repeated [unique]",
        "video_events.csv row 2 (line 3 of the file) kind — 'helmet' is not one of ppe",
        "hazard_tickets.csv row 1 (line 2 of the file) deadline — 2025-03-01 is before found_on",
        "device_days.parquet row 1 online_minutes — '1.5' is not a whole number",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in found), (line, found)
    assert len(found) == len(expected)


def test_missing_tables_and_sites_without_a_stage(tmp_path: Path) -> None:
    rows = baseline()
    rows["sites"].append(rows["sites"][0] | {"site_id": "S2"})
    del rows["weather_warnings"]
    found = _problems(write(tmp_path / "ev", rows))
    assert any(p.startswith("weather_warnings — no weather_warnings.parquet") for p in found)
    assert any("site 'S2' of sites has no row in site_stages" in p for p in found)


def test_a_directory_of_parquet_parts_names_each_part(tmp_path: Path) -> None:
    rows = baseline()
    folder = write(tmp_path / "ev", rows)
    (folder / "attendance.csv").unlink()
    parts = folder / "attendance"
    parts.mkdir()
    frame = pd.DataFrame(rows["attendance"])
    frame.iloc[:5].to_parquet(parts / "part-0.parquet", index=False)
    bad = frame.iloc[5:].copy()
    bad.loc[bad.index[2], "hours"] = 0.0
    bad.to_parquet(parts / "part-1.parquet", index=False)
    (parts / "_SUCCESS").write_text("")
    found = _problems(folder)
    assert found == [
        "attendance/part-1.parquet row 3 hours — 0 is out of range: must be greater than 0 [range]"
    ]
    bad.loc[bad.index[2], "hours"] = 4.0
    bad.to_parquet(parts / "part-1.parquet", index=False)
    events = load_events(folder)
    try:
        assert events.con.execute("SELECT sum(hours) FROM attendance").fetchone() == (76.0,)
    finally:
        events.con.close()


def test_a_csv_that_is_not_utf8_is_reported_cleanly(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path / "ev", baseline())
    path = folder / "attendance.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3] + b",x" + "é".encode("gbk")  # an extra field with a GBK byte
    path.write_bytes(b"\n".join(lines))
    found = _problems(folder)
    assert len(found) == 1
    assert found[0].startswith("attendance.csv row 3 (line 4 of the file) — is not UTF-8")
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


def test_parquet_instants_show_on_the_shanghai_wall_clock(tmp_path: Path) -> None:
    rows = baseline()
    rows["video_events"] = [
        {"event_id": "E1", "site_id": "S1", "device_id": "C1", "ts": "2025-03-01T08:00:00",
         "kind": "ppe", "closed_at": None},
    ]  # fmt: skip
    folder = write(tmp_path / "ev", rows)
    (folder / "video_events.csv").unlink()
    frame = pd.DataFrame(rows["video_events"])
    naive = pd.to_datetime(frame["ts"])
    # a naive timestamp stays as written; an instant (UTC-adjusted, as Spark writes
    # it) is shown on the Shanghai clock: 00:00 UTC is 08:00 in Shanghai
    frame["ts"] = naive.dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
    frame["closed_at"] = pd.Series([None], dtype="datetime64[us]")
    frame.to_parquet(folder / "video_events.parquet", index=False)
    events = load_events(folder)
    try:
        assert str(events.con.execute("SELECT ts FROM video_events").fetchone()[0]) == (  # type: ignore[index]
            "2025-03-01 08:00:00"
        )
    finally:
        events.con.close()
