"""Checking what is fed before anything is stored.

Files (a bulk upload) go through the contract loader itself
(:func:`models.contract.load_files`, what ``siterisk data validate`` runs on a folder)
with the stored sites as valid references, so months may follow their sites in a
later upload. Rows sent as JSON go through the same rules
(:func:`models.contract.validate_tables`) after a strict decoding that names fields.
A failure raises :class:`~models.contract.ContractError` (files: answered with the
problem report) or :class:`~service.errors.InvalidInputError` (JSON: the fields).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
import pandas as pd

from models.contract import (
    ContractData,
    ContractError,
    Problem,
    ProblemReport,
    load_files,
    spec,
    validate_tables,
)
from models.contract.load import FORMATS
from service.auth.principal import Principal, Role
from service.db.feed_tables import MAX_CLAIM_ID
from service.errors import FieldError, ForbiddenError, InvalidInputError
from service.quotes.intake import field_error

# Which tables each role feeds.
FEEDS: Final[dict[Role, tuple[str, ...]]] = {
    Role.platform: ("sites", "site_months"),
    Role.insurer: ("claims",),
}
STORED_SITES: Final = "the stored sites"
FIRST_YEAR: Final = 1900
LAST_YEAR: Final = 2199


def tables_of(principal: Principal) -> tuple[str, ...]:
    return FEEDS.get(principal.role, ())


def check_tables_allowed(tables: Sequence[str], principal: Principal) -> None:
    """Refuse unknown parts (422) and tables the caller's role does not feed (403)."""
    unknown = [t for t in tables if t not in spec.TABLES]
    if unknown:
        raise InvalidInputError(
            f"unknown upload part {unknown[0]!r}: name each file part after its table "
            f"({', '.join(spec.TABLES)})",
            fields=[FieldError(t, "not a contract table") for t in unknown],
        )
    if not tables:
        raise InvalidInputError(
            "no files: send the tables as multipart file parts named "
            f"{', '.join(tables_of(principal)) or 'after their tables'}",
            fields=[FieldError("body", "no file parts")],
        )
    allowed = tables_of(principal)
    refused = [t for t in tables if t not in allowed]
    if refused:
        mine = ", ".join(allowed) or "nothing"
        raise ForbiddenError(
            f"{principal.role.value} keys may not feed {', '.join(refused)}; they feed {mine}"
        )


def suffix_of(filename: str | None, table: str) -> str:
    """The upload's format from its file name; CSV when the name says nothing."""
    suffix = Path(filename or "").suffix.lower()
    if suffix in FORMATS:
        return suffix
    if not suffix:
        return ".csv"
    raise InvalidInputError(
        f"{table}: {filename!r} is neither .csv nor .parquet",
        fields=[FieldError(table, "the file name must end in .csv or .parquet")],
    )


def load_upload(
    files: Mapping[str, Path], names: Mapping[str, str], known_site_ids: Sequence[str]
) -> ContractData:
    """Every uploaded table, checked as a folder would be, references against the
    uploaded and the stored sites; raises :class:`ContractError` with the report."""
    data = load_files(files, names=names, known_site_ids=known_site_ids, known_label=STORED_SITES)
    problems = service_problems(data, names)
    if problems:
        raise ContractError(ProblemReport(tuple(problems[:50]), len(problems)))
    return data


def service_problems(data: ContractData, names: Mapping[str, str]) -> list[Problem]:
    """Rules of the store beyond the contract's own: claim ids short enough to index,
    and months and dates in years a construction record can have (a year 0 or 9999 is
    a typo, and no date arithmetic downstream takes it)."""
    found: list[Problem] = []
    claims = data.claims
    if not claims.empty:
        lengths = claims["claim_id"].str.len().to_numpy()
        file = names.get("claims", "claims")
        found += [
            Problem(
                file,
                int(i) + 1,
                "claim_id",
                "length",
                f"has {int(lengths[i])} characters; the service stores claim ids of at most "
                f"{MAX_CLAIM_ID}",
            )
            for i in np.flatnonzero(lengths > MAX_CLAIM_ID)
        ]
    for table in spec.TABLES:
        frame: pd.DataFrame = getattr(data, table)
        for col in spec.columns(table):
            if col.kind not in ("date", "month") or frame.empty:
                continue
            values = frame[col.name]
            if col.kind == "month":
                years = values.str.slice(0, 4).astype(int).to_numpy()
            else:
                years = values.dt.year.to_numpy()
            outside = np.flatnonzero((years < FIRST_YEAR) | (years > LAST_YEAR))
            file = names.get(table, table)
            found += [
                Problem(
                    file,
                    int(i) + 1,
                    col.name,
                    "range",
                    f"year {int(years[i])} is outside {FIRST_YEAR}–{LAST_YEAR}, the years the "
                    "service stores",
                )
                for i in outside
            ]
    return found


# --- JSON rows ----------------------------------------------------------------------------


def decode(data: Any, struct: type[msgspec.Struct], where: str = "") -> Any:
    """Strictly decode JSON builtins, naming the offending field."""
    try:
        return msgspec.convert(data, struct, strict=True)
    except msgspec.ValidationError as exc:
        error = field_error(exc, where, struct)
        raise InvalidInputError(
            f"the request is not valid: {error.field}: {error.message}", fields=[error]
        ) from None


def rows_frame(rows: Sequence[msgspec.Struct], table: str) -> pd.DataFrame:
    names = [c.name for c in spec.columns(table)]
    return pd.DataFrame.from_records([msgspec.structs.astuple(r) for r in rows], columns=names)


def check_rows(
    table: str,
    rows: Sequence[msgspec.Struct],
    known_site_ids: Sequence[str],
    *,
    prefix: str | None,
) -> ContractData:
    """Contract rules on decoded rows; problems name ``{prefix}[i].column`` (or just the
    column for a single row, ``prefix`` None)."""
    try:
        data = validate_tables(
            {table: rows_frame(rows, table)},
            known_site_ids=known_site_ids,
            known_label=STORED_SITES,
            max_problems=max(50, 4 * len(rows) * len(spec.columns(table))),
        )
    except ContractError as err:
        fields = [_field(p, prefix) for p in err.report.problems]
        raise InvalidInputError(
            f"the request is not valid: {fields[0].field}: {fields[0].message}", fields=fields
        ) from None
    names = {table: prefix or table}
    problems = service_problems(data, names)
    if problems:
        fields = [_field(p, prefix) for p in problems]
        raise InvalidInputError(
            f"the request is not valid: {fields[0].field}: {fields[0].message}", fields=fields
        )
    return data


def _field(problem: Problem, prefix: str | None) -> FieldError:
    column = problem.column if problem.column and "," not in problem.column else None
    if prefix is None:
        return FieldError(column or "body", problem.message)
    where = prefix if problem.row is None else f"{prefix}[{problem.row - 1}]"
    return FieldError(f"{where}.{column}" if column else where, problem.message)
