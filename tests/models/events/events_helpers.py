"""Small hand-written events folders: a baseline world every test edits, and a writer
that puts it on disk as CSV (or Parquet) the way the event contract names the files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from models.contract import spec as contract_spec
from models.events import spec

Rows = dict[str, list[dict[str, Any]]]


def site(site_id: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "site_id": site_id,
        "contractor_id": "GC1",
        "district": "pudong",
        "project_type": "residential",
        "contract_value_cny": 1.0e8,
        "floor_area_m2": 20000.0,
        "max_height_m": 80.0,
        "start_date": "2024-06-01",
        "planned_end_date": "2026-12-31",
        "hazardous_works": 0,
        "over_scale_hazardous_works": 0,
        "tower_cranes": 0,
    }
    row.update(over)
    return row


def days(
    site_id: str, worker: str, first: str, last: str, hours: float = 8.0
) -> list[dict[str, Any]]:
    """Attendance of one worker on every day from ``first`` to ``last``."""
    import datetime as dt

    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [
        {
            "site_id": site_id,
            "worker_id": worker,
            "date": str(start + dt.timedelta(n)),
            "hours": hours,
        }
        for n in range((end - start).days + 1)
    ]


def device(
    site_id: str, device_id: str, kind: str, first: str, last: str, minutes: int = 1440
) -> list[dict[str, Any]]:
    import datetime as dt

    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [
        {
            "site_id": site_id,
            "device_id": device_id,
            "date": str(start + dt.timedelta(n)),
            "kind": kind,
            "online_minutes": minutes,
        }
        for n in range((end - start).days + 1)
    ]


def baseline() -> Rows:
    """One site, S1, one worker on 2025-03-01..10: nothing else happened."""
    return {
        "sites": [site("S1")],
        "claims": [],
        "site_stages": [{"site_id": "S1", "stage": "structure", "from_date": "2024-06-01"}],
        "attendance": days("S1", "W1", "2025-03-01", "2025-03-10"),
        "training_records": [],
        "video_events": [],
        "hazard_tickets": [],
        "device_events": [],
        "device_days": [],
        "weather_warnings": [],
    }


def header(table: str) -> list[str]:
    if table in contract_spec.TABLES:
        return [c.name for c in contract_spec.TABLES[table]]
    return [c.name for c in spec.TABLES[table]]


def write(folder: Path, rows: Rows, *, parquet: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table, records in rows.items():
        names = header(table)
        if table in parquet:
            import pandas as pd

            frame = pd.DataFrame(records, columns=names)
            frame.to_parquet(folder / f"{table}.parquet", index=False)
            continue
        with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            for record in records:
                writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return folder
