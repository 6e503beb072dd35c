"""Write a synthetic world as a contract folder (``sites``, ``site_months``,
``claims``) plus ``truth``, all as CSV or all as Parquet.

Both writers are byte-stable: the same world always gives the same files, so a
seed identifies a data set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models.contract import spec
from training.synth.world import World

Format = Literal["csv", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "parquet")
TRUTH_TABLE = "truth"


def _date_columns(table: str) -> list[str]:
    return [c.name for c in spec.columns(table) if c.kind == "date"] if table in spec.TABLES else []


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, date_format="%Y-%m-%d", lineterminator="\n")


def _write_parquet(frame: pd.DataFrame, path: Path, table: str) -> None:
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    # Contract dates are calendar days: store them as date32, not timestamps.
    for name in _date_columns(table):
        index = arrow.schema.get_field_index(name)
        arrow = arrow.set_column(index, name, arrow.column(name).cast(pa.date32()))
    pq.write_table(arrow, path, compression="zstd")


def write_world(world: World, out: Path, fmt: Format = "csv") -> list[Path]:
    """Write the world's four tables into ``out`` (created if missing) and
    return the written paths, contract tables first."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "sites": world.sites,
        "site_months": world.site_months,
        "claims": world.claims,
        TRUTH_TABLE: world.truth,
    }
    return [write_frame(frame, out, name, fmt) for name, frame in tables.items()]


def write_frame(frame: pd.DataFrame, out: Path, name: str, fmt: Format) -> Path:
    """Write one table as ``out/<name>.<fmt>`` the way :func:`write_world` does."""
    path = out / f"{name}.{fmt}"
    if fmt == "csv":
        _write_csv(frame, path)
    else:
        _write_parquet(frame, path, name)
    return path
