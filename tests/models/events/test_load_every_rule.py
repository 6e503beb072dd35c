"""Every rule of the event contract, broken once in one row, is reported with its file,
row, column and rule, and only that (issue 20, item 3). The cases are read from
``models.events.spec``: a rule added there without a report fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from events_helpers import baseline, write

from models.contract import ContractError
from models.events import spec
from models.events.load import load_events

VALID: dict[str, dict[str, Any]] = {
    "site_stages": {"site_id": "S1", "stage": "finishing", "from_date": "2025-06-01"},
    "attendance": {"site_id": "S1", "worker_id": "W9", "date": "2025-03-15", "hours": 8.0},
    "training_records": {"worker_id": "W1", "site_id": "S1", "completed_on": "2025-01-01",
                         "valid_until": "2026-01-01"},
    "video_events": {"event_id": "E1", "site_id": "S1", "device_id": "C1",
                     "ts": "2025-03-01T08:00:00", "kind": "ppe", "closed_at": None},
    "hazard_tickets": {"ticket_id": "T1", "site_id": "S1", "found_on": "2025-03-02",
                       "source": "self", "level": "general", "deadline": "2025-03-09",
                       "rectified_on": None},
    "device_events": {"event_id": "A1", "site_id": "S1", "device_id": "M1",
                      "ts": "2025-03-01T08:00:00", "kind": "crane_wind"},
    "device_days": {"site_id": "S1", "device_id": "D1", "date": "2025-03-01", "kind": "camera",
                    "online_minutes": 100},
    "weather_warnings": {"district": "pudong", "date": "2025-03-01", "kind": "heat"},
}  # fmt: skip

_NOT_A: dict[str, str] = {
    "date": "2025-13-01",
    "timestamp": "2025-03-01T25:00:00",
    "float": "abc",
    "int": "1.5",
}


def _cases() -> list[tuple[str, str, Any, str]]:
    """(table, column, bad value, rule) for every rule the spec states per column."""
    cases: list[tuple[str, str, Any, str]] = []
    for table, columns in spec.TABLES.items():
        for col in columns:
            if col.kind in _NOT_A:
                cases.append((table, col.name, _NOT_A[col.kind], "type"))
            if not col.nullable:
                cases.append((table, col.name, None, "not null"))
            if col.choices is not None:
                cases.append((table, col.name, "bogus", "enum"))
            if col.gt is not None:
                cases.append((table, col.name, col.gt, "range"))
            if col.ge is not None:
                cases.append((table, col.name, col.ge - 1, "range"))
            if col.le is not None:
                cases.append((table, col.name, col.le + 1, "range"))
            if col.max_len is not None:
                cases.append((table, col.name, "x" * (col.max_len + 1), "length"))
            if col.name == "site_id":
                cases.append((table, col.name, "S9", "reference"))
    for table, small, large in spec.CROSS_RULES:
        earlier = {"closed_at": "2025-02-28T08:00:00"}.get(large, "2024-12-31")
        cases.append((table, large, earlier, f"{small} <= {large}"))
    return cases


def _problems(folder: Path) -> list[str]:
    with pytest.raises(ContractError) as caught:
        load_events(folder)
    assert caught.value.report.total == len(caught.value.report.problems)
    return [p.render() for p in caught.value.report.problems]


def _written(tmp_path: Path, table: str, row: dict[str, Any], parquet: bool) -> tuple[Path, int]:
    rows = baseline()
    rows[table] = [*rows[table], VALID[table], row]
    if table == "video_events":  # a second valid alert, so that the bad one has its own id
        rows[table][-1] = {**row, "event_id": row["event_id"] if row["event_id"] != "E1" else "E2"}
    folder = write(tmp_path / "ev", rows, parquet=(table,) if parquet else ())
    return folder, len(rows[table])


@pytest.mark.parametrize(
    ("table", "column", "value", "rule"),
    _cases(),
    ids=[f"{t}.{c}-{r}" for t, c, _, r in _cases()],
)
def test_every_rule_is_reported_with_file_row_and_column(
    tmp_path: Path, table: str, column: str, value: Any, rule: str
) -> None:
    bad = {**VALID[table], column: value}
    for key in spec.KEYS.get(table, ()):  # not a repeat of the valid row
        if key != column and key in ("event_id", "ticket_id", "worker_id", "device_id"):
            bad[key] = f"{bad[key]}-bad"
    if table == "site_stages" and column != "from_date":
        bad["from_date"] = "2025-07-01"
    if table == "attendance" and column != "date":
        bad["date"] = "2025-03-16"
    folder, row = _written(tmp_path, table, bad, parquet=False)
    found = _problems(folder)
    where = f"{table}.csv row {row} (line {row + 1} of the file) {column} — "
    assert all(p.startswith(where) for p in found), found
    rules = {p.rsplit("[", 1)[1].rstrip("]") for p in found}
    # a site_id too long to be a site's is not a site of sites either
    assert rules == ({rule, "reference"} if (column, rule) == ("site_id", "length") else {rule})
    assert len(found) == len(rules)


@pytest.mark.parametrize("table", [t for t, key in spec.KEYS.items()])
def test_a_repeated_key_is_reported_on_the_later_row(tmp_path: Path, table: str) -> None:
    rows = baseline()
    rows[table] = [*rows[table], VALID[table], VALID[table]]
    if table == "site_stages":  # the baseline's own stage row stays the first
        rows[table] = [*baseline()[table], VALID[table], VALID[table]]
    found = _problems(write(tmp_path / "ev", rows))
    row = len(rows[table])
    key = spec.KEYS[table]
    assert len(found) == 1, found
    assert found[0].startswith(f"{table}.csv row {row} (line {row + 1} of the file) {key[-1]} — ")
    assert found[0].endswith("[unique]")


@pytest.mark.parametrize(
    ("table", "column", "value", "why"),
    [
        ("attendance", "hours", "eight", "is not a number"),
        ("device_days", "online_minutes", 90.5, "is not a whole number"),
        ("video_events", "ts", "2025-03-01T08:00:00Z", "is not a timestamp"),
        ("hazard_tickets", "found_on", "03/02/2025", "is not a date"),
    ],
)
def test_a_parquet_file_names_the_row_and_column_too(
    tmp_path: Path, table: str, column: str, value: Any, why: str
) -> None:
    rows = baseline()
    good = dict(VALID[table])
    bad = {**VALID[table], column: value}
    for key in ("event_id", "ticket_id"):
        if key in bad:
            bad[key] = f"{bad[key]}-bad"
    if table == "device_days":
        bad["device_id"] = "D2"
    rows[table] = [*rows[table], good, bad]
    if table in ("attendance",):
        bad["date"] = "2025-03-16"
    folder = write(tmp_path / "ev", rows)
    (folder / f"{table}.csv").unlink()
    import pandas as pd

    frame = pd.DataFrame(rows[table])
    if isinstance(value, str):  # a text column where the contract wants another type
        frame[column] = frame[column].astype(str)
    frame.to_parquet(folder / f"{table}.parquet", index=False)
    found = _problems(folder)
    assert len(found) == 1, found
    assert found[0].startswith(f"{table}.parquet row {len(rows[table])} {column} — "), found
    assert why in found[0]
