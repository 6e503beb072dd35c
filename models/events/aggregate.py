"""Events to the monthly contract folder: ``site_months`` computed by the one SQL
definition (``site_months.sql``), ``sites`` and ``claims`` passed through.

The SQL reads the whole events folder and the months asked for are filtered from its
answer, so every look-back (first attendance, training validity, the 90-day hazards
window, tickets due later) sees every event whatever months are asked for.

Two engines run it: DuckDB, embedded, by default; Apache Spark SQL (``spark``, see
:mod:`models.events.spark_engine`) for the city and beyond. Either way the folder is
checked first by :mod:`models.events.load`, and both write the same table
(docs/events-engines.md).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

from models.contract import spec as contract_spec
from models.contract.problems import DEFAULT_MAX_PROBLEMS
from models.events.load import EventsFolder, load_events

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

ENGINES: Final = ("duckdb", "spark")
_MONTH: Final = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def site_months_sql() -> str:
    """The aggregation, as the engines run it."""
    return resources.files("models.events").joinpath("site_months.sql").read_text("utf-8")


def site_months_schema() -> pa.Schema:
    """The Arrow types of ``site_months`` as both engines write it."""
    import pyarrow as pa

    types = {"str": pa.string(), "month": pa.string(), "float": pa.float64(), "int": pa.int64()}
    return pa.schema([(c.name, types[c.kind]) for c in contract_spec.SITE_MONTHS])


def parse_months(text: str) -> tuple[str | None, str | None]:
    """``FROM..TO``, ``FROM..``, ``..TO`` or one ``YYYY-MM``, both ends included."""
    first, sep, last = text.partition("..")
    if not sep:
        last = first
    bounds = (first.strip() or None, last.strip() or None)
    for b in bounds:
        if b is not None and not _MONTH.match(b):
            raise ValueError(f"{b!r} is not a month written YYYY-MM (expected FROM..TO)")
    if bounds[0] and bounds[1] and bounds[0] > bounds[1]:
        raise ValueError(f"{text!r}: the first month is after the last")
    if bounds == (None, None):
        raise ValueError("give at least one month: FROM..TO, FROM.. or ..TO")
    return bounds


def site_months(
    events: EventsFolder, months: tuple[str | None, str | None] | None = None
) -> pa.Table:
    """The monthly table of a checked events folder, ordered by site and month."""
    first, last = months or (None, None)
    query = (
        f"SELECT * FROM ({site_months_sql()}) AS sm "
        "WHERE (? IS NULL OR month >= ?) AND (? IS NULL OR month <= ?) "
        "ORDER BY site_id, month"
    )
    table = events.con.sql(query, params=[first, first, last, last]).to_arrow_table()
    expected = [c.name for c in contract_spec.SITE_MONTHS]
    assert table.column_names == expected, table.column_names
    return table


@dataclass(frozen=True)
class Aggregated:
    """What ``aggregate_folder`` wrote."""

    out: Path
    files: dict[str, Path]
    rows: int
    months: tuple[str, ...]
    warnings: list[str]


def aggregate_folder(
    events_dir: Path,
    out: Path,
    *,
    engine: str = "duckdb",
    months: tuple[str | None, str | None] | None = None,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    spark: SparkSession | None = None,
) -> Aggregated:
    """Check ``events_dir`` and write ``sites``, ``site_months`` (Parquet) and
    ``claims`` into ``out``; raise :class:`~models.contract.ContractError` when the
    events break their contract (nothing is written then). ``engine`` runs the SQL;
    Spark runs in ``spark`` when given (or already active), else in a local session."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    events = load_events(Path(events_dir), max_problems=max_problems)
    try:
        if engine == "duckdb":
            table = site_months(events, months)
    finally:
        events.con.close()
    if engine == "spark":
        from models.events.spark_engine import spark_site_months

        sources = {t: [str(p) for p in files] for t, files in events.sources.items()}
        table = spark_site_months(
            sources, site_months_sql(), site_months_schema(), months, spark=spark
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name in contract_spec.TABLES:
        for ext in (".csv", ".parquet"):
            (out / f"{name}{ext}").unlink(missing_ok=True)
    for name in ("sites", "claims"):
        source = events.sources[name][0]
        target = out / f"{name}{source.suffix}"
        shutil.copyfile(source, target)
        files[name] = target
    target = out / "site_months.parquet"
    pq.write_table(table, target)
    files["site_months"] = target
    found = sorted(set(pc.unique(table.column("month")).to_pylist()))
    return Aggregated(out, files, table.num_rows, tuple(found), events.warnings)
