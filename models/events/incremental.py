"""Incremental aggregation: re-aggregate only the months whose inputs changed.

The platform appends events daily. A month's row of ``site_months`` reads more than
the month's own events: first attendance over the whole folder, training records
completed before the month's first day, the 90-day hazards window, tickets due in the
month, each site's first own or insurer ticket, the site's stage rows and its row of
``sites``. :func:`month_fingerprints` hashes, per site and month, exactly those inputs
(the row's *dependency window*, derived from the event contract's definitions); a run
compares them with the manifest the last run left in the output folder and computes
only the months where a fingerprint changed, reading only the events those months can
see. Every other row is kept as it was written, including the rows of a recomputed
month whose own inputs did not change (a float sum computed again may differ in its
last bits, and the service would store that as a correction). So a re-run with nothing
changed rewrites nothing (the output stays byte-identical), and a run after a day was
appended changes exactly the rows that day reaches (docs/events.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from models.contract import spec as contract_spec
from models.contract.problems import DEFAULT_MAX_PROBLEMS
from models.events import spec
from models.events.aggregate import site_months, site_months_sql
from models.events.load import EventsFolder, load_events
from models.events.unaggregated import unaggregated_months

if TYPE_CHECKING:
    import pyarrow as pa

MANIFEST: Final = "site_months.manifest.json"
MANIFEST_VERSION: Final = 2
SITE_MONTHS_FILE: Final = "site_months.parquet"

# Per site s and month m (first day m, last day m_end): each input the row of (s, m)
# reads, as (count, sum of row hashes) so that neither row order nor the file a row
# sits in matters.
_FINGERPRINTS: Final = """
WITH
att AS (
    SELECT site_id, worker_id, date AS d, hours, CAST(date_trunc('month', date) AS DATE) AS m
    FROM attendance
),
site_m AS (
    SELECT DISTINCT site_id, m, last_day(m) AS m_end FROM att
    WHERE (? IS NULL OR strftime(m, '%Y-%m') >= ?) AND (? IS NULL OR strftime(m, '%Y-%m') <= ?)
),
site_worker_m AS (SELECT DISTINCT site_id, worker_id, m FROM att),
stage_rows AS (
    SELECT *, row_number() OVER (PARTITION BY site_id ORDER BY from_date) AS k FROM site_stages
),
first_own AS (
    SELECT site_id, min(found_on) AS first_found FROM hazard_tickets
    WHERE source IN ('self', 'insurer') GROUP BY site_id
),
parts AS (
    SELECT site_id, m, 'attendance' AS part, count(*) AS n, sum(hash(worker_id, d, hours)) AS h
    FROM att GROUP BY site_id, m
    UNION ALL
    SELECT site_id, CAST(date_trunc('month', first_day) AS DATE), 'first attendance', count(*),
           sum(hash(worker_id))
    FROM (SELECT site_id, worker_id, min(d) AS first_day FROM att GROUP BY site_id, worker_id)
    GROUP BY site_id, 2
    UNION ALL
    SELECT w.site_id, w.m, 'training', count(*),
           sum(hash(t.worker_id, t.site_id, t.completed_on, t.valid_until))
    FROM site_worker_m w JOIN training_records t
      ON t.worker_id = w.worker_id AND t.completed_on <= last_day(w.m)
    GROUP BY w.site_id, w.m
    UNION ALL
    SELECT s.site_id, s.m, 'stages', count(*), sum(hash(r.stage, r.from_date))
    FROM site_m s JOIN stage_rows r
      ON r.site_id = s.site_id AND (r.from_date <= s.m_end OR r.k = 1)
    GROUP BY s.site_id, s.m
    UNION ALL
    SELECT s.site_id, s.m, 'sites', count(*),
           sum(hash(x.district, x.tower_cranes, x.hazardous_works))
    FROM site_m s JOIN sites x ON x.site_id = s.site_id
    GROUP BY s.site_id, s.m
    UNION ALL
    SELECT site_id, CAST(date_trunc('month', ts) AS DATE), 'video', count(*),
           sum(hash(event_id, device_id, ts, kind, closed_at))
    FROM video_events GROUP BY site_id, 2
    UNION ALL
    SELECT site_id, CAST(date_trunc('month', ts) AS DATE), 'alarms', count(*),
           sum(hash(event_id, device_id, ts, kind))
    FROM device_events GROUP BY site_id, 2
    UNION ALL
    SELECT site_id, CAST(date_trunc('month', date) AS DATE), 'devices', count(*),
           sum(hash(device_id, date, kind, online_minutes))
    FROM device_days GROUP BY site_id, 2
    UNION ALL
    SELECT s.site_id, s.m, 'weather', count(*), sum(hash(w.date, w.kind))
    FROM site_m s JOIN sites x ON x.site_id = s.site_id
    JOIN weather_warnings w ON w.district = x.district AND w.date >= s.m AND w.date <= s.m_end
    GROUP BY s.site_id, s.m
    UNION ALL
    -- found in the 90-day window of any day of m, or due in m
    SELECT s.site_id, s.m, 'tickets', count(*),
           sum(hash(t.ticket_id, t.found_on, t.source, t.level, t.deadline, t.rectified_on))
    FROM site_m s JOIN hazard_tickets t
      ON t.site_id = s.site_id
     AND ((t.found_on >= s.m - INTERVAL 89 DAY AND t.found_on <= s.m_end)
          OR (t.deadline >= s.m AND t.deadline <= s.m_end))
    GROUP BY s.site_id, s.m
    UNION ALL
    -- hazards_found is null until the site's first own or insurer ticket
    SELECT s.site_id, s.m, 'inspected', 1, 0
    FROM site_m s JOIN first_own f ON f.site_id = s.site_id AND f.first_found <= s.m_end
)
SELECT strftime(s.m, '%Y-%m') AS month, s.site_id,
       md5(string_agg(p.part || ':' || p.n || ':' || p.h, ';' ORDER BY p.part)) AS fingerprint
FROM site_m s JOIN parts p ON p.site_id = s.site_id AND p.m = s.m
GROUP BY s.site_id, s.m
ORDER BY month, s.site_id
"""

Prints = dict[str, dict[str, str]]  # month -> site -> fingerprint


def month_fingerprints(
    events: EventsFolder, months: tuple[str | None, str | None] | None = None
) -> Prints:
    """Per month with attendance (within ``months``), a fingerprint per site of every
    input its row of ``site_months`` reads."""
    first, last = months or (None, None)
    prints: Prints = {}
    for month, site, fingerprint in events.con.execute(
        _FINGERPRINTS, [first, first, last, last]
    ).fetchall():
        prints.setdefault(str(month), {})[str(site)] = str(fingerprint)
    return prints


def definition_hash() -> str:
    """Changes when the aggregation changes: then every month is computed again."""
    import duckdb

    text = f"{site_months_sql()}\n{spec.EVENT_CONTRACT_VERSION}\nduckdb {duckdb.__version__}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IncrementalRun:
    """What :func:`aggregate_incremental` did."""

    out: Path
    files: dict[str, Path]
    rows: int
    months: tuple[str, ...]  # every month in the output
    computed: tuple[str, ...]  # months aggregated in this run
    removed: tuple[str, ...]  # months of the last run that have no attendance now
    written: tuple[str, ...]  # files this run wrote (empty: nothing changed)
    warnings: list[str] = field(default_factory=list)


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The last run's manifest, or None when there is none usable (no manifest, another
    definition, or its site_months file is gone): then every month is computed."""
    path = Path(out) / MANIFEST
    if not path.is_file() or not (Path(out) / SITE_MONTHS_FILE).is_file():
        return None
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        return None
    if manifest.get("definition") != definition_hash():
        return None
    if not isinstance(manifest.get("months"), dict):
        return None
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(Path(out) / SITE_MONTHS_FILE).names
    except (OSError, ValueError):
        return None
    if names != [c.name for c in contract_spec.SITE_MONTHS]:
        return None
    return manifest


def aggregate_incremental(
    events_dir: Path,
    out: Path,
    *,
    months: tuple[str | None, str | None] | None = None,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    full: bool = False,
) -> IncrementalRun:
    """Check ``events_dir`` (all of it: no bad row is skipped because its month did not
    change) and bring ``out`` up to date: aggregate the months whose fingerprint is not
    the manifest's, keep the other months' rows as written, drop months that no longer
    have attendance, and copy ``sites`` and ``claims`` when they differ. ``full``
    aggregates every month whatever the manifest says (a full run that leaves the
    manifest for the next incremental one). Raise
    :class:`~models.contract.ContractError` when the events break their contract
    (nothing is written then)."""
    import pyarrow.parquet as pq

    out = Path(out)
    digest = events_digest(Path(events_dir))
    asked = list(months or (None, None))
    manifest = None if full else read_manifest(out)
    if manifest and manifest.get("inputs") == digest and manifest.get("asked") == asked:
        unchanged = _unchanged(out, manifest)
        if unchanged is not None:
            return unchanged
    events = load_events(Path(events_dir), max_problems=max_problems)
    try:
        prints = month_fingerprints(events, months)
        before: Prints = dict(manifest["months"]) if manifest else {}
        # the site-months whose inputs changed (or that are new); every other row is
        # kept as written (a float sum computed again may differ in its last bits)
        stale = {
            m: [site for site, f in sites.items() if before.get(m, {}).get(site) != f]
            for m, sites in prints.items()
        }
        stale = {m: sites for m, sites in stale.items() if sites}
        changed = sorted(stale)
        removed = tuple(sorted(set(before) - set(prints)))
        same = {
            f"{site}|{m}"
            for m, sites in prints.items()
            for site, f in sites.items()
            if before.get(m, {}).get(site) == f
        }
        gone = any(site not in prints.get(m, {}) for m, sites in before.items() for site in sites)
        warnings = [*events.warnings, *unaggregated_months(events, months)]
        new: pa.Table | None = None
        if manifest is None:  # every month, as a full run computes them
            new = site_months(events, months)
        elif stale:
            new = _aggregate_site_months(events, stale)
    finally:
        events.con.close()
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    files: dict[str, Path] = {}
    for name in ("sites", "claims"):
        source = events.sources[name][0]
        target = out / f"{name}{source.suffix}"
        files[name] = target
        other = out / f"{name}{'.csv' if source.suffix == '.parquet' else '.parquet'}"
        if other.exists():
            other.unlink()
            written.append(other.name)
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
            written.append(target.name)
    target = out / SITE_MONTHS_FILE
    files["site_months"] = target
    stale_csv = out / "site_months.csv"
    if stale_csv.exists():
        stale_csv.unlink()
        written.append(stale_csv.name)
    if new is not None or gone or manifest is None:
        kept = _kept_rows(target, same) if manifest else None
        table = _merge(kept, new)
        # written beside and moved into place: a run stopped halfway leaves the last
        # table whole (and its manifest, which then makes the next run redo the months)
        partial = target.with_name(f".{target.name}.partial")
        pq.write_table(table, partial)
        os.replace(partial, target)
        written.append(target.name)
        rows = table.num_rows
    else:
        rows = pq.ParquetFile(target).metadata.num_rows
    body = {
        "version": MANIFEST_VERSION,
        "definition": definition_hash(),
        "inputs": digest,
        "asked": asked,
        "months": prints,
        "warnings": warnings,
    }
    text = json.dumps(body, indent=1, sort_keys=True) + "\n"
    manifest_path = out / MANIFEST
    if not manifest_path.is_file() or manifest_path.read_text("utf-8") != text:
        manifest_path.write_text(text, "utf-8")
        written.append(manifest_path.name)
    return IncrementalRun(
        out,
        files,
        rows,
        tuple(prints),
        tuple(changed),
        removed,
        tuple(written),
        warnings,
    )


def events_digest(events_dir: Path) -> str:
    """SHA-256 of every file under the events folder (path and bytes): when it is the
    last run's, nothing can have changed and the folder is not even read again."""
    digest = hashlib.sha256()
    for path in sorted(p for p in events_dir.rglob("*") if p.is_file()):
        name = path.relative_to(events_dir).as_posix().encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _unchanged(out: Path, manifest: dict[str, Any]) -> IncrementalRun | None:
    """The last run's result, when its files are all still in ``out``."""
    import pyarrow.parquet as pq

    files: dict[str, Path] = {}
    for name in ("sites", "claims"):
        found = [
            out / f"{name}{ext}" for ext in (".csv", ".parquet") if (out / f"{name}{ext}").is_file()
        ]
        if len(found) != 1:
            return None
        files[name] = found[0]
    files["site_months"] = out / SITE_MONTHS_FILE
    rows = pq.ParquetFile(files["site_months"]).metadata.num_rows
    warnings = [str(w) for w in manifest.get("warnings", [])]
    months = tuple(sorted(manifest["months"]))
    return IncrementalRun(out, files, rows, months, (), (), (), warnings)


def _aggregate_site_months(events: EventsFolder, stale: dict[str, list[str]]) -> pa.Table:
    """The rows of the given sites and months, from views that hold only the events
    those rows read (their own site-months, the 90-day windows and deadlines of their
    tickets, their sites' workers' first attendance and first own or insurer ticket;
    training records, stages, sites and the months' weather whole)."""
    import pyarrow as pa

    con = events.con
    asked = pa.table(
        {
            "site_id": pa.array([s for m in stale for s in stale[m]], type=pa.string()),
            "m": pa.array([f"{m}-01" for m in stale for _ in stale[m]], type=pa.string()),
        }
    )
    con.register("_stale_site_months", asked)
    con.execute("CREATE SCHEMA IF NOT EXISTS changed_months")
    con.execute(
        "CREATE OR REPLACE TABLE changed_months.asked AS "
        "SELECT site_id, CAST(m AS DATE) AS m FROM _stale_site_months"
    )
    con.unregister("_stale_site_months")
    in_asked = (
        "SELECT x.* FROM main.{table} x SEMI JOIN changed_months.asked c "
        "ON c.site_id = x.site_id AND c.m = CAST(date_trunc('month', x.{column}) AS DATE)"
    )
    sites = "(SELECT site_id FROM changed_months.asked)"
    views = {
        "attendance": (
            in_asked.format(table="attendance", column="date")
            + " UNION SELECT a.* FROM main.attendance a SEMI JOIN (SELECT site_id, worker_id, "
            f"min(date) AS first_day FROM main.attendance WHERE site_id IN {sites} "
            "GROUP BY site_id, worker_id) f "
            "ON a.site_id = f.site_id AND a.worker_id = f.worker_id AND a.date = f.first_day"
        ),
        "video_events": in_asked.format(table="video_events", column="ts"),
        "device_events": in_asked.format(table="device_events", column="ts"),
        "device_days": in_asked.format(table="device_days", column="date"),
        "weather_warnings": (
            "SELECT * FROM main.weather_warnings WHERE CAST(date_trunc('month', date) AS DATE) "
            "IN (SELECT m FROM changed_months.asked)"
        ),
        "hazard_tickets": (
            "SELECT * FROM main.hazard_tickets t WHERE EXISTS (SELECT 1 FROM "
            "changed_months.asked c WHERE c.site_id = t.site_id AND ("
            "(t.deadline >= c.m AND t.deadline <= last_day(c.m)) OR "
            "(t.found_on >= c.m - INTERVAL 89 DAY AND t.found_on <= last_day(c.m)))) "
            "OR t.ticket_id IN (SELECT arg_min(ticket_id, found_on) FROM main.hazard_tickets "
            f"WHERE source IN ('self', 'insurer') AND site_id IN {sites} GROUP BY site_id)"
        ),
    }
    for name, query in views.items():
        con.execute(f"CREATE OR REPLACE VIEW changed_months.{name} AS {query}")
    con.execute("SET search_path = 'changed_months,main'")
    try:
        table = site_months(events, (min(stale), max(stale)))
    finally:
        con.execute("RESET search_path")
    import pyarrow.compute as pc

    keys = pa.array([f"{s}|{m}" for m in stale for s in stale[m]], type=pa.string())
    return table.filter(pc.is_in(_keys(table), value_set=keys))


def _keys(table: pa.Table) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    site, month = (table.column(c).cast(pa.string()) for c in ("site_id", "month"))
    return pc.binary_join_element_wise(site, month, "|")


def _kept_rows(path: Path, same: set[str]) -> pa.Table | None:
    """The written rows of the site-months whose inputs did not change."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    table = pq.read_table(path)
    return table.filter(pc.is_in(_keys(table), value_set=pa.array(sorted(same), type=pa.string())))


def _merge(kept: pa.Table | None, new: pa.Table | None) -> pa.Table:
    import pyarrow as pa

    parts = [t for t in (kept, new) if t is not None]
    assert parts, "a run with no manifest computes every month"
    schema = (new if new is not None else parts[0]).schema
    table = pa.concat_tables([t.cast(schema) for t in parts])
    return table.sort_by([("site_id", "ascending"), ("month", "ascending")]).combine_chunks()
