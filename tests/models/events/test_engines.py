"""DuckDB and Spark run the one definition and agree (issue 20, "Engines agree").

One generated events folder, seeded, holds every case the issue names: nulls, month
boundaries, workers who move between sites, tickets rectified in a later month, devices
registered mid-month, a site with no camera. Each engine aggregates it; the tables must
have the same rows, equal counts and nulls, and shares and sums within 1e-12 relative.
The test first checks that the folder and DuckDB's answer really hold those cases, so
it cannot pass on a folder that lost one.

Spark runs in one local[2] session for the whole test session (one JVM start). Without
Java or pyspark these tests skip, except under CI or make (``SITERISK_REQUIRE_SPARK=1``,
which `make unit` sets after scripts/ensure-java), where they fail.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from events_helpers import Rows, baseline, days, site, write
from typer.testing import CliRunner

from models.contract import ContractError, load_folder
from models.events.aggregate import aggregate_folder, site_months_schema, site_months_sql
from models.events.spark_dialect import REWRITES, DialectError, to_spark, without_comments

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.xdist_group("spark")

REL: float = 1e-12

# --- the Spark session -----------------------------------------------------------------


def _spark_required() -> bool:
    return (
        os.environ.get("CI", "").strip().lower() == "true"
        or os.environ.get("SITERISK_REQUIRE_SPARK", "").strip() == "1"
    )


def _missing(reason: str) -> None:
    how = "run 'make java' (apt-get install openjdk-17-jre-headless) and pip install '.[spark]'"
    if _spark_required():
        pytest.fail(f"{reason} but the Spark tests are required: {how}", pytrace=False)
    pytest.skip(f"{reason}: {how}")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local[2] session for every Spark test: a JVM start costs seconds."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        _missing("no java found")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _missing("the pyspark package is not installed")
    from models.events.spark_engine import session

    started = session("local[2]", shuffle_partitions=2)
    try:
        yield started
    finally:
        started.stop()


# --- a generated events folder -----------------------------------------------------------

START = dt.date(2024, 11, 20)
END = dt.date(2025, 3, 10)


def _day(rng: random.Random, first: dt.date = START, last: dt.date = END) -> dt.date:
    return first + dt.timedelta(rng.randrange((last - first).days + 1))


def _stamp(day: dt.date, rng: random.Random) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=rng.randrange(86400))


def generated_events(seed: int = 20) -> Rows:
    """Twelve sites over four calendar months (late November to early March)."""
    rng = random.Random(seed)
    ids = [f"S{n:02d}" for n in range(1, 13)]
    rows: Rows = {t: [] for t in baseline()}
    districts = ("pudong", "minhang", "jingan")
    for n, s in enumerate(ids):
        rows["sites"].append(
            site(s, district=districts[n % 3], tower_cranes=n % 3, hazardous_works=(n + 1) % 2)
        )
        # stages: one to three periods, the first possibly after the events begin
        starts = sorted(
            {_day(rng, START - dt.timedelta(60), END) for _ in range(rng.randint(1, 3))}
        )
        stages = ("foundation", "structure", "finishing", "civil")
        rows["site_stages"] += [
            {"site_id": s, "stage": rng.choice(stages), "from_date": str(d)} for d in starts
        ]
    # workers: stints at one site after another (they move), attending most days
    for w in range(60):
        worker = f"W{w:03d}"
        day = _day(rng, START, START + dt.timedelta(40))
        while day <= END:
            s = rng.choice(ids[:-1])  # S12 has no workers before its single stint below
            length = rng.randint(3, 45)
            for k in range(length):
                d = day + dt.timedelta(k)
                if d <= END and rng.random() < 0.8:
                    hours = round(rng.uniform(0.5, 11.0), rng.choice((1, 2, 3)))
                    rows["attendance"].append(
                        {"site_id": s, "worker_id": worker, "date": str(d), "hours": hours}
                    )
            day += dt.timedelta(length + rng.randint(0, 10))
        if rng.random() < 0.6:
            done = _day(rng, START - dt.timedelta(200), END)
            rows["training_records"].append(
                {
                    "worker_id": worker,
                    "site_id": rng.choice(ids),
                    "completed_on": str(done),
                    "valid_until": str(done + dt.timedelta(rng.randint(0, 120))),
                }
            )
    # S12: one worker in January only, without any training record: a quiet site-month
    rows["attendance"] += days("S12", "Q1", "2025-01-06", "2025-01-09", hours=7.5)
    rows["attendance"] = list(
        {(r["site_id"], r["worker_id"], r["date"]): r for r in rows["attendance"]}.values()
    )
    # devices: S01-S08 get a camera, registered mid-month for some; S09-S12 have none
    for n, s in enumerate(ids):
        kinds = ["attendance_gate"]
        if n < 8:
            kinds.append("camera")
        if n % 3:
            kinds.append("crane_monitor")
        if n % 2 == 0:
            kinds.append("structural_monitor")
        for kind in kinds:
            first = _day(rng, START, START + dt.timedelta(70))
            for k in range((END - first).days + 1):
                d = first + dt.timedelta(k)
                if rng.random() < 0.9:
                    minutes = rng.choice((0, 1440, rng.randrange(1441)))
                    rows["device_days"].append(
                        {"site_id": s, "device_id": f"{s}-{kind}", "date": str(d),
                         "kind": kind, "online_minutes": minutes}
                    )  # fmt: skip
    # alerts, including S09-S11 (no camera: counts null, a closure rate all the same)
    # and alerts straddling a month's end
    for e in range(400):
        s = rng.choice(ids[:-1])  # S12 has none: its closure rate is null
        ts = _stamp(_day(rng), rng)
        late = rng.choice((None, 0.5, 23.9, 24.0, 24.01, 30.0, 200.0))
        closed = None if late is None else ts + dt.timedelta(hours=late)
        rows["video_events"].append(
            {"event_id": f"V{e}", "site_id": s, "device_id": f"{s}-camera",
             "ts": ts.isoformat(sep="T"), "kind": rng.choice(("ppe", "intrusion", "fire")),
             "closed_at": None if closed is None else closed.isoformat(sep="T")}
        )  # fmt: skip
    rows["video_events"].append(
        {"event_id": "V-edge", "site_id": "S01", "device_id": "S01-camera",
         "ts": "2025-01-31T23:30:00", "kind": "ppe", "closed_at": "2025-02-01T23:30:00"}
    )  # fmt: skip
    # tickets: some found before the events begin (the 90-day window), due and rectified
    # in later months, some never rectified; S10 and S12 get none of their own
    for t in range(250):
        s = rng.choice(ids[:9])
        found = _day(rng, START - dt.timedelta(100), END)
        deadline = found + dt.timedelta(rng.randint(0, 45))
        fixed = rng.choice((None, 0, 5, 20, 60))
        rows["hazard_tickets"].append(
            {"ticket_id": f"T{t}", "site_id": s, "found_on": str(found),
             "source": rng.choice(("self", "self", "insurer", "government")),
             "level": rng.choice(("general", "general", "major")), "deadline": str(deadline),
             "rectified_on": None if fixed is None else str(found + dt.timedelta(fixed))}
        )  # fmt: skip
    rows["hazard_tickets"].append(
        {"ticket_id": "T-gov", "site_id": "S10", "found_on": "2025-01-10",
         "source": "government", "level": "major", "deadline": "2025-02-10",
         "rectified_on": "2025-02-03"}
    )  # fmt: skip
    kinds = ("crane_overload", "crane_collision", "crane_wind", "deep_excavation", "high_formwork")
    for e in range(300):
        s = rng.choice(ids)
        rows["device_events"].append(
            {"event_id": f"D{e}", "site_id": s, "device_id": f"{s}-monitor",
             "ts": _stamp(_day(rng), rng).isoformat(sep="T"), "kind": rng.choice(kinds)}
        )  # fmt: skip
    for _ in range(40):
        rows["weather_warnings"].append(
            {"district": rng.choice(districts), "date": str(_day(rng)),
             "kind": rng.choice(("typhoon", "rainstorm", "heat"))}
        )  # fmt: skip
    return rows


def _holds_every_case(rows: Rows, table: pa.Table) -> None:
    """The folder and its monthly table hold each case the issue names."""
    sites_of: dict[str, set[str]] = {}
    for r in rows["attendance"]:
        sites_of.setdefault(r["worker_id"], set()).add(r["site_id"])
    assert sum(len(s) > 1 for s in sites_of.values()) >= 10, "workers who move"
    later = [
        t for t in rows["hazard_tickets"]
        if t["rectified_on"] and t["rectified_on"][:7] > t["found_on"][:7]
    ]  # fmt: skip
    assert len(later) >= 10, "tickets rectified in a later month"
    first_device = {}
    for r in sorted(rows["device_days"], key=lambda r: r["date"]):
        first_device.setdefault(r["device_id"], r["date"])
    assert any(d[8:] != "01" and d > "2024-12" for d in first_device.values()), "mid-month"
    records = table.to_pylist()
    months = {r["month"] for r in records}
    assert {"2024-11", "2024-12", "2025-01", "2025-02", "2025-03"} <= months, months
    by_site = {r["site_id"] for r in records if r["ai_alerts_ppe"] is None}
    assert {"S09", "S10", "S11"} <= by_site, "sites with no camera"
    assert any(r["ai_alerts_ppe"] is not None for r in records)
    for column in table.column_names:
        values = table.column(column).to_pylist()
        if column in ("site_id", "month", "stage", "inspection_violations", "severe_weather_days"):
            continue
        if column in ("worker_hours", "avg_daily_workers", "new_worker_share", "data_completeness"):
            continue
        assert None in values, f"no null in {column}"
        assert any(v is not None for v in values), f"only nulls in {column}"


def assert_same_table(duck: pa.Table, other: pa.Table) -> None:
    """Equal rows, types, counts and nulls; floats within ``REL`` relative."""
    assert other.schema == duck.schema
    assert other.num_rows == duck.num_rows
    for name in duck.column_names:
        a, b = duck.column(name).to_pylist(), other.column(name).to_pylist()
        if not pa.types.is_floating(duck.schema.field(name).type):
            assert a == b, name
            continue
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            if x is None or y is None:
                assert x is y, (name, n, x, y)
            else:
                assert math.isclose(x, y, rel_tol=REL, abs_tol=0.0), (name, n, x, y)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rows, Path]:
    rows = generated_events()
    return rows, write(tmp_path_factory.mktemp("generated") / "events", rows)


def _table(path: Path) -> pa.Table:
    return pq.read_table(path / "site_months.parquet")


# --- the dialect -------------------------------------------------------------------------


def test_every_rewrite_applies_and_nothing_duckdb_only_is_left() -> None:
    sql = site_months_sql()
    for rewrite in REWRITES:
        assert rewrite.duckdb in without_comments(sql), rewrite
    spark_sql = to_spark(sql)
    assert "date_diff(" not in spark_sql
    assert spark_sql.count("datediff(DAY, ") == without_comments(sql).count("date_diff('day', ")
    # outside the rewrites the text is the same: one definition, not a second copy
    back = spark_sql
    for rewrite in REWRITES:
        back = back.replace(rewrite.spark, rewrite.duckdb)
    assert back == without_comments(sql)


@pytest.mark.parametrize(
    ("snippet", "named"),
    [
        ("SELECT x::DATE FROM t", "::"),
        ('SELECT "date" FROM t', "double-quoted"),
        ("SELECT strftime(m, '%Y-%m') FROM t", "strftime"),
        ("SELECT date_diff('month', a, b) FROM t", "date_diff"),
        ("SELECT 1 FROM t WHERE k LIKE 'a\\_%' ESCAPE '\\'", "ESCAPE"),
        ("SELECT * FROM a UNION ALL BY NAME SELECT * FROM b", "DuckDB-only clause"),
    ],
)
def test_duckdb_only_constructs_are_refused_by_name(snippet: str, named: str) -> None:
    with pytest.raises(DialectError, match=named):
        to_spark(snippet)


def test_comments_may_say_anything() -> None:
    assert to_spark('SELECT 1 -- "quoted" strftime ::\n') == "SELECT 1 \n"


# --- the engines agree -------------------------------------------------------------------


def test_duckdb_and_spark_agree_on_a_generated_folder(
    spark: SparkSession, generated: tuple[Rows, Path], tmp_path: Path
) -> None:
    rows, events = generated
    duck = aggregate_folder(events, tmp_path / "duckdb")
    _holds_every_case(rows, _table(duck.out))
    other = aggregate_folder(events, tmp_path / "spark", engine="spark", spark=spark)
    assert other.rows == duck.rows
    assert other.months == duck.months
    assert_same_table(_table(duck.out), _table(other.out))
    assert _table(duck.out).schema == site_months_schema()
    # the Spark run's folder is a contract folder too, with sites and claims as they were
    assert (tmp_path / "spark" / "sites.csv").read_bytes() == (events / "sites.csv").read_bytes()
    assert len(load_folder(other.out).site_months) == duck.rows


def test_months_asked_for_still_read_every_event(
    spark: SparkSession, generated: tuple[Rows, Path], tmp_path: Path
) -> None:
    _, events = generated
    months = ("2025-01", "2025-02")
    duck = aggregate_folder(events, tmp_path / "d", months=months)
    other = aggregate_folder(events, tmp_path / "s", engine="spark", months=months, spark=spark)
    assert duck.months == other.months == months
    assert_same_table(_table(duck.out), _table(other.out))
    # the same rows as in the whole run: first attendance and the look-backs saw December
    whole = _table(aggregate_folder(events, tmp_path / "all").out).to_pylist()
    assert _table(other.out).to_pylist() == [r for r in whole if r["month"] in months]


def test_spark_reads_parquet_parts_and_instants_on_the_shanghai_clock(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Attendance as a directory of Parquet parts, alerts with Parquet instants (UTC
    adjusted, as Spark writes them): the same months and 24-hour closures as text."""
    rows = baseline()
    rows["attendance"] += days("S1", "W2", "2025-03-31", "2025-04-02")
    rows["device_days"] = [
        {"site_id": "S1", "device_id": "C", "date": "2025-03-20", "kind": "camera",
         "online_minutes": 1440},
        {"site_id": "S1", "device_id": "C", "date": "2025-04-01", "kind": "camera",
         "online_minutes": 600},
    ]  # fmt: skip
    # 2025-03-31 23:30 Shanghai is 15:30 UTC: on the UTC clock it would be March either
    # way, but 2025-04-01 00:30 Shanghai is March 31 16:30 UTC, a different month
    rows["video_events"] = [
        {"event_id": "A", "site_id": "S1", "device_id": "C", "ts": "2025-04-01T00:30:00",
         "kind": "fire", "closed_at": "2025-04-02T00:30:00"},
        {"event_id": "B", "site_id": "S1", "device_id": "C", "ts": "2025-03-31T23:30:00",
         "kind": "ppe", "closed_at": None},
    ]  # fmt: skip
    text = write(tmp_path / "text", rows)
    parquet = write(tmp_path / "parquet", {k: v for k, v in rows.items() if k not in (
        "attendance", "video_events")})  # fmt: skip
    shanghai = dt.timezone(dt.timedelta(hours=8))
    instants = pa.table(
        {
            "event_id": ["A", "B"],
            "site_id": ["S1", "S1"],
            "device_id": ["C", "C"],
            "ts": pa.array(
                [dt.datetime(2025, 4, 1, 0, 30, tzinfo=shanghai),
                 dt.datetime(2025, 3, 31, 23, 30, tzinfo=shanghai)],
                pa.timestamp("us", tz="UTC"),
            ),
            "kind": ["fire", "ppe"],
            "closed_at": pa.array(
                [dt.datetime(2025, 4, 2, 0, 30, tzinfo=shanghai), None],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )  # fmt: skip
    pq.write_table(instants, parquet / "video_events.parquet")
    (parquet / "attendance").mkdir()
    attendance = pa.Table.from_pylist(rows["attendance"]).cast(
        pa.schema([("site_id", pa.string()), ("worker_id", pa.string()),
                   ("date", pa.date32()), ("hours", pa.float64())])
    )  # fmt: skip
    half = attendance.num_rows // 2
    pq.write_table(attendance.slice(0, half), parquet / "attendance" / "part-0.parquet")
    pq.write_table(attendance.slice(half), parquet / "attendance" / "part-1.parquet")
    (parquet / "attendance" / "_SUCCESS").write_text("")
    duck = _table(aggregate_folder(text, tmp_path / "d").out)
    got = _table(aggregate_folder(parquet, tmp_path / "s", engine="spark", spark=spark).out)
    assert_same_table(duck, got)
    april = next(r for r in got.to_pylist() if r["month"] == "2025-04")
    assert (april["ai_alerts_fire"], april["ai_alerts_ppe"], april["alert_closure_rate"]) == (
        1, 0, 1.0,
    )  # fmt: skip


def test_pyspark_installed_leaves_pyarrow_time_zones_alone() -> None:
    """pandera sets PYARROW_IGNORE_TIMEZONE=1 on import when pyspark is installed, which
    makes pyarrow drop the zone of aware datetimes; models/__init__.py keeps it empty."""
    import models.contract  # noqa: F401  (imports pandera)

    assert not os.environ.get("PYARROW_IGNORE_TIMEZONE")
    noon = dt.datetime(2025, 4, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    stored = pa.array([noon], pa.timestamp("us", tz="UTC"))
    assert stored.to_pylist()[0] == noon


def test_spark_checks_the_folder_first_and_writes_nothing_when_broken(tmp_path: Path) -> None:
    # no session needed: the validator of models/events/load.py refuses before Spark runs
    rows = baseline()
    rows["attendance"][2]["date"] = "2025-02-30"
    with pytest.raises(ContractError, match=r"attendance.csv row 3 .* date"):
        aggregate_folder(write(tmp_path / "e", rows), tmp_path / "out", engine="spark")
    assert not (tmp_path / "out").exists()


def test_the_cli_runs_spark(spark: SparkSession, tmp_path: Path) -> None:
    from training.cli import app

    rows = baseline()
    rows["attendance"] += days("S1", "W2", "2025-04-01", "2025-04-03")
    events = write(tmp_path / "events", rows)
    result = CliRunner().invoke(
        app, ["data", "aggregate", str(events), "--out", str(tmp_path / "o"),
              "--engine", "spark", "--months", "2025-04"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "✓ wrote 1 site-months (2025-04..2025-04)" in result.output
    assert "(spark, " in result.output
    assert [r["worker_hours"] for r in _table(tmp_path / "o").to_pylist()] == [24.0]
    # the CLI used the session it found and left it running for the other tests
    assert spark.sparkContext._jsc is not None


# --- spark-submit ------------------------------------------------------------------------


def test_the_spark_submit_job_writes_the_same_table(
    spark: SparkSession, generated: tuple[Rows, Path], tmp_path: Path
) -> None:
    from models.events.spark_job import run

    _, events = generated
    duck = _table(aggregate_folder(events, tmp_path / "duckdb").out)
    rows = run(spark, str(events), str(tmp_path / "site_months"))
    assert rows == duck.num_rows
    parts = pq.read_table(tmp_path / "site_months")
    got = parts.select(duck.schema.names).cast(duck.schema)
    assert_same_table(duck, got.sort_by([("site_id", "ascending"), ("month", "ascending")]))


def test_the_job_names_tables_missing_or_found_twice(spark: SparkSession, tmp_path: Path) -> None:
    from models.events.spark_job import locate

    events = write(tmp_path / "events", baseline())
    (events / "device_days.csv").unlink()
    (events / "attendance").mkdir()
    with pytest.raises(FileNotFoundError) as raised:
        locate(spark, str(events))
    message = str(raised.value)
    assert "device_days: none" in message
    assert "attendance.csv and " in message
    assert "video_events" not in message
