"""Contract frames to database rows and back, and the hash that tells a re-sent row
from a corrected one.

Frames come from the contract loader, so every table always has the same dtypes
(:class:`models.contract.ContractData`); a row's hash is computed from those, so the
same values hash alike whether they came as CSV, Parquet or JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy.engine import RowMapping

from models.contract import empty_frame, spec

KEYS: Final[dict[str, tuple[str, ...]]] = {
    "sites": ("site_id",),
    "site_months": ("site_id", "month"),
    "claims": ("insurer_id", "claim_id"),
}
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    table: tuple(c.name for c in spec.columns(table)) for table in spec.TABLES
}
# v1.1 columns the store keeps beside the v1 ones (docs/contract-incentives.md): a row
# without them hashes as it did under v1, so re-sent v1 data stays unchanged.
STORED_OPTIONAL: Final[dict[str, tuple[str, ...]]] = {
    table: tuple(c.name for c in spec.OPTIONAL[table]) for table in spec.TABLES
}


def row_hashes(frame: pd.DataFrame, table: str) -> list[str]:
    """A 64-bit hash of each row's contract values, as 16 hex digits."""
    if frame.empty:
        return []
    hashed = pd.util.hash_pandas_object(frame[list(COLUMNS[table])], index=False)
    digests = hashed.to_numpy(np.uint64)
    extra = [name for name in STORED_OPTIONAL[table] if name in frame.columns]
    if extra:
        given = frame[extra].notna().any(axis=1).to_numpy()
        if given.any():
            wider = pd.util.hash_pandas_object(frame[[*COLUMNS[table], *extra]], index=False)
            digests = np.where(given, wider.to_numpy(np.uint64), digests)
    return [f"{int(h):016x}" for h in digests]


def _python(values: pd.Series[Any], kind: str) -> list[Any]:
    """A column as Python values the database drivers take; missing as None."""
    if kind == "date":
        return [None if pd.isna(v) else v.date() for v in values]
    if kind == "float":
        out: list[Any] = values.to_numpy(np.float64).tolist()
        return [None if v != v else v for v in out]
    return [None if v is pd.NA or v is None else v for v in values.tolist()]


def to_columns(frame: pd.DataFrame, table: str) -> dict[str, list[Any]]:
    """The frame's contract columns as lists of Python values (missing as None)."""
    kinds = {c.name: c.kind for c in spec.columns(table, optional=True)}
    names = [*COLUMNS[table], *(n for n in STORED_OPTIONAL[table] if n in frame.columns)]
    return {name: _python(frame[name], kinds[name]) for name in names}


def records_frame(records: Sequence[Sequence[Any]], table: str) -> pd.DataFrame:
    """Tuples of the contract columns, in the contract's order, as a frame with the
    contract loader's dtypes."""
    names = list(COLUMNS[table])
    empty = empty_frame(table)
    if not records:
        return empty
    raw = pd.DataFrame.from_records(list(map(tuple, records)), columns=names)
    out: dict[str, Any] = {}
    for name in names:
        dtype = empty[name].dtype
        column = raw[name]
        if str(dtype).startswith("datetime64"):
            out[name] = pd.to_datetime(column).astype(dtype)
        elif str(dtype) == "Int64":
            out[name] = pd.Series(column.tolist(), dtype="Int64")
        else:
            out[name] = column.astype(dtype)
    return pd.DataFrame(out)


def json_value(value: Any) -> Any:
    """A stored value as JSON: dates as ISO text, everything else as is."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def contract_dict(row: Mapping[str, Any] | RowMapping, table: str) -> dict[str, Any]:
    """The contract columns of a stored row, as JSON values."""
    return {name: json_value(row[name]) for name in COLUMNS[table]}


def chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
