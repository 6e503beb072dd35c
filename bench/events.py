"""``make bench-events``: a Shanghai-sized month of raw events aggregated into
``site_months`` by DuckDB and by Spark ``local[2]``, on this machine's 2 cores.

The events (``bench/events_data.py``) are generated once into
``$SITERISK_HOME/bench-events`` and reused while their scale is the same. Each engine
runs in a child process of its own: the folder is checked by ``models.events.load``
(DuckDB), then the one SQL definition runs in DuckDB or in Spark (the incremental
manifest's fingerprints of a DuckDB ``siterisk data aggregate`` are left out). The
parent samples the resident memory of the child and of everything it starts (Spark's
JVM included) and reports time per phase and peak memory; then checks that the two
engines wrote the same table. Figures and method: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bench.events_data import Scale, generate
from bench.serve import Memory

if TYPE_CHECKING:
    import psutil

DUCKDB_BUDGET_MB: Final = 4096.0  # issue 20: DuckDB within 4 GB on 2 cores
REL: Final = 1e-12


def _home() -> Path:
    return Path(os.environ.get("SITERISK_HOME", "var"))


class Usage(Memory):
    """Peak memory and CPU seconds of a process tree: the machine is shared, so CPU
    time says more than wall time when others are busy."""

    def __init__(self, root: int) -> None:
        super().__init__(root)
        self.cpu_s: dict[int, float] = {}

    def sample(self) -> None:
        super().sample()
        import psutil

        try:
            root = psutil.Process(self.root)
            procs: list[psutil.Process] = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            self.cpu_s[proc.pid] = times.user + times.system


def _child(engine: str, events: Path, out: Path, driver_memory: str, partitions: int) -> None:
    """Validate and aggregate in this process; print the phases as JSON."""
    import pyarrow.parquet as pq

    from models.events.aggregate import site_months, site_months_schema, site_months_sql
    from models.events.load import load_events

    phases: dict[str, float] = {}
    began = time.perf_counter()
    folder = load_events(events)
    phases["validate_s"] = time.perf_counter() - began
    if engine == "duckdb":
        began = time.perf_counter()
        try:
            table = site_months(folder)
        finally:
            folder.con.close()
        phases["aggregate_s"] = time.perf_counter() - began
    else:
        from models.events.spark_engine import session, spark_site_months

        folder.con.close()
        began = time.perf_counter()
        spark = session("local[2]", shuffle_partitions=partitions, driver_memory=driver_memory)
        phases["jvm_start_s"] = time.perf_counter() - began
        began = time.perf_counter()
        sources = {t: [str(p) for p in files] for t, files in folder.sources.items()}
        try:
            table = spark_site_months(sources, site_months_sql(), site_months_schema(), spark=spark)
        finally:
            spark.stop()
        phases["aggregate_s"] = time.perf_counter() - began
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "site_months.parquet")
    print(json.dumps({"phases": phases, "rows": table.num_rows}))


def _measure(engine: str, events: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.events", "--child", engine, "--events", str(events),
        "--out", str(out), "--spark-driver-memory", args.spark_driver_memory,
        "--shuffle-partitions", str(args.shuffle_partitions),
    ]  # fmt: skip
    began = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        memory = Usage(child.pid)
        with memory.watching():
            stdout, _ = child.communicate()
    seconds = time.perf_counter() - began
    if child.returncode:
        raise SystemExit(f"{engine} failed (exit {child.returncode})")
    report: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    report.update(
        engine=engine,
        wall_s=round(seconds, 1),
        peak_rss_mb=round(memory.peak_total_mb),
        peak_process_mb=round(max(memory.peak_process_mb.values(), default=0.0)),
        cpu_s=round(sum(memory.cpu_s.values()), 1),
        load_average=round(os.getloadavg()[0], 1),
    )
    report["phases"] = {k: round(v, 1) for k, v in report["phases"].items()}
    return report


def differences(a_path: Path, b_path: Path) -> list[str]:
    """Where two site_months tables differ: rows, types, counts, nulls, or floats by
    more than ``REL`` relative."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    a, b = pq.read_table(a_path), pq.read_table(b_path)
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return [f"shape: {a.num_rows} rows {a.schema.names} vs {b.num_rows} rows {b.schema.names}"]
    found: list[str] = []
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if not pa.types.is_floating(a.schema.field(name).type):
            bad = sum(u != v for u, v in zip(x, y, strict=True))
        else:
            bad = sum(
                (u is None) != (v is None)
                or (u is not None and v is not None and not math.isclose(u, v, rel_tol=REL))
                for u, v in zip(x, y, strict=True)
            )
        if bad:
            found.append(f"{name}: {bad} rows differ")
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=Scale.sites)
    parser.add_argument("--attendance", type=int, default=Scale.attendance)
    parser.add_argument("--video-events", type=int, default=Scale.video_events)
    parser.add_argument("--device-events", type=int, default=Scale.device_events)
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--events", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--spark-driver-memory", default="3g")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--child", choices=("duckdb", "spark"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.events, args.out, args.spark_driver_memory,
               args.shuffle_partitions)  # fmt: skip
        return
    scale = Scale(args.sites, args.attendance, args.video_events, args.device_events)
    events = args.events or _home() / "bench-events" / "events"
    results = (args.out or _home() / "bench-events") / "results"
    marker = events / "scale.json"
    generated: dict[str, Any] = {}
    if not marker.exists() or json.loads(marker.read_text())["scale"] != asdict(scale):
        print(f"generating {scale} into {events} ...", flush=True)
        began = time.perf_counter()
        rows = generate(events, scale)
        generated = {"scale": asdict(scale), "rows": rows, "seconds": time.perf_counter() - began}
        marker.write_text(json.dumps(generated))
        print(f"  {generated['seconds']:.1f} s: {rows}", flush=True)
    else:
        generated = json.loads(marker.read_text())
        print(f"reusing {events}: {generated['rows']}", flush=True)
    reports = []
    for engine in args.engines.split(","):
        print(f"{engine}: validating and aggregating ...", flush=True)
        report = _measure(engine, events, results / engine, args)
        reports.append(report)
        print(f"  {json.dumps(report)}", flush=True)
    engines = [r["engine"] for r in reports]
    agree = None
    if {"duckdb", "spark"} <= set(engines):
        diff = differences(
            results / "duckdb" / "site_months.parquet", results / "spark" / "site_months.parquet"
        )
        agree = not diff
        print("engines agree" if agree else f"engines DIFFER: {diff}")
    print()
    print(f"{'engine':8} {'site-months':>11} {'validate s':>10} {'aggregate s':>11} "
          f"{'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'load':>5}")  # fmt: skip
    for r in reports:
        phases = r["phases"]
        print(f"{r['engine']:8} {r['rows']:>11,} {phases['validate_s']:>10} "
              f"{phases['aggregate_s']:>11} {r['wall_s']:>7} {r['cpu_s']:>7} "
              f"{r['peak_rss_mb']:>8,} {r['load_average']:>5}")  # fmt: skip
    summary = {
        "generated": generated,
        "cores": os.cpu_count(),
        "reports": reports,
        "engines_agree": agree,
    }
    (results).mkdir(parents=True, exist_ok=True)
    (results / "bench-events.json").write_text(json.dumps(summary, indent=2))
    for r in reports:
        if r["engine"] == "duckdb" and r["peak_rss_mb"] > DUCKDB_BUDGET_MB:
            raise SystemExit(f"DuckDB peaked at {r['peak_rss_mb']} MB, over {DUCKDB_BUDGET_MB}")
    if agree is False:
        raise SystemExit("the engines wrote different tables")


if __name__ == "__main__":
    main()
