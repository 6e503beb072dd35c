"""``site_months.sql`` run by Apache Spark SQL (``--engine spark``).

Spark reads the event files itself (CSV with a header, Parquet files or directories of
Parquet parts), types every column as the event contract says with ANSI casts (a value
that does not convert fails the job; it never becomes a silent null), and runs the one
definition after the mechanical rewrite of :mod:`models.events.spark_dialect`.
Timestamps become ``TIMESTAMP_NTZ`` on the Asia/Shanghai wall clock: text as written, a
Parquet instant shown on the Shanghai clock, as :mod:`models.events.load` reads them.

``siterisk data aggregate --engine spark`` checks the folder with
:mod:`models.events.load` first (as for DuckDB) and hands Spark the files it found; the
cluster entry point, :mod:`models.events.spark_job`, gives Spark URIs instead
(docs/events-engines.md says what it checks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

from models.contract import spec as contract_spec
from models.events import spec
from models.events.load import TIME_ZONE
from models.events.spark_dialect import to_spark

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

# Set on every session the aggregation runs in, ours or the caller's: they decide what
# the SQL means (the wall clock, failing casts), so they are not left to defaults.
SQL_CONF: Final = {
    "spark.sql.session.timeZone": TIME_ZONE,
    "spark.sql.ansi.enabled": "true",
}
# Tables and columns the definition reads from ``sites`` (the rest is passed through).
SITE_COLUMNS: Final = ("site_id", "district", "tower_cranes", "hazardous_works")
_CAST: Final = {
    "str": "CAST({c} AS STRING)",
    "float": "CAST({c} AS DOUBLE)",
    # "5" and "5.0" are both a whole number to the validator
    "int": "CAST(CAST({c} AS DOUBLE) AS BIGINT)",
    "date": "CAST({c} AS DATE)",
    "timestamp": "CAST({c} AS TIMESTAMP_NTZ)",
}


def session(
    master: str = "local[2]",
    *,
    shuffle_partitions: int = 4,
    driver_memory: str | None = None,
    app_name: str = "siterisk-aggregate",
) -> SparkSession:
    """A Spark session for the aggregation: no UI, few shuffle partitions (a local run
    holds a few thousand site-months), the contract's SQL settings."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    )
    if master.startswith("local"):
        # a local run talks to itself only: never bind to a network interface
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    if driver_memory is not None:
        builder = builder.config("spark.driver.memory", driver_memory)
    for key, value in SQL_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def configure(spark: SparkSession) -> None:
    """Put the contract's SQL settings on a session made elsewhere (spark-submit)."""
    for key, value in SQL_CONF.items():
        spark.conf.set(key, value)


def _columns(table: str) -> tuple[tuple[str, str], ...]:
    if table == "sites":
        kinds = {c.name: c.kind for c in contract_spec.SITES}
        return tuple((name, kinds[name]) for name in SITE_COLUMNS)
    return tuple((c.name, c.kind) for c in spec.TABLES[table])


def read_table(spark: SparkSession, table: str, paths: Sequence[str]) -> DataFrame:
    """One table as the contract types it, from CSV files (header row, every cell read
    as text, empty cells null) or Parquet files and directories of parts."""
    if all(str(p).endswith(".csv") for p in paths):
        raw = (
            spark.read.option("header", "true")
            .option("inferSchema", "false")
            .option("encoding", "UTF-8")
            .option("mode", "FAILFAST")
            .csv([str(p) for p in paths])
        )
    else:
        raw = (
            spark.read.option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "*.parquet")
            .parquet(*[str(p) for p in paths])
        )
    return raw.selectExpr(
        *(f"{_CAST[kind].format(c=f'`{name}`')} AS {name}" for name, kind in _columns(table))
    )


def register_events(spark: SparkSession, sources: Mapping[str, Sequence[str]]) -> None:
    """Every table the definition reads as a temporary view named as the table."""
    for table in ("sites", *spec.TABLES):
        read_table(spark, table, sources[table]).createOrReplaceTempView(table)


def site_months_frame(
    spark: SparkSession,
    sql: str,
    months: tuple[str | None, str | None] | None = None,
) -> DataFrame:
    """The definition's answer over the registered views, only the months asked for
    (every event is still read: the look-backs see the whole folder)."""
    from pyspark.sql import functions

    frame = spark.sql(to_spark(sql))
    first, last = months or (None, None)
    if first is not None:
        frame = frame.where(functions.col("month") >= first)
    if last is not None:
        frame = frame.where(functions.col("month") <= last)
    return frame


def to_arrow(frame: DataFrame, schema: pa.Schema) -> pa.Table:
    """The (small) monthly table on the driver, typed as the DuckDB engine types it and
    ordered by site and month."""
    table = frame.toArrow()
    return (
        table.select(schema.names)
        .cast(schema)
        .sort_by([("site_id", "ascending"), ("month", "ascending")])
    )


def spark_site_months(
    sources: Mapping[str, Sequence[str]],
    sql: str,
    schema: pa.Schema,
    months: tuple[str | None, str | None] | None = None,
    *,
    spark: SparkSession | None = None,
) -> pa.Table:
    """The monthly table of the event files ``sources`` (table → files), computed by
    Spark: in ``spark`` if given or already active, else in a local[2] session that is
    stopped afterwards."""
    from pyspark.sql import SparkSession

    given = spark or SparkSession.getActiveSession()
    active = given or session()
    try:
        configure(active)
        register_events(active, sources)
        return to_arrow(site_months_frame(active, sql, months), schema)
    finally:
        if given is None:
            active.stop()
