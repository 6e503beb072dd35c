"""``site_months.sql`` as Spark SQL: the one definition, rewritten mechanically.

The SQL is written in the part of SQL that DuckDB and Spark SQL both run. One
construct has no common spelling: the number of days between two dates, which DuckDB
writes ``date_diff('day', a, b)`` and Spark ``datediff(DAY, a, b)`` (same arguments,
same order, same answer). :func:`to_spark` makes that lexical rewrite and then refuses
any DuckDB-only construct left in the text, so an edit of the SQL that Spark could not
run fails here, by name, rather than as a Spark parse error or a silently different
answer. Never a second hand-written copy of the aggregation (docs/events-engines.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One lexical replacement, and why Spark needs it."""

    duckdb: str
    spark: str
    why: str


REWRITES: Final = (
    Rewrite(
        "date_diff('day', ",
        "datediff(DAY, ",
        "days between two dates: DuckDB names the unit as text, Spark as a keyword",
    ),
)

# Constructs of DuckDB's dialect that Spark SQL reads differently or not at all: none
# may be left after the rewrites (checked on the text without its comments).
DUCKDB_ONLY: Final[tuple[tuple[str, str], ...]] = (
    (r"::", "a '::' cast (write CAST(x AS type))"),
    (r'"', "a double-quoted identifier (Spark reads it as a string; leave names unquoted)"),
    (r"\bstrftime\s*\(", "strftime (format with substr(CAST(x AS STRING), ...))"),
    (r"\bdate_diff\s*\(", "date_diff with a unit other than 'day'"),
    (r"\bESCAPE\b", "LIKE ... ESCAPE (Spark strings treat a backslash as an escape)"),
    (r"\bQUALIFY\b|\bUNION\s+ALL\s+BY\s+NAME\b", "a DuckDB-only clause"),
)

_COMMENT: Final = re.compile(r"--[^\n]*")


class DialectError(ValueError):
    """The SQL holds a construct that Spark SQL would not run as DuckDB does."""


def without_comments(sql: str) -> str:
    """The SQL without its ``--`` comments (the definition puts none inside a string)."""
    return _COMMENT.sub("", sql)


def to_spark(sql: str) -> str:
    """The DuckDB text ``sql`` as Spark SQL; raise :class:`DialectError` naming any
    DuckDB-only construct that is left."""
    text = without_comments(sql)
    for rewrite in REWRITES:
        text = text.replace(rewrite.duckdb, rewrite.spark)
    found = [why for pattern, why in DUCKDB_ONLY if re.search(pattern, text, re.IGNORECASE)]
    if found:
        raise DialectError("not portable to Spark SQL: " + "; ".join(found))
    return text
