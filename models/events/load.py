"""Read and check an events folder (``docs/events.md``) inside one DuckDB connection.

Every event table is found as ``<table>.parquet``, ``<table>.csv`` (UTF-8, header row)
or a directory ``<table>/`` of Parquet parts (as Spark and DuckDB write them). Each is
read as it is, with the file and the 1-based data row of every row, and checked against
:mod:`models.events.spec` by SQL: a value of the wrong type or format, an empty required
cell, a value out of range or not among the allowed ones, a repeated unique key, a rule
between two columns, a site that ``sites`` does not have, a site without a stage. Every
broken rule is reported with its file, row and column through the monthly contract's
reporting types (:class:`~models.contract.problems.ProblemReport`), and nothing is
returned when anything is broken: no bad row is ever dropped silently.

Timestamps are Asia/Shanghai wall-clock times without offset and are read as naive
timestamps, never shifted. Text with an offset (``+08:00``, ``Z``) is a format error;
a Parquet timestamp stored as an instant (UTC-adjusted, as Spark writes it) is shown
on the Shanghai wall clock. ``sites`` and ``claims`` are checked by
:mod:`models.contract` (they are the monthly contract's tables, passed through).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from models.contract import ContractError, load_files
from models.contract.checks import fmt, parse_header_line
from models.contract.load import _first_bad_utf8, _parse_csv, _report_encoding
from models.contract.problems import (
    DEFAULT_MAX_PROBLEMS,
    Problem,
    ProblemCollector,
)
from models.events import spec

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

TIME_ZONE: Final = "Asia/Shanghai"
_DATE_RE: Final = r"^\d{4}-\d{2}-\d{2}$"
_TS_RE: Final = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"
_FLOAT_RE: Final = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_HEADER_BYTES: Final = 1 << 20


@dataclass
class EventsFolder:
    """A checked events folder: a DuckDB connection holding one typed view per event
    table (named as the table), plus ``sites`` and ``claims`` as the monthly contract
    loaded them, and the files they came from."""

    con: duckdb.DuckDBPyConnection
    sites: pd.DataFrame
    claims: pd.DataFrame
    sources: dict[str, list[Path]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection set to the contract's wall clock."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{TIME_ZONE}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return con


def load_events(
    path: Path,
    *,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    con: duckdb.DuckDBPyConnection | None = None,
) -> EventsFolder:
    """Find, read and check every table of an events folder; raise
    :class:`~models.contract.ContractError` listing every broken rule."""
    path = Path(path)
    problems = ProblemCollector(max_problems)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        problems.add(Problem(str(path), None, None, "missing folder", f"{path} {what}"))
        problems.raise_if_any()
    con = con if con is not None else connect()
    warnings: list[str] = []
    sources: dict[str, list[Path]] = {}
    for table in (*spec.PASSED_THROUGH, *spec.TABLES):
        found = _locate(path, table, problems)
        if found:
            sources[table] = found
    monthly: dict[str, Path] = {t: sources[t][0] for t in spec.PASSED_THROUGH if t in sources}
    sites = claims = None
    if len(monthly) == len(spec.PASSED_THROUGH):
        try:
            data = load_files(monthly, max_problems=max_problems)
        except ContractError as err:
            problems.add_many(err.report.problems, err.report.total)
        else:
            sites, claims = data.sites, data.claims
            warnings.extend(data.warnings)
    read: list[str] = []
    for table in spec.TABLES:
        if table in sources and _register(con, path, table, sources[table], problems, warnings):
            read.append(table)
    for table in read:
        _check_table(con, table, problems)
    if sites is not None:
        con.register("sites", sites)
        for table in read:
            if table in spec.REFERENCES:
                _check_reference(con, table, problems)
        if "site_stages" in read:
            _check_stages(con, problems)
    problems.raise_if_any()
    assert sites is not None
    assert claims is not None
    for table in read:
        cols = ", ".join(c.name for c in spec.TABLES[table])
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {cols} FROM _typed_{table}")
    return EventsFolder(con, sites, claims, sources, warnings)


# --- finding and reading ------------------------------------------------------------


def _locate(path: Path, table: str, problems: ProblemCollector) -> list[Path]:
    """The files of one table: one file, or the Parquet parts of a directory."""
    candidates = [p for p in (path / f"{table}.parquet", path / f"{table}.csv") if p.is_file()]
    folder = path / table
    if folder.is_dir():
        candidates.append(folder)
    if not candidates:
        problems.add(
            Problem(
                table,
                None,
                None,
                "missing table",
                f"no {table}.parquet, {table}.csv or {table}/ of Parquet parts in {path}",
            )
        )
        return []
    if len(candidates) > 1:
        names = " and ".join(c.name + ("/" if c.is_dir() else "") for c in candidates)
        problems.add(
            Problem(table, None, None, "duplicate table", f"{names} are both in {path}; keep one")
        )
        return []
    found = candidates[0]
    if found.is_file():
        return [found]
    if table in spec.PASSED_THROUGH:
        problems.add(
            Problem(
                table,
                None,
                None,
                "format",
                f"{table}/ is a directory; {table} is one .parquet or .csv file",
            )
        )
        return []
    parts = sorted(p for p in found.rglob("*.parquet") if p.is_file())
    if not parts:
        problems.add(Problem(f"{table}/", None, None, "missing table", "holds no .parquet parts"))
    return parts


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _label(root: Path, file: Path) -> str:
    return file.relative_to(root).as_posix()


def _register(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    table: str,
    files: list[Path],
    problems: ProblemCollector,
    warnings: list[str],
) -> bool:
    """Put the table as read into ``_raw_<table>`` with ``_file`` and ``_row``."""
    import duckdb

    if len(files) == 1 and files[0].suffix == ".csv":
        return _register_csv(con, root, table, files[0], problems, warnings)
    frames: list[str] = []
    for i, part in enumerate(files):
        label = _label(root, part)
        if part.stat().st_size == 0:
            problems.add(Problem(label, None, None, "empty", "is empty (0 bytes)"))
            continue
        try:
            names = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM parquet_schema(?) WHERE num_children IS NULL",
                    [str(part)],
                ).fetchall()
            ]
        except duckdb.Error as err:
            problems.add(
                Problem(label, None, None, "unreadable", f"is not a readable parquet file ({err})")
            )
            continue
        if not _header_ok(table, label, names, problems, warnings):
            continue
        cols = ", ".join(c.name for c in spec.TABLES[table])
        view = f"_part_{table}_{i}"
        con.execute(
            f"CREATE OR REPLACE VIEW {view} AS SELECT {_literal(label)} AS _file, "
            f"file_row_number + 1 AS _row, {cols} "
            f"FROM read_parquet({_literal(str(part))}, file_row_number = true)"
        )
        frames.append(view)
    if not frames:
        return False
    if len(frames) != len(files):
        return False
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {v}" for v in frames)
    try:
        con.execute(f"CREATE OR REPLACE VIEW _raw_{table} AS {union}")
        con.execute(f"SELECT * FROM _raw_{table} LIMIT 0")
    except duckdb.Error as err:
        problems.add(
            Problem(
                f"{table}/", None, None, "type", f"its parts do not have the same types ({err})"
            )
        )
        return False
    return True


def _register_csv(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    table: str,
    path: Path,
    problems: ProblemCollector,
    warnings: list[str],
) -> bool:
    import numpy as np

    label = _label(root, path)
    if path.stat().st_size == 0:
        problems.add(
            Problem(label, None, None, "empty", "is empty (0 bytes); expected a header row")
        )
        return False
    if _first_bad_utf8(path) is not None:
        _report_encoding(path, label, problems)
        return False
    with path.open("rb") as handle:
        header = handle.readline(_HEADER_BYTES).decode("utf-8-sig").rstrip("\r\n")
    names = parse_header_line(header)
    if not _header_ok(table, label, names, problems, warnings):
        return False
    present = [c.name for c in spec.TABLES[table]]
    try:
        data, skipped = _parse_csv(path, present, threads=True)
        if skipped:
            data, skipped = _parse_csv(path, present, threads=False)
    except pa.ArrowException as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        problems.add(Problem(label, None, None, "unreadable", f"is not valid CSV ({first})"))
        return False
    if skipped:
        problems.add_many(
            (
                Problem(
                    label, line - 1, None, "columns", f"has {got} fields; the header has {want}"
                )
                for line, got, want in skipped[: problems.cap]
            ),
            len(skipped),
        )
        return False
    rows = np.arange(1, data.num_rows + 1, dtype=np.int64)
    data = data.append_column("_row", pa.array(rows)).append_column(
        "_file", pa.array([label] * data.num_rows, type=pa.string())
    )
    con.register(f"_arrow_{table}", data)
    con.execute(f"CREATE OR REPLACE VIEW _raw_{table} AS SELECT * FROM _arrow_{table}")
    return True


def _header_ok(
    table: str,
    label: str,
    names: list[str],
    problems: ProblemCollector,
    warnings: list[str],
) -> bool:
    expected = [c.name for c in spec.TABLES[table]]
    ok = True
    seen: set[str] = set()
    for name in names:
        if name in seen and name in expected:
            problems.add(Problem(label, None, name, "header", f"column {name!r} appears twice"))
            ok = False
        seen.add(name)
    for name in expected:
        if name not in seen:
            problems.add(
                Problem(label, None, name, "header", f"required column {name!r} is missing")
            )
            ok = False
    unknown = [n for n in names if n not in expected and not n.startswith("__index_level_")]
    if unknown:
        warnings.append(f"{label}: ignored unknown columns {', '.join(map(repr, unknown[:10]))}")
    return ok


# --- checks -------------------------------------------------------------------------


def _types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE _raw_{table}").fetchall()
    return {str(r[0]): str(r[1]).upper() for r in rows}


def _typed(col: spec.Column, source: str) -> tuple[str, str]:
    """SQL for the column's typed value and for "the value could not be converted"
    (true only where the cell is not empty), given its type as read."""
    c = f'"{col.name}"'
    text = source in ("VARCHAR", "STRING")
    if col.kind == "str":
        if text or "INT" in source:
            return f"CAST({c} AS VARCHAR)", "false"
        return "NULL::VARCHAR", f"{c} IS NOT NULL"
    if col.kind in ("float", "int"):
        if text:
            bad = f"{c} IS NOT NULL AND NOT regexp_full_match({c}, '{_FLOAT_RE}')"
            number = f"TRY_CAST(CASE WHEN NOT ({bad}) THEN trim({c}) END AS DOUBLE)"
        elif any(t in source for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL")):
            number, bad = f"CAST({c} AS DOUBLE)", "false"
        else:
            return "NULL", f"{c} IS NOT NULL"
        if col.kind == "float":
            return number, f"({bad}) OR isinf({number})"
        whole = f"({number} = floor({number}) AND abs({number}) < 9007199254740992)"
        return (
            f"CASE WHEN {whole} THEN CAST({number} AS BIGINT) END",
            f"({bad}) OR ({number} IS NOT NULL AND NOT {whole})",
        )
    if col.kind == "date":
        if text:
            bad = (
                f"{c} IS NOT NULL AND (NOT regexp_full_match({c}, '{_DATE_RE}') "
                f"OR TRY_CAST({c} AS DATE) IS NULL)"
            )
            return f"CASE WHEN NOT ({bad}) THEN TRY_CAST({c} AS DATE) END", bad
        if source == "DATE":
            return c, "false"
        if source.startswith("TIMESTAMP"):
            wall = f"CAST({c} AS TIMESTAMP)"
            bad = f"{wall} <> CAST(CAST({wall} AS DATE) AS TIMESTAMP)"
            return f"CASE WHEN NOT ({bad}) THEN CAST({wall} AS DATE) END", bad
        return "NULL::DATE", f"{c} IS NOT NULL"
    # timestamp
    if text:
        bad = (
            f"{c} IS NOT NULL AND (NOT regexp_full_match({c}, '{_TS_RE}') "
            f"OR TRY_CAST({c} AS TIMESTAMP) IS NULL)"
        )
        return f"CASE WHEN NOT ({bad}) THEN TRY_CAST({c} AS TIMESTAMP) END", bad
    if source.startswith("TIMESTAMP"):
        # An instant (TIMESTAMP WITH TIME ZONE) shows on the session's Shanghai clock.
        return f"CAST({c} AS TIMESTAMP)", "false"
    return "NULL::TIMESTAMP", f"{c} IS NOT NULL"


def _want(col: spec.Column) -> str:
    return {
        "str": "text",
        "float": "a number",
        "int": "a whole number",
        "date": "a date written YYYY-MM-DD",
        "timestamp": "a timestamp written YYYY-MM-DDThh:mm:ss without offset",
    }[col.kind]


def _check_table(con: duckdb.DuckDBPyConnection, table: str, problems: ProblemCollector) -> None:
    """Every rule of one table. The typed table is a view over the files (nothing is
    copied): one pass counts the failures of every rule, and only a rule that failed
    reads its first rows again for the examples."""
    types = _types(con, table)
    selects = ["_file", "_row"]
    for col in spec.TABLES[table]:
        value, bad = _typed(col, types[col.name])
        selects += [
            f"{value} AS {col.name}",
            f"coalesce({bad}, false) AS {col.name}__bad",
            f'CAST("{col.name}" AS VARCHAR) AS {col.name}__raw',
        ]
    t = f"_typed_{table}"
    con.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT {', '.join(selects)} FROM _raw_{table}")
    checks: list[_Check] = []
    for col in spec.TABLES[table]:
        n = col.name
        checks.append(_Check(n, "type", f"{n}__bad", f"{n}__raw", f"is not {_want(col)}"))
        if not col.nullable:
            checks.append(
                _Check(
                    n,
                    "not null",
                    f"{n} IS NULL AND NOT {n}__bad",
                    None,
                    "is empty; the column is required",
                )
            )
        if col.choices is not None:
            allowed = ", ".join(f"'{c}'" for c in col.choices)
            checks.append(
                _Check(
                    n,
                    "enum",
                    f"{n} NOT IN ({allowed})",
                    n,
                    f"is not one of {', '.join(col.choices)}",
                )
            )
        for op, bound, words in (
            ("<", col.ge, "at least"),
            ("<=", col.gt, "greater than"),
            (">", col.le, "at most"),
        ):
            if bound is not None:
                checks.append(
                    _Check(
                        n,
                        "range",
                        f"{n} {op} {bound!r}",
                        n,
                        f"is out of range: must be {words} {bound:g}",
                    )
                )
        if col.min_len is not None:
            checks.append(
                _Check(
                    n,
                    "length",
                    f"length({n}) < {col.min_len}",
                    n,
                    f"is shorter than {col.min_len} characters",
                )
            )
        if col.max_len is not None:
            checks.append(
                _Check(
                    n,
                    "length",
                    f"length({n}) > {col.max_len}",
                    n,
                    f"is longer than {col.max_len} characters",
                )
            )
    for name, small, large in spec.CROSS_RULES:
        if name == table:
            checks.append(
                _Check(
                    large, f"{small} <= {large}", f"{large} < {small}", large, f"is before {small}"
                )
            )
    counts = con.execute(
        "SELECT "
        + ", ".join(f"count(*) FILTER (WHERE coalesce({c.where}, false))" for c in checks)
        + f" FROM {t}"
    ).fetchall()[0]
    for check, count in zip(checks, counts, strict=True):
        if count:
            _report(con, problems, t, check.column, check.rule, check.where, check.shown, check.why)
    key = spec.KEYS.get(table)
    if key:
        cols = ", ".join(key)
        present = " AND ".join(f"{k} IS NOT NULL" for k in key)
        found = con.execute(
            f"SELECT count(*) FROM (SELECT {cols} FROM {t} WHERE {present} "
            f"GROUP BY {cols} HAVING count(*) > 1)"
        ).fetchall()
        if found[0][0]:
            repeated = (
                f"(SELECT *, row_number() OVER (PARTITION BY {cols} ORDER BY _file, _row) AS _n "
                f"FROM {t} WHERE ({cols}) IN (SELECT ({cols}) FROM {t} WHERE {present} "
                f"GROUP BY {cols} HAVING count(*) > 1))"
            )
            what = "is repeated" if len(key) == 1 else f"repeats ({cols}) of an earlier row"
            _report(
                con,
                problems,
                repeated,
                key[-1],
                "unique",
                "_n > 1",
                f"concat_ws(', ', {cols})",
                what,
            )


@dataclass(frozen=True, slots=True)
class _Check:
    """One rule on one column: where it fails, what value to show, and why."""

    column: str
    rule: str
    where: str
    shown: str | None
    why: str


def _report(
    con: duckdb.DuckDBPyConnection,
    problems: ProblemCollector,
    source: str,
    column: str,
    rule: str,
    where: str,
    shown: str | None,
    why: str,
) -> None:
    value = "NULL" if shown is None else shown
    rows = con.execute(
        f"SELECT _file, _row, {value} AS v, count(*) OVER () AS n FROM {source} "
        f"WHERE coalesce({where}, false) ORDER BY _file, _row LIMIT {problems.cap}"
    ).fetchall()
    if not rows:
        return
    problems.add_many(
        (
            Problem(
                str(f),
                int(r),
                column,
                rule,
                why if shown is None else f"{_fmt(v)} {why}",
            )
            for f, r, v, _ in rows
        ),
        int(rows[0][3]),
    )


def _fmt(value: Any) -> str:
    return fmt(value) if not hasattr(value, "isoformat") else value.isoformat()


def _check_reference(
    con: duckdb.DuckDBPyConnection, table: str, problems: ProblemCollector
) -> None:
    _report(
        con,
        problems,
        f"_typed_{table}",
        "site_id",
        "reference",
        "site_id IS NOT NULL AND site_id NOT IN (SELECT site_id FROM sites)",
        "site_id",
        "is not a site of sites",
    )


def _check_stages(con: duckdb.DuckDBPyConnection, problems: ProblemCollector) -> None:
    rows = con.execute(
        "SELECT site_id, count(*) OVER () FROM sites "
        "WHERE site_id NOT IN (SELECT site_id FROM _typed_site_stages WHERE site_id IS NOT NULL) "
        f"ORDER BY site_id LIMIT {problems.cap}"
    ).fetchall()
    if rows:
        problems.add_many(
            (
                Problem(
                    "site_stages",
                    None,
                    "site_id",
                    "every site has a stage",
                    f"site {s!r} of sites has no row in site_stages",
                )
                for s, _ in rows
            ),
            int(rows[0][1]),
        )
