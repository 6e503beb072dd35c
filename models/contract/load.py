"""Read a contract folder (or frames that came as JSON) into checked, typed frames.

Everything is read and checked before anything is returned: a folder that breaks
the contract raises :class:`ContractError` listing every problem found (capped,
with a count of the rest), so nothing is ever half-loaded.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from models.contract import spec
from models.contract.checks import (
    DATE_DTYPE,
    STRING_DTYPE,
    RawTable,
    check_header,
    check_tables,
    parse_header_line,
)
from models.contract.problems import (
    DEFAULT_MAX_PROBLEMS,
    ContractError,
    Problem,
    ProblemCollector,
)

FORMATS: Final = (".parquet", ".csv")
_HEADER_BYTES: Final = 1 << 20
_SCAN_BYTES: Final = 1 << 23


@dataclass(frozen=True)
class ContractData:
    """The three tables, checked and typed, and where they came from.

    Strings are pandas strings, dates ``datetime64[us]`` at midnight, ``month`` stays a
    ``YYYY-MM`` string, counts are ``Int64`` where the contract lets them be empty
    (``int64`` otherwise) and measures ``float64``. An empty sensor value stays
    missing: it means "not reported", never zero.
    """

    sites: pd.DataFrame
    site_months: pd.DataFrame
    claims: pd.DataFrame
    sources: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_folder(
    path: Path,
    *,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    max_file_bytes: int | None = None,
) -> ContractData:
    """Read and check ``sites``, ``site_months`` and ``claims`` from a folder, each
    as ``<name>.parquet`` or ``<name>.csv``.

    ``max_file_bytes`` defaults to the ``max_file_bytes`` setting.
    """
    path = Path(path)
    problems = ProblemCollector(max_problems)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        problems.add(Problem(str(path), None, None, "missing folder", f"{path} {what}"))
        raise ContractError(problems.report())
    limit = _limit(max_file_bytes)
    warnings: list[str] = []
    sources: dict[str, Path] = {}
    raws: dict[str, RawTable | None] = {}
    for table in spec.TABLES:
        found = [path / f"{table}{ext}" for ext in FORMATS if (path / f"{table}{ext}").is_file()]
        if not found:
            problems.add(
                Problem(
                    table,
                    None,
                    None,
                    "missing table",
                    f"no {table}.parquet or {table}.csv in {path}",
                )
            )
            continue
        if len(found) > 1:
            problems.add(
                Problem(
                    table,
                    None,
                    None,
                    "duplicate table",
                    f"both {found[0].name} and {found[1].name} are in {path}; keep one",
                )
            )
            continue
        sources[table] = found[0]
        raws[table] = _read(found[0], table, found[0].name, problems, warnings, limit)
    frames = check_tables(raws, problems, warnings)
    problems.raise_if_any()
    return ContractData(
        sites=frames["sites"],
        site_months=frames["site_months"],
        claims=frames["claims"],
        sources=sources,
        warnings=warnings,
    )


def read_table(
    path: Path,
    *,
    table: str | None = None,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    max_file_bytes: int | None = None,
) -> pd.DataFrame:
    """Read and check one table file on its own (references to other tables are not
    checked). The table is named by ``table`` or else by the file's stem."""
    path = Path(path)
    table = table or path.stem
    if table not in spec.TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(spec.TABLES)}")
    problems = ProblemCollector(max_problems)
    warnings: list[str] = []
    if not path.is_file():
        problems.add(Problem(path.name, None, None, "missing table", f"{path} does not exist"))
        raise ContractError(problems.report())
    raw = _read(path, table, path.name, problems, warnings, _limit(max_file_bytes))
    frames = check_tables({table: raw}, problems, warnings, references=False)
    problems.raise_if_any()
    return frames[table]


def validate_frames(
    sites: pd.DataFrame,
    site_months: pd.DataFrame,
    claims: pd.DataFrame,
    *,
    names: Mapping[str, str] | None = None,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> ContractData:
    """Check tables that arrived as frames (JSON, multipart) with the same rules as a
    folder. ``names`` says how problems name each table (default: the table name)."""
    problems = ProblemCollector(max_problems)
    warnings: list[str] = []
    given = {"sites": sites, "site_months": site_months, "claims": claims}
    raws = {
        table: _from_frame(frame, table, (names or {}).get(table, table), problems, warnings)
        for table, frame in given.items()
    }
    frames = check_tables(raws, problems, warnings)
    problems.raise_if_any()
    return ContractData(
        sites=frames["sites"],
        site_months=frames["site_months"],
        claims=frames["claims"],
        warnings=warnings,
    )


def load_files(
    files: Mapping[str, Path],
    *,
    names: Mapping[str, str] | None = None,
    known_site_ids: Iterable[str] | None = None,
    known_label: str = "the stored sites",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    max_file_bytes: int | None = None,
) -> ContractData:
    """Read and check some of the tables, each file as a folder's would be (an upload
    of ``site_months`` alone, say). ``files`` maps table names to files (``.csv`` or
    ``.parquet``); ``names`` says how problems name each file (default: its name).

    Rows may name the sites in ``known_site_ids`` (sites stored earlier) as well as
    those given. Tables not given come back empty."""
    problems = ProblemCollector(max_problems)
    warnings: list[str] = []
    limit = _limit(max_file_bytes)
    raws: dict[str, RawTable | None] = {}
    sources: dict[str, Path] = {}
    for table, path in files.items():
        if table not in spec.TABLES:
            raise ValueError(f"unknown table {table!r}; expected one of {', '.join(spec.TABLES)}")
        path = Path(path)
        label = (names or {}).get(table, path.name)
        if path.suffix not in FORMATS:
            problems.add(
                Problem(label, None, None, "format", f"is not a .csv or .parquet file ({table})")
            )
            continue
        sources[table] = path
        raws[table] = _read(path, table, label, problems, warnings, limit)
    known = None if known_site_ids is None else pd.Series(list(known_site_ids), dtype="str")
    frames = check_tables(raws, problems, warnings, known_site_ids=known, known_label=known_label)
    problems.raise_if_any()
    return _partial(frames, sources, warnings)


def validate_tables(
    frames: Mapping[str, pd.DataFrame],
    *,
    names: Mapping[str, str] | None = None,
    known_site_ids: Iterable[str] | None = None,
    known_label: str = "the stored sites",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> ContractData:
    """:func:`validate_frames` for some of the tables (rows that came as JSON), with
    references to ``known_site_ids`` allowed as in :func:`load_files`."""
    problems = ProblemCollector(max_problems)
    warnings: list[str] = []
    raws = {
        table: _from_frame(frame, table, (names or {}).get(table, table), problems, warnings)
        for table, frame in frames.items()
    }
    known = None if known_site_ids is None else pd.Series(list(known_site_ids), dtype="str")
    checked = check_tables(raws, problems, warnings, known_site_ids=known, known_label=known_label)
    problems.raise_if_any()
    return _partial(checked, {}, warnings)


def empty_frame(table: str) -> pd.DataFrame:
    """A table with no rows and the dtypes the loader gives (see :class:`ContractData`)."""
    data: dict[str, pd.Series[Any]] = {}
    for col in spec.columns(table):
        if col.kind in ("str", "month"):
            dtype = STRING_DTYPE
        elif col.kind == "date":
            dtype = DATE_DTYPE
        elif col.kind == "int":
            dtype = "Int64" if col.nullable else "int64"
        else:
            dtype = "float64"
        data[col.name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(data)


def _partial(
    frames: Mapping[str, pd.DataFrame], sources: dict[str, Path], warnings: list[str]
) -> ContractData:
    def get(table: str) -> pd.DataFrame:
        found = frames.get(table)
        return found if found is not None else empty_frame(table)

    return ContractData(
        sites=get("sites"),
        site_months=get("site_months"),
        claims=get("claims"),
        sources=sources,
        warnings=warnings,
    )


def _limit(max_file_bytes: int | None) -> int:
    if max_file_bytes is not None:
        return max_file_bytes
    from models.settings import get_settings

    return get_settings().max_file_bytes


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def _read(
    path: Path,
    table: str,
    file: str,
    problems: ProblemCollector,
    warnings: list[str],
    limit: int,
) -> RawTable | None:
    try:
        size = path.stat().st_size
    except OSError as err:
        problems.add(Problem(file, None, None, "unreadable", f"cannot be read: {err.strerror}"))
        return None
    if size == 0:
        problems.add(
            Problem(file, None, None, "empty", "is empty (0 bytes); expected a header row and data")
        )
        return None
    if size > limit:
        problems.add(
            Problem(
                file,
                None,
                None,
                "size",
                f"is {_size(size)}, more than the {_size(limit)} limit; split it or raise "
                "SITERISK_MAX_FILE_BYTES",
            )
        )
        return None
    try:
        if path.suffix == ".parquet":
            return _read_parquet(path, table, file, problems, warnings)
        return _read_csv(path, table, file, problems, warnings)
    except OSError as err:
        problems.add(Problem(file, None, None, "unreadable", f"cannot be read: {err}"))
        return None


def _read_parquet(
    path: Path, table: str, file: str, problems: ProblemCollector, warnings: list[str]
) -> RawTable | None:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        present = check_header(table, file, names, problems, warnings)
        if present is None:
            return None
        data = pq.read_table(path, columns=present)
    except pa.ArrowException as err:
        problems.add(
            Problem(
                file, None, None, "unreadable", f"is not a readable parquet file ({_first(err)})"
            )
        )
        return None
    columns = {name: data.column(name) for name in present}
    return RawTable(table, file, columns, data.num_rows)


def _read_csv(
    path: Path, table: str, file: str, problems: ProblemCollector, warnings: list[str]
) -> RawTable | None:
    with path.open("rb") as handle:
        first = handle.readline(_HEADER_BYTES)
    if not first.endswith(b"\n") and len(first) == _HEADER_BYTES:
        problems.add(
            Problem(
                file,
                None,
                None,
                "header",
                "the first line is longer than 1 MiB: this is not a CSV file with a header row",
            )
        )
        return None
    try:
        header = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        _report_encoding(path, file, problems)
        return None
    if "\x00" in header:
        problems.add(
            Problem(file, None, None, "encoding", "holds NUL bytes: this is a binary file, not CSV")
        )
        return None
    names = parse_header_line(header.rstrip("\r\n"))
    if not names:
        problems.add(Problem(file, None, None, "empty", "has no header row"))
        return None
    present = check_header(table, file, names, problems, warnings)
    if present is None:
        return None
    if _first_bad_utf8(path) is not None:
        # Checked before parsing: pyarrow decodes a broken row's text for the
        # invalid-row handler and prints its UnicodeDecodeError as a traceback.
        _report_encoding(path, file, problems)
        return None
    try:
        data, skipped = _parse_csv(path, present, threads=True)
        if skipped:
            # Row numbers of broken rows are only known to a single-threaded read.
            data, skipped = _parse_csv(path, present, threads=False)
    except pa.ArrowException as err:
        if "utf8" in str(err).lower() or "utf-8" in str(err).lower():
            _report_encoding(path, file, problems)
        else:
            problems.add(
                Problem(file, None, None, "unreadable", f"is not valid CSV ({_first(err)})")
            )
        return None
    rows = None
    if skipped:
        lines = np.array([s[0] for s in skipped], dtype=np.int64)
        broken = lines - 1  # data rows, header excluded
        problems.add_many(
            (
                Problem(
                    file, int(line) - 1, None, "columns", f"has {got} fields; the header has {want}"
                )
                for line, got, want in skipped[: problems.cap]
            ),
            len(skipped),
        )
        every = np.arange(1, data.num_rows + len(skipped) + 1, dtype=np.int64)
        rows = np.setdiff1d(every, broken, assume_unique=True)
    columns = {name: data.column(name) for name in present}
    return RawTable(table, file, columns, data.num_rows, rows)


def _parse_csv(
    path: Path, present: list[str], *, threads: bool
) -> tuple[pa.Table, list[tuple[int, int, int]]]:
    skipped: list[tuple[int, int, int]] = []

    def skip(row: pa_csv.InvalidRow) -> str:
        skipped.append((row.number or 0, row.actual_columns, row.expected_columns))
        return "skip"

    data = pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(use_threads=threads),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=skip),
        convert_options=pa_csv.ConvertOptions(
            include_columns=present,
            # Everything as text first: the checks convert and name each bad cell.
            column_types={name: pa.string() for name in present},
            # Only empty cells are null here: other spellings are for the checks to judge
            # per column, and many spellings slow the parser down by half.
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    return data, skipped


def _report_encoding(path: Path, file: str, problems: ProblemCollector) -> None:
    found = _first_bad_utf8(path)
    if found is None:
        message = "is not UTF-8 text"
        row = None
    else:
        offset, line, byte = found
        row = line - 1 if line > 1 else None
        where = f"line {line}" if line > 1 else "the header line"
        message = (
            f"is not UTF-8: byte 0x{byte:02x} at offset {offset} ({where}) is not valid "
            "UTF-8; save the file as UTF-8"
        )
    problems.add(Problem(file, row, None, "encoding", message))


def _first_bad_utf8(path: Path) -> tuple[int, int, int] | None:
    """Offset, line and value of the first byte that is not UTF-8, read in blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    line = 1
    with path.open("rb") as handle:
        while True:
            block = handle.read(_SCAN_BYTES)
            final = not block
            try:
                decoder.decode(block, final=final)
            except UnicodeDecodeError as err:
                # The decoder holds back an unfinished character from the previous block.
                data = err.object
                carried = len(data) - len(block)
                return (
                    offset - carried + err.start,
                    line + data[: err.start].count(b"\n"),
                    data[err.start],
                )
            if final:
                return None
            offset += len(block)
            line += block.count(b"\n")


def _first(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _from_frame(
    frame: pd.DataFrame,
    table: str,
    file: str,
    problems: ProblemCollector,
    warnings: list[str],
) -> RawTable | None:
    names = [str(c) for c in frame.columns]
    present = check_header(table, file, names, problems, warnings)
    if present is None:
        return None
    frame = frame.set_axis(names, axis=1)
    columns = {name: _arrow(frame[name]) for name in present}
    return RawTable(table, file, columns, len(frame))


def _arrow(values: pd.Series[Any]) -> pa.ChunkedArray:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        # The wall date is the date; a timezone only says where the day began.
        values = values.dt.tz_localize(None)
    try:
        return pa.chunked_array([pa.array(values, from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed values (numbers and text in one JSON column): judge them as text.
        text = [None if _missing(v) else str(v) for v in values.tolist()]
        return pa.chunked_array([pa.array(text, type=pa.string())])


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA
