"""An INSERT compiled once per dialect and sent to the driver as is (issue 21).

``session.execute(insert(table), rows)`` pays for the ORM session's execution layer,
a cache-key lookup and the compiled statement's parameter machinery on every call: a
third of what storing one quote cost. Here the statement is compiled once per dialect,
its SQL text and each column's bind processor kept, and every call only applies the
processors and hands the SQL and values to :meth:`Connection.exec_driver_sql`, which
still wraps driver errors (an ``IntegrityError`` stays SQLAlchemy's), fires the cursor
events and keeps parameters out of errors as the engine says.

The values are processed exactly as a Core INSERT processes them (each column type's
bind processor for the dialect), so the stored row is the same. Python-side column
defaults are not filled in: rows must give every column that has one.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Dialect, Table, insert

_Processor = Callable[[Any], Any]


class _Compiled:
    """The INSERT's SQL for one dialect and how a row becomes its parameters."""

    __slots__ = ("columns", "positional", "processors", "sql")

    def __init__(self, table: Table, columns: tuple[str, ...], dialect: Dialect) -> None:
        unknown = set(columns) - set(table.c.keys())
        if unknown:
            raise ValueError(f"{table.name} has no columns {sorted(unknown)}")
        defaulted = [c.key for c in table.c if c.default is not None and c.key not in columns]
        if defaulted:
            # a Core INSERT would fill these in; this one would store NULL or fail
            raise ValueError(f"rows of {table.name} must give its defaulted {defaulted}")
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        binds = compiled.positiontup if compiled.positional else list(compiled.binds)
        # an INSERT of plain columns binds each under its key, in the statement's order
        if binds is None or sorted(binds) != sorted(columns):
            raise ValueError(f"unexpected binds for INSERT INTO {table.name}: {binds}")
        if compiled.escaped_bind_names:
            raise ValueError(f"column names of {table.name} need escaping: not supported")
        self.sql: Final = str(compiled)
        self.positional: Final = compiled.positional
        self.columns: Final = tuple(binds)
        # the column type's processor for this dialect, as a Core INSERT applies it
        self.processors: Final[tuple[_Processor | None, ...]] = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.columns
        )

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = [
            row[name] if process is None else process(row[name])
            for name, process in zip(self.columns, self.processors, strict=True)
        ]
        return tuple(values) if self.positional else dict(zip(self.columns, values, strict=True))


class PreparedInsert:
    """``INSERT INTO table``, of the columns its rows give (as a Core INSERT: the
    first row's keys), compiled once for each dialect and set of columns it meets."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._lock = threading.Lock()
        # per live dialect (engines of tests come and go), per tuple of column keys
        self._compiled: weakref.WeakKeyDictionary[Dialect, dict[tuple[str, ...], _Compiled]] = (
            weakref.WeakKeyDictionary()
        )

    def _for(self, dialect: Dialect, columns: tuple[str, ...]) -> _Compiled:
        compiled = self._compiled.get(dialect, {}).get(columns)
        if compiled is None:
            with self._lock:
                known = self._compiled.setdefault(dialect, {})
                compiled = known.get(columns)
                if compiled is None:
                    compiled = known[columns] = _Compiled(self.table, columns, dialect)
        return compiled

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows``, which all give the same columns (one execute, or one
        executemany for several), in ``connection``'s transaction."""
        if not rows:
            return
        compiled = self._for(connection.dialect, tuple(rows[0]))
        if len(rows) == 1:
            connection.exec_driver_sql(compiled.sql, compiled.parameters(rows[0]))
        else:
            connection.exec_driver_sql(compiled.sql, [compiled.parameters(r) for r in rows])
