"""A Shanghai-sized month of raw events, written fast by DuckDB SQL as Parquet.

Sizes follow the event contract's scale (docs/events.md): thousands of
sites, 30 million and more attendance rows, millions of device and video events. Every
value comes from ``hash`` of its row's numbers, so a folder is the same on every run
and needs no random state shared between DuckDB's threads. The folder passes the event
contract's validation (``models.events.load``); its content is plausible, not realistic:
it exists to time and size the aggregation, not to train on.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from models.contract import spec as contract_spec

MONTH_START: Final = dt.date(2025, 3, 1)
DAYS: Final = 31
ATTEND_PERCENT: Final = 97  # a rostered worker attends on 97% of the month's days


@dataclass(frozen=True)
class Scale:
    """How big a generated month is."""

    sites: int = 5_000
    attendance: int = 30_000_000
    video_events: int = 3_000_000
    device_events: int = 2_000_000

    @property
    def mean_workers(self) -> float:
        """Rostered workers per site that give about ``attendance`` rows."""
        return self.attendance / (self.sites * DAYS * ATTEND_PERCENT / 100)


def _sites_csv(path: Path, n: int) -> None:
    names = [c.name for c in contract_spec.SITES]
    districts, kinds = contract_spec.DISTRICTS, contract_spec.PROJECT_TYPES
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for i in range(n):
            writer.writerow(
                [f"SH{i:05d}", f"GC{i % 700:03d}", districts[i % len(districts)],
                 kinds[i % len(kinds)], 5.0e7 + 1.0e5 * (i % 997), 8000.0 + 13 * (i % 5000),
                 20.0 + i % 180, "2024-01-01", "2026-12-31", i % 4,
                 min(i % 4, int(i % 9 == 0)), i % 3]
            )  # fmt: skip


def generate(out: Path, scale: Scale = Scale(), *, threads: int = 2) -> dict[str, int]:
    """Write the events folder ``out``; return the rows of each table."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    _sites_csv(out / "sites.csv", scale.sites)
    with (out / "claims.csv").open("w", encoding="utf-8") as handle:
        handle.write(",".join(c.name for c in contract_spec.CLAIMS) + "\n")
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    # int(hash(...) % k): numbers 0..k-1 from a row's coordinates
    low = max(1, round(scale.mean_workers / 2))
    span = max(1, round(scale.mean_workers)) + 1
    con.execute(
        f"""CREATE TABLE site AS
        SELECT i AS n, printf('SH%05d', i) AS site_id, i % 3 AS tower_cranes,
               i % 4 AS hazardous_works, {low} + CAST(hash(i, 'w') % {span} AS INTEGER) AS workers
        FROM range({scale.sites}) t(i)"""
    )
    max_workers = low + span
    m0 = f"DATE '{MONTH_START.isoformat()}'"
    ts0 = f"TIMESTAMP '{MONTH_START.isoformat()} 00:00:00'"
    queries = {
        "site_stages": f"""
            SELECT site_id, 'foundation' AS stage, DATE '2024-01-01' AS from_date FROM site
            UNION ALL
            SELECT site_id, 'structure', {m0} + CAST(hash(n, 'st') % {DAYS} AS INTEGER)
            FROM site WHERE n % 3 = 0""",
        "attendance": f"""
            SELECT s.site_id, printf('W%05d-%04d', s.n, w.i) AS worker_id,
                   {m0} + CAST(d.i AS INTEGER) AS date,
                   4 + CAST(hash(s.n, w.i, d.i) % 81 AS DOUBLE) / 10 AS hours
            FROM site s, range({max_workers}) w(i), range({DAYS}) d(i)
            WHERE w.i < s.workers AND hash(s.n, w.i, d.i, 'a') % 100 < {ATTEND_PERCENT}""",
        "training_records": f"""
            SELECT printf('W%05d-%04d', s.n, w.i) AS worker_id, s.site_id,
                   {m0} - CAST(hash(s.n, w.i, 'c') % 400 AS INTEGER) AS completed_on,
                   {m0} - CAST(hash(s.n, w.i, 'c') % 400 AS INTEGER) + 365 AS valid_until
            FROM site s, range({max_workers}) w(i)
            WHERE w.i < s.workers AND hash(s.n, w.i, 't') % 10 < 8""",
        "video_events": f"""
            SELECT 'V' || i AS event_id, printf('SH%05d', hash(i, 's') % {scale.sites}) AS site_id,
                   printf('SH%05d-camera', hash(i, 's') % {scale.sites}) AS device_id,
                   {ts0} + to_seconds(CAST(hash(i, 't') % {DAYS * 86400} AS BIGINT)) AS ts,
                   ['ppe', 'intrusion', 'fire'][1 + CAST(hash(i, 'k') % 3 AS INTEGER)] AS kind,
                   CASE WHEN hash(i, 'c') % 10 < 8
                        THEN {ts0} + to_seconds(CAST(hash(i, 't') % {DAYS * 86400}
                             + hash(i, 'd') % 172800 AS BIGINT)) END AS closed_at
            FROM range({scale.video_events}) t(i)""",
        "device_events": f"""
            SELECT 'D' || i AS event_id, printf('SH%05d', hash(i, 's') % {scale.sites}) AS site_id,
                   printf('SH%05d-monitor', hash(i, 's') % {scale.sites}) AS device_id,
                   {ts0} + to_seconds(CAST(hash(i, 't') % {DAYS * 86400} AS BIGINT)) AS ts,
                   ['crane_overload', 'crane_collision', 'crane_wind', 'deep_excavation',
                    'high_formwork'][1 + CAST(hash(i, 'k') % 5 AS INTEGER)] AS kind
            FROM range({scale.device_events}) t(i)""",
        "device_days": f"""
            SELECT s.site_id, s.site_id || '-' || k.kind AS device_id,
                   {m0} + CAST(d.i AS INTEGER) AS date, k.kind,
                   CAST(hash(s.n, k.kind, d.i) % 1441 AS BIGINT) AS online_minutes
            FROM site s,
                 (VALUES ('attendance_gate'), ('camera'), ('crane_monitor'),
                         ('structural_monitor')) k(kind),
                 range({DAYS}) d(i)
            WHERE (k.kind = 'attendance_gate'
                   OR (k.kind = 'camera' AND s.n % 10 <> 0)
                   OR (k.kind = 'crane_monitor' AND s.tower_cranes > 0)
                   OR (k.kind = 'structural_monitor' AND s.hazardous_works > 0))
              AND d.i >= CAST(hash(s.n, k.kind) % 4 AS INTEGER) * 5""",
        "hazard_tickets": f"""
            SELECT 'T' || s.n || '-' || j.i AS ticket_id, s.site_id,
                   {m0} - 90 + CAST(hash(s.n, j.i, 'f') % 121 AS INTEGER) AS found_on,
                   ['self', 'self', 'insurer', 'government'][1 + CAST(hash(s.n, j.i, 's') % 4
                                                             AS INTEGER)] AS source,
                   ['general', 'general', 'major'][1 + CAST(hash(s.n, j.i, 'l') % 3
                                                   AS INTEGER)] AS level,
                   {m0} - 90 + CAST(hash(s.n, j.i, 'f') % 121 AS INTEGER)
                       + CAST(hash(s.n, j.i, 'd') % 30 AS INTEGER) AS deadline,
                   CASE WHEN hash(s.n, j.i, 'r') % 5 > 0
                        THEN {m0} - 90 + CAST(hash(s.n, j.i, 'f') % 121 AS INTEGER)
                             + CAST(hash(s.n, j.i, 'x') % 45 AS INTEGER) END AS rectified_on
            FROM site s, range(12) j(i)""",
        "weather_warnings": f"""
            SELECT d.district, {m0} + CAST(n.i AS INTEGER) AS date, 'rainstorm' AS kind
            FROM (SELECT unnest({list(contract_spec.DISTRICTS)}) AS district) d, range({DAYS}) n(i)
            WHERE hash(d.district, n.i) % 10 < 3""",
    }
    rows: dict[str, int] = {}
    for table, query in queries.items():
        target = out / f"{table}.parquet"
        con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)")
        rows[table] = int(
            con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]  # type: ignore[index]
        )
    con.close()
    rows["sites"] = scale.sites
    return rows
