"""The aggregation as a Spark application, for ``spark-submit`` on YARN or Kubernetes.

    spark-submit --master yarn --deploy-mode cluster \\
        --py-files siterisk.zip models/events/spark_job.py \\
        hdfs:///platform/events hdfs:///platform/site_months [--months 2025-01..2025-06]

Spark reads the event tables under ``EVENTS`` (``<table>.parquet``, ``<table>.csv`` or a
directory ``<table>/`` of Parquet parts, on any file system Hadoop reaches: HDFS, S3A,
OSS, a local path) and writes ``site_months`` as Parquet parts under ``OUT``, computed by
the same ``site_months.sql`` as ``siterisk data aggregate``. It checks types (ANSI casts:
a value that does not convert fails the job) but not the other rules of the event
contract, which ``models.events.load`` checks on one machine: validate each day's
delivery with ``siterisk data validate``/``aggregate`` as it arrives
(docs/events-engines.md).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from models.events import spec
from models.events.aggregate import parse_months, site_months_sql
from models.events.spark_engine import configure, register_events, site_months_frame

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def locate(spark: SparkSession, root: str) -> dict[str, list[str]]:
    """Each table the definition reads, found under ``root`` through Hadoop's file
    systems; a table missing or found twice is an error naming it."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    base = root.rstrip("/")
    found: dict[str, list[str]] = {}
    problems: list[str] = []
    for table in ("sites", *spec.TABLES):
        hits = []
        for candidate, want_dir in (
            (f"{base}/{table}.parquet", False),
            (f"{base}/{table}.csv", False),
            (f"{base}/{table}", True),
        ):
            path = jvm.org.apache.hadoop.fs.Path(candidate)
            fs = path.getFileSystem(conf)
            if fs.exists(path) and fs.getFileStatus(path).isDirectory() == want_dir:
                hits.append(candidate)
        if len(hits) != 1:
            problems.append(f"{table}: {'none' if not hits else ' and '.join(hits)} in {root}")
        else:
            found[table] = hits
    if problems:
        raise FileNotFoundError(
            "each table once as .parquet, .csv or a folder: " + "; ".join(problems)
        )
    return found


def run(
    spark: SparkSession,
    events: str,
    out: str,
    months: tuple[str | None, str | None] | None = None,
) -> int:
    """Aggregate ``events`` into Parquet parts under ``out``; return the site-months."""
    configure(spark)
    register_events(spark, locate(spark, events))
    frame = site_months_frame(spark, site_months_sql(), months).cache()
    try:
        frame.write.mode("overwrite").parquet(out)
        return frame.count()
    finally:
        frame.unpersist()


def main(argv: list[str] | None = None) -> None:
    from pyspark.sql import SparkSession

    parser = argparse.ArgumentParser(description="site_months from an events folder, by Spark")
    parser.add_argument("events", help="folder (URI) of the event tables")
    parser.add_argument("out", help="folder (URI) to write site_months into, as Parquet parts")
    parser.add_argument("--months", default=None, help="FROM..TO, YYYY-MM, either end open")
    args = parser.parse_args(argv)
    months = parse_months(args.months) if args.months else None
    # spark-submit gives the master and the resources; nothing is set here but the SQL's
    spark = SparkSession.builder.appName("siterisk-aggregate").getOrCreate()
    rows = run(spark, args.events, args.out, months)
    print(f"wrote {rows} site-months to {args.out}")


if __name__ == "__main__":
    main()
