"""The contract's rules, run on tables however they arrived (CSV, parquet, JSON).

A table comes in as Arrow columns, as they were read, and goes out as a pandas frame
with the contract's dtypes. On the way every rule in :mod:`models.contract.spec` is
checked, vectorised: values are converted column by column (a value that is not a
number, a date or a whole number is a ``type`` or ``format`` problem at its row), the
per-column rules run as one lazily validated pandera schema built from the spec, and
keys, cross-column rules and references run as whole-column pandas and Arrow operations.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.contract import spec
from models.contract.problems import Problem, ProblemCollector

if TYPE_CHECKING:
    import pandera.pandas as pandera
    from numpy.typing import NDArray

DATE_DTYPE: Final = "datetime64[us]"
STRING_DTYPE: Final = "str"
# Tables a world cannot do without; a world without claims is merely a quiet one.
MUST_HAVE_ROWS: Final = ("sites", "site_months")

# Spellings of "no value" in a text cell of a number or date column.
NULL_TOKENS: Final = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
_FLOAT_RE: Final = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_DATE_RE: Final = r"^\d{4}-\d{2}-\d{2}$"
# Whole numbers beyond this lose their last digits as float64.
_MAX_EXACT_INT: Final = 2**53
_MICROS_PER_DAY: Final = 86_400 * 1_000_000
_PATTERN_TEXT: Final = {
    spec.ID_PATTERN: "must be 1–64 characters from A–Z, a–z, 0–9, '_', '.', '-'",
    spec.MONTH_PATTERN: "is not a month written YYYY-MM",
}


@dataclass
class RawTable:
    """One table as read: its contract columns as Arrow arrays, nothing checked yet."""

    table: str
    file: str
    columns: dict[str, pa.ChunkedArray]
    nrows: int
    # Data row number (1-based) of each position, when the reader skipped broken rows.
    rows: NDArray[np.int64] | None = None

    def row(self, position: int) -> int:
        return int(self.rows[position]) if self.rows is not None else position + 1


@dataclass
class _Converted:
    table: str
    file: str
    frame: pd.DataFrame
    raw: RawTable
    # Positions whose value could not be converted, per column (already reported).
    bad: dict[str, NDArray[np.bool_]] = field(default_factory=dict)


def fmt(value: Any) -> str:
    """A value as a problem message names it."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "empty"
    if isinstance(value, float) and math.isnan(value):
        return "empty"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:39] + "…"
        return repr(text)
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    if isinstance(value, float | np.floating):
        return f"{float(value):.10g}"
    if isinstance(value, np.integer):
        return str(int(value))
    return repr(value)


# --- header -------------------------------------------------------------------------


def check_header(
    table: str,
    file: str,
    names: Sequence[str],
    problems: ProblemCollector,
    warnings: list[str],
) -> list[str] | None:
    """The contract columns present (the v1 ones, then any optional ones, in the
    contract's order), or ``None`` when the header is unusable (duplicated names, or not
    one expected name: probably not a header). An optional column may be left out."""
    expected = [c.name for c in spec.columns(table)]
    known = [c.name for c in spec.columns(table, optional=True)]
    seen: set[str] = set()
    for name in names:
        if name in seen and name in known:
            problems.add(Problem(file, None, name, "header", f"column {name!r} appears twice"))
        seen.add(name)
    present = [n for n in known if n in seen]
    # pandas writes a non-default index as a column of its own; it is not data.
    unknown = [n for n in dict.fromkeys(names) if n not in known and not _is_index(n)]
    if not [n for n in expected if n in seen]:
        first = ",".join(names)
        first = first if len(first) <= 80 else first[:79] + "…"
        problems.add(
            Problem(
                file,
                None,
                None,
                "header",
                f"none of the expected columns is there (the header reads {first!r}); "
                f"a header row must name the columns: {', '.join(expected)}",
            )
        )
        return None
    for name in expected:
        if name not in seen:
            hint = [u for u in unknown if u.strip().lower() == name]
            extra = f" (found {hint[0]!r}: names are exact and lower-case)" if hint else ""
            problems.add(
                Problem(file, None, name, "header", f"required column {name!r} is missing{extra}")
            )
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        warnings.append(f"{file}: ignored unknown columns {shown}{more}")
    if len(seen) != len(names):
        return None
    return present


def _is_index(name: str) -> bool:
    return name.startswith("__index_level_")


def parse_header_line(line: str) -> list[str]:
    return next(csv.reader([line]), [])


# --- conversion ---------------------------------------------------------------------


def _report_bad(
    raw: RawTable,
    column: str,
    arr: pa.ChunkedArray,
    bad: NDArray[np.bool_],
    rule: str,
    why: str,
    problems: ProblemCollector,
) -> None:
    positions = np.flatnonzero(bad)
    if not len(positions):
        return
    shown = positions[: problems.cap]
    values = arr.take(pa.array(shown)).to_pylist()
    problems.add_many(
        (
            Problem(raw.file, raw.row(int(p)), column, rule, f"{fmt(v)} {why}")
            for p, v in zip(shown, values, strict=True)
        ),
        len(positions),
    )


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _as_text(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    return arr if arr.type == pa.string() else arr.cast(pa.string())


def _matches(arr: pa.ChunkedArray, pattern: str) -> NDArray[np.bool_]:
    """Where the text matches; False where it is null."""
    hit = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)


def _valid(arr: pa.ChunkedArray) -> NDArray[np.bool_]:
    return np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)


def _text_to_float(arr: pa.ChunkedArray) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Numbers written as text; returns the values (NaN where empty or bad) and where
    the text was not a number."""
    text = _as_text(arr)
    try:
        return np.asarray(text.cast(pa.float64()).to_numpy(), dtype=np.float64), np.zeros(
            len(text), dtype=bool
        )
    except pa.ArrowInvalid:
        pass
    # Some cell is not a plain number: find which, without giving up on the rest.
    plain = _matches(text, _FLOAT_RE)
    out = np.full(len(text), np.nan)
    out[plain] = text.filter(pa.array(plain)).cast(pa.float64()).to_numpy()
    odd = _valid(text) & ~plain
    if odd.any():
        # Rare spellings (" 12", "NA") go through pandas, only those cells.
        odd_text = pd.Series(text.filter(pa.array(odd)).to_pylist(), dtype=object)
        empty = odd_text.isin(NULL_TOKENS).to_numpy()
        parsed = pd.to_numeric(odd_text.where(~empty), errors="coerce").to_numpy(np.float64)
        out[odd] = parsed
        odd[odd] = ~empty & np.isnan(parsed)
    return out, odd


def _to_float(
    raw: RawTable, col: spec.Column, arr: pa.ChunkedArray, problems: ProblemCollector
) -> tuple[NDArray[np.float64], NDArray[np.bool_]] | None:
    t = arr.type
    if _is_text(t):
        values, bad = _text_to_float(arr)
        _report_bad(raw, col.name, arr, bad, "type", "is not a number", problems)
    elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        # Integers past 2**53 round; the whole-number check below flags them as too large.
        values = np.asarray(arr.cast(pa.float64(), safe=False).to_numpy(), dtype=np.float64)
        bad = np.zeros(len(arr), dtype=bool)
    elif pa.types.is_null(t):
        return np.full(len(arr), np.nan), np.zeros(len(arr), dtype=bool)
    else:
        _wrong_type(raw, col, t, "numbers", problems)
        return None
    infinite = np.isinf(values)
    if infinite.any():
        _report_bad(raw, col.name, arr, infinite, "type", "is not a finite number", problems)
        values = np.where(infinite, np.nan, values)
        bad = bad | infinite
    return values, bad


def _to_int(
    raw: RawTable, col: spec.Column, arr: pa.ChunkedArray, problems: ProblemCollector
) -> tuple[pd.api.extensions.ExtensionArray, NDArray[np.bool_]] | None:
    t = arr.type
    if pa.types.is_integer(t) or (_is_text(t) and not _has_hex(arr)):
        try:
            ints = arr.cast(pa.int64())
        except (pa.ArrowInvalid, OverflowError):
            pass
        else:
            empty = ~_valid(ints)
            values = np.asarray(ints.fill_null(0).to_numpy(), dtype=np.int64)
            return pd.arrays.IntegerArray(values, empty), np.zeros(len(arr), dtype=bool)
    as_float = _to_float(raw, col, arr, problems)
    if as_float is None:
        return None
    floats, bad = as_float
    with np.errstate(invalid="ignore"):
        fraction = ~np.isnan(floats) & (np.mod(floats, 1.0) != 0)
        huge = ~np.isnan(floats) & (np.abs(floats) > _MAX_EXACT_INT)
    _report_bad(raw, col.name, arr, fraction, "type", "is not a whole number", problems)
    _report_bad(raw, col.name, arr, huge & ~fraction, "type", "is too large", problems)
    bad = bad | fraction | huge
    empty = np.isnan(floats) | bad
    values = np.where(empty, 0, floats).astype(np.int64)
    return pd.arrays.IntegerArray(values, empty), bad


def _has_hex(arr: pa.ChunkedArray) -> bool:
    """Arrow reads "0x1f" as 31; the contract's whole numbers are decimal."""
    text = _as_text(arr)
    return any(pc.any(pc.match_substring(text, x)).as_py() for x in ("x", "X"))


def _to_date(
    raw: RawTable, col: spec.Column, arr: pa.ChunkedArray, problems: ProblemCollector
) -> tuple[NDArray[np.datetime64], NDArray[np.bool_]] | None:
    t = arr.type
    if _is_text(t):
        text = _as_text(arr)
        text = pc.if_else(pc.is_in(text, pa.array(NULL_TOKENS)), pa.scalar(None, pa.string()), text)
        stamps = pc.strptime(text, format="%Y-%m-%d", unit="us", error_is_null=True)
        # strptime takes 2024-1-5 and rolls 2024-02-30 over to March: only the strict
        # shape and a round trip prove the date.
        same = pc.fill_null(pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), text), False)
        good = _matches(text, _DATE_RE) & np.asarray(same.to_numpy(zero_copy_only=False), bool)
        bad = _valid(text) & ~good
        _report_bad(raw, col.name, arr, bad, "format", "is not a date written YYYY-MM-DD", problems)
    elif pa.types.is_date(t) or pa.types.is_timestamp(t):
        # A timezone names when the day began, not which day it was: keep the wall date.
        stamps = pc.local_timestamp(arr) if getattr(t, "tz", None) else arr
        stamps = stamps.cast(pa.timestamp("us"))
        micros = np.asarray(stamps.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
        good = micros % _MICROS_PER_DAY == 0
        bad = ~good
        _report_bad(raw, col.name, arr, bad, "type", "has a time of day; expected a date", problems)
    elif pa.types.is_null(t):
        empty = np.full(len(arr), np.datetime64("NaT"), dtype=DATE_DTYPE)
        return empty, np.zeros(len(arr), dtype=bool)
    else:
        _wrong_type(raw, col, t, "dates", problems)
        return None
    values = np.array(stamps.to_numpy(), dtype=DATE_DTYPE)
    values[~good] = np.datetime64("NaT")
    return values, bad


def _to_text(
    raw: RawTable, col: spec.Column, arr: pa.ChunkedArray, problems: ProblemCollector
) -> pd.Series[str] | None:
    t = arr.type
    # Identifiers stored as integers (a common spreadsheet habit) read as their digits.
    if _is_text(t) or pa.types.is_integer(t) or pa.types.is_null(t):
        return pd.Series(_as_text(arr).to_pandas(), dtype=STRING_DTYPE)
    _wrong_type(raw, col, t, "text", problems)
    return None


def _wrong_type(
    raw: RawTable, col: spec.Column, t: pa.DataType, want: str, problems: ProblemCollector
) -> None:
    problems.add(
        Problem(raw.file, None, col.name, "type", f"the column holds {t} values; expected {want}")
    )


def convert(raw: RawTable, problems: ProblemCollector) -> _Converted:
    """The table with the contract's dtypes; unconvertible values become missing and
    are reported here (a column of the wrong kind altogether is left out)."""
    data: dict[str, Any] = {}
    bad: dict[str, NDArray[np.bool_]] = {}
    for col in spec.columns(raw.table, optional=True):
        arr = raw.columns.pop(col.name, None)
        if arr is None:
            continue
        if pa.types.is_dictionary(arr.type):  # pandas categoricals, parquet dictionaries
            arr = arr.cast(arr.type.value_type)
        if col.kind in ("str", "month"):
            data[col.name] = _to_text(raw, col, arr, problems)
        elif col.kind == "float":
            got_float = _to_float(raw, col, arr, problems)
            if got_float is not None:
                data[col.name], bad[col.name] = got_float
        elif col.kind == "int":
            got_int = _to_int(raw, col, arr, problems)
            if got_int is not None:
                data[col.name], bad[col.name] = got_int
        else:
            got_date = _to_date(raw, col, arr, problems)
            if got_date is not None:
                data[col.name], bad[col.name] = got_date
    present = {k: v for k, v in data.items() if v is not None}
    frame = pd.DataFrame(present, index=pd.RangeIndex(raw.nrows))
    return _Converted(raw.table, raw.file, frame, raw, bad)


# --- per-column rules (pandera) -----------------------------------------------------


def _range_text(col: spec.Column) -> str:
    if col.ge is not None and col.le is not None:
        return f"between {col.ge:g} and {col.le:g}"
    if col.gt is not None:
        return f"greater than {col.gt:g}"
    if col.ge is not None:
        return f"at least {col.ge:g}"
    return f"at most {col.le:g}"


@cache
def _schema(
    table: str, present: tuple[str, ...]
) -> tuple[pandera.DataFrameSchema, dict[tuple[str, int], str]]:
    """The per-column rules of the present columns as one pandera schema, and the
    contract rule behind each (column, check number) pandera reports."""
    import pandera.pandas as pandera

    columns: dict[str, pandera.Column] = {}
    rules: dict[tuple[str, int], str] = {}
    for col in spec.columns(table, optional=True):
        if col.name not in present:
            continue
        checks: list[tuple[str, pandera.Check]] = []
        if col.gt is not None:
            checks.append(("range", pandera.Check.gt(col.gt, n_failure_cases=1)))
        if col.ge is not None:
            checks.append(("range", pandera.Check.ge(col.ge, n_failure_cases=1)))
        if col.le is not None:
            checks.append(("range", pandera.Check.le(col.le, n_failure_cases=1)))
        if col.choices is not None:
            checks.append(("enum", pandera.Check.isin(col.choices, n_failure_cases=1)))
        if col.min_len is not None or col.max_len is not None:
            length = pandera.Check.str_length(col.min_len, col.max_len, n_failure_cases=1)
            checks.append(("length", length))
        if col.pattern is not None:
            rule = "format" if col.kind == "month" else "pattern"
            checks.append((rule, pandera.Check.str_matches(col.pattern, n_failure_cases=1)))
        rules.update({(col.name, i): rule for i, (rule, _) in enumerate(checks)})
        # Types are settled by ``convert``; pandera checks values, not dtypes. Problems
        # are built from each check's pass/fail mask, so pandera keeps one example.
        columns[col.name] = pandera.Column(
            None, checks=[c for _, c in checks], nullable=col.nullable
        )
    return pandera.DataFrameSchema(columns, strict=False, name=table), rules


def _message(col: spec.Column, rule: str, value: Any) -> str:
    if rule == "not null":
        return "is empty; the column is required"
    if rule == "range":
        return f"{fmt(value)} is out of range: must be {_range_text(col)}"
    if rule == "enum":
        choices = col.choices or ()
        close = [c for c in choices if str(value).strip().lower() == c]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{fmt(value)} is not one of: {', '.join(choices)}{hint}"
    if rule == "length":
        lo, hi = col.min_len or 0, col.max_len
        size = f"{lo}–{hi}" if hi is not None else f"at least {lo}"
        return f"{fmt(value)} has {len(str(value))} characters; must have {size}"
    if rule in ("pattern", "format"):
        text = _PATTERN_TEXT.get(col.pattern or "", f"does not match {col.pattern}")
        return f"{fmt(value)} {text}"
    return f"{fmt(value)} breaks {rule}"


def check_columns(conv: _Converted, problems: ProblemCollector) -> None:
    """Nulls, ranges, enums, lengths and patterns, as pandera finds them.

    Pandera says which rows fail each check (``check_output``); the problems are
    built here, so a rule broken on a million rows costs one mask, not a million
    formatted failure cases.
    """
    import pandera.errors

    frame = conv.frame
    schema, rules = _schema(conv.table, tuple(frame.columns))
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as err:
        errors = err.schema_errors
    else:
        return
    failing: dict[tuple[str, str], NDArray[np.bool_]] = {}
    for error in errors:
        name = str(getattr(error.schema, "name", ""))
        mask = _failing_rows(error, frame)
        if mask is None:
            column = name if name in frame.columns else None
            problems.add(Problem(conv.file, None, column, "check", _first_line(error)))
            continue
        if error.reason_code == pandera.errors.SchemaErrorReason.SERIES_CONTAINS_NULLS:
            rule = "not null"
        else:
            rule = rules.get((name, int(error.check_index or 0)), "check")
        key = (name, rule)
        failing[key] = failing[key] | mask if key in failing else mask
    for (name, rule), mask in failing.items():
        # A cell that was not even a number was reported as such; its gap is no news.
        if rule == "not null" and name in conv.bad:
            mask = mask & ~conv.bad[name]
        # An over-long id breaks its pattern too; the length says what is wrong.
        if rule == "pattern" and (name, "length") in failing:
            mask = mask & ~failing[(name, "length")]
        positions = np.flatnonzero(mask)
        if not len(positions):
            continue
        col = spec.column(conv.table, name)
        shown = positions[: problems.cap]
        values = frame[name].iloc[shown].tolist()
        problems.add_many(
            (
                Problem(conv.file, conv.raw.row(int(p)), name, rule, _message(col, rule, v))
                for p, v in zip(shown, values, strict=True)
            ),
            len(positions),
        )


def _failing_rows(error: Any, frame: pd.DataFrame) -> NDArray[np.bool_] | None:
    import pandera.errors

    name = getattr(error.schema, "name", None)
    if name not in frame.columns:
        return None
    if error.reason_code == pandera.errors.SchemaErrorReason.SERIES_CONTAINS_NULLS:
        return np.asarray(frame[name].isna().to_numpy(), dtype=bool)
    output = error.check_output
    if error.check_index is None or not isinstance(output, pd.Series):
        return None
    # Pandera leaves empty cells out of a check's output: they pass it.
    passed = output.fillna(True).to_numpy(dtype=bool)
    mask = np.zeros(len(frame), dtype=bool)
    mask[output.index[~passed].to_numpy(dtype=np.int64)] = True
    return mask


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


# --- keys, cross-column rules, references -------------------------------------------


def _key_sets(table: str) -> list[tuple[str, ...]]:
    keys = [spec.KEYS[table]]
    keys += [(c.name,) for c in spec.columns(table) if c.unique and (c.name,) not in keys]
    return keys


def check_keys(conv: _Converted, problems: ProblemCollector) -> None:
    frame = conv.frame
    for key in _key_sets(conv.table):
        if not all(k in frame.columns for k in key):
            continue
        sub = frame[list(key)]
        filled = sub.notna().all(axis=1).to_numpy()
        again = sub.duplicated(keep="first").to_numpy() & filled
        count = int(again.sum())
        if not count:
            continue
        positions = np.flatnonzero(again)[: problems.cap]
        first_of = _first_positions(sub[filled])
        label = ", ".join(key)
        examples = []
        for p in positions:
            values = tuple(sub.iloc[int(p)])
            named = ", ".join(f"{k} {fmt(v)}" for k, v in zip(key, values, strict=True))
            first = conv.raw.row(first_of[values])
            examples.append(
                Problem(
                    conv.file,
                    conv.raw.row(int(p)),
                    label,
                    "unique",
                    f"{named} appears again (first at row {first})",
                )
            )
        problems.add_many(examples, count)


def _first_positions(sub: pd.DataFrame) -> dict[tuple[Any, ...], int]:
    dup = sub[sub.duplicated(keep=False)]
    firsts = dup[~dup.duplicated(keep="first")]
    return {tuple(row): int(pos) for pos, row in zip(firsts.index, firsts.to_numpy(), strict=True)}


def check_cross(conv: _Converted, problems: ProblemCollector) -> None:
    frame = conv.frame
    for rule in spec.CROSS_RULES:
        if rule.table != conv.table or not {rule.small, rule.large} <= set(frame.columns):
            continue
        small, large = frame[rule.small], frame[rule.large]
        broken = (small.notna() & large.notna()).to_numpy() & (
            small.gt(large).fillna(False).to_numpy(dtype=bool)
        )
        count = int(broken.sum())
        if not count:
            continue
        is_date = spec.column(conv.table, rule.small).kind == "date"
        verb = "is after" if is_date else "is greater than"
        positions = np.flatnonzero(broken)[: problems.cap]
        problems.add_many(
            (
                Problem(
                    conv.file,
                    conv.raw.row(int(p)),
                    rule.small,
                    "cross-column",
                    f"{rule.small} {fmt(small.iloc[int(p)])} {verb} "
                    f"{rule.large} {fmt(large.iloc[int(p)])}",
                )
                for p in positions
            ),
            count,
        )


def check_references(
    conv: _Converted, site_ids: pd.Series[str], sites_file: str, problems: ProblemCollector
) -> None:
    """Every ``site_id`` of the table names a site of ``site_ids``; ``sites_file`` says
    where those come from in the message."""
    if "site_id" not in conv.frame.columns:
        return
    ids = conv.frame["site_id"]
    known = pc.is_in(pa.array(ids, from_pandas=True), value_set=pa.array(site_ids))
    unknown = ids.notna().to_numpy() & ~np.asarray(known.to_numpy(zero_copy_only=False), dtype=bool)
    count = int(unknown.sum())
    if not count:
        return
    positions = np.flatnonzero(unknown)[: problems.cap]
    problems.add_many(
        (
            Problem(
                conv.file,
                conv.raw.row(int(p)),
                "site_id",
                "reference",
                f"{fmt(ids.iloc[int(p)])} is not a site_id in {sites_file}",
            )
            for p in positions
        ),
        count,
    )


def _final_dtypes(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Spec column order and the settled dtypes (non-nullable ints as int64); optional
    columns follow the v1 ones when the table had them."""
    optional = [c.name for c in spec.OPTIONAL[table] if c.name in frame.columns]
    out = frame[[c.name for c in spec.columns(table)] + optional]
    casts = {c.name: "int64" for c in spec.columns(table) if c.kind == "int" and not c.nullable}
    return out.astype(casts) if casts else out


def check_tables(
    raws: Mapping[str, RawTable | None],
    problems: ProblemCollector,
    warnings: list[str],
    *,
    references: bool = True,
    known_site_ids: pd.Series[str] | None = None,
    known_label: str = "the stored sites",
) -> dict[str, pd.DataFrame]:
    """Convert and check every table given; frames are returned only when no problem
    at all was found (the caller raises otherwise).

    ``known_site_ids`` are sites that exist already (stored by the service): rows may
    name them as well as the sites given, and references are checked even when no
    sites table is given."""
    converted: dict[str, _Converted] = {}
    for table, raw in raws.items():
        if raw is None:
            continue
        if raw.nrows == 0:
            if table in MUST_HAVE_ROWS:
                problems.add(Problem(raw.file, None, None, "empty", "has a header but no rows"))
            else:
                warnings.append(f"{raw.file}: no rows")
        conv = convert(raw, problems)
        check_columns(conv, problems)
        check_keys(conv, problems)
        check_cross(conv, problems)
        converted[table] = conv
    sites = converted.get("sites")
    given = sites is not None and "site_id" in sites.frame.columns
    if references and (given or (sites is None and known_site_ids is not None)):
        parts, where = [], []
        if sites is not None and given:
            parts.append(sites.frame["site_id"].dropna())
            where.append(sites.file)
        if known_site_ids is not None:
            parts.append(pd.Series(known_site_ids, dtype=STRING_DTYPE))
            where.append(known_label)
        site_ids = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        for table in spec.REFERENCES:
            if table in converted:
                check_references(converted[table], site_ids, " or ".join(where), problems)
    if problems:
        return {}
    return {t: _final_dtypes(c.frame, t) for t, c in converted.items()}
