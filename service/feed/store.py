"""Storing fed data: upserts that keep every version, and the reads the feed, quotes by
reference, profiles and the export need.

An upsert compares each incoming row's hash with the stored one: a new key is
inserted as version 1, an unchanged row is left alone (sending the same data twice
creates nothing), a changed row replaces the current one as the next version after the
replaced row is copied into the history table. One call stores everything it is given
in one transaction, or nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import pandas as pd
from sqlalchemy import Select, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from models.contract import ContractData
from service.db.feed_tables import (
    Claim,
    ClaimHistory,
    Site,
    SiteHistory,
    SiteMonth,
    SiteMonthHistory,
)
from service.db.tables import utcnow
from service.errors import ConflictError
from service.feed.rows import (
    COLUMNS,
    KEYS,
    STORED_OPTIONAL,
    chunks,
    records_frame,
    row_hashes,
    to_columns,
)

# Bound parameters per statement stay far below SQLite's limit (32,766).
IN_CHUNK: Final = 500
TABLE_ORDER: Final = ("sites", "site_months", "claims")
Status = Literal["inserted", "updated", "unchanged"]


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


CURRENT: Final[dict[str, Table]] = {
    "sites": _table(Site),
    "site_months": _table(SiteMonth),
    "claims": _table(Claim),
}
HISTORY: Final[dict[str, Table]] = {
    "sites": _table(SiteHistory),
    "site_months": _table(SiteMonthHistory),
    "claims": _table(ClaimHistory),
}


@dataclass
class TableOutcome:
    """What one upsert did to one table."""

    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class FeedOutcome:
    tables: dict[str, TableOutcome] = field(default_factory=dict)
    # (table, key, status, version) of every row received, in the order received
    rows: list[tuple[str, tuple[str, ...], Status, int]] = field(default_factory=list)


class FeedStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- writing -------------------------------------------------------------------------
    def upsert(
        self,
        data: ContractData,
        tables: Sequence[str],
        *,
        fed_by: int | None,
        insurer_id: str | None = None,
        keep_rows: bool = False,
    ) -> FeedOutcome:
        """Store ``tables`` of ``data`` (claims under ``insurer_id``) and commit, or
        store nothing. ``keep_rows`` lists each row's status and version."""
        outcome = FeedOutcome()
        now = utcnow()
        connection = self.session.connection()
        try:
            for table in TABLE_ORDER:
                if table not in tables:
                    continue
                frame = getattr(data, table)
                extra: dict[str, Any] = {}
                if table == "claims":
                    if not insurer_id:
                        raise ValueError("claims are stored under an insurer")
                    extra["insurer_id"] = insurer_id
                outcome.tables[table] = self._upsert(
                    connection, table, frame, extra, fed_by, now, outcome if keep_rows else None
                )
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            # Another upload stored the same keys between our read and our write.
            raise ConflictError(
                "the stored data changed while this upload was stored; nothing was stored, "
                "send it again (sending the same data twice is harmless)"
            ) from None
        except BaseException:
            self.session.rollback()
            raise
        return outcome

    def _upsert(
        self,
        connection: Connection,
        table: str,
        frame: pd.DataFrame,
        extra: dict[str, Any],
        fed_by: int | None,
        now: dt.datetime,
        listing: FeedOutcome | None,
    ) -> TableOutcome:
        result = TableOutcome(received=len(frame))
        n = len(frame)
        if not n:
            return result
        keys = KEYS[table]
        if table == "sites":
            frame = self._with_owners(connection, frame)
        columns = to_columns(frame, table)
        columns.update({name: [value] * n for name, value in extra.items()})  # the insurer
        hashes = row_hashes(frame, table)
        key_rows = list(zip(*(columns[k] for k in keys), strict=True))
        stored = self._stored_versions(connection, table, key_rows, extra)
        new: list[int] = []
        changed: list[int] = []
        versions: list[int] = []
        status: Status
        for i, (key, digest) in enumerate(zip(key_rows, hashes, strict=True)):
            found = stored.get(key)
            if found is None:
                new.append(i)
                versions.append(1)
                status = "inserted"
            elif found[1] != digest:
                changed.append(i)
                versions.append(found[0] + 1)
                status = "updated"
            else:
                versions.append(found[0])
                status = "unchanged"
            if listing is not None:
                listing.rows.append((table, tuple(str(k) for k in key), status, versions[-1]))
        columns.update(version=versions, row_hash=hashes)
        constants: dict[str, Any] = {"fed_by": fed_by, "updated_at": now}
        if new:
            picked = (
                columns
                if len(new) == n
                else {name: [values[i] for i in new] for name, values in columns.items()}
            )
            first = {"data_revision": 1, "created_at": now} if table == "sites" else {}
            _insert_many(connection, CURRENT[table], picked, {**constants, **first})
        if changed:
            rows = [
                {**{name: values[i] for name, values in columns.items()}, **constants}
                for i in changed
            ]
            self._supersede(connection, table, rows, now)
        if table != "claims" and (new or changed):
            touched = {str(columns["site_id"][i]) for i in (*new, *changed)}
            # a new site starts at revision 1; its months bump it like any other's
            if table == "sites":
                touched -= {str(columns["site_id"][i]) for i in new}
            self._bump_revisions(connection, touched)
        result.inserted, result.updated = len(new), len(changed)
        result.unchanged = n - result.inserted - result.updated
        return result

    @staticmethod
    def _with_owners(connection: Connection, frame: pd.DataFrame) -> pd.DataFrame:
        """Sites with their ``owner_id``: as sent where the upload has the column (an
        empty value clears it), else as stored, so a v1 upload (or a JSON row, which is
        v1) never drops an owner the platform named before."""
        if "owner_id" in frame.columns:
            return frame
        site = CURRENT["sites"]
        ids = sorted(set(frame["site_id"].tolist()))
        owners: dict[str, str] = {}
        for part in chunks(ids, IN_CHUNK):
            query = select(site.c.site_id, site.c.owner_id).where(
                site.c.site_id.in_(part), site.c.owner_id.is_not(None)
            )
            owners.update((str(i), str(o)) for i, o in connection.execute(query))
        if not owners:
            return frame
        out = frame.copy()
        out["owner_id"] = pd.Series(
            [owners.get(i) for i in out["site_id"].tolist()], index=out.index, dtype=object
        ).astype(frame["site_id"].dtype)
        return out

    def _stored_versions(
        self,
        connection: Connection,
        table: str,
        key_rows: Sequence[tuple[Any, ...]],
        extra: dict[str, Any],
    ) -> dict[tuple[Any, ...], tuple[int, str]]:
        current = CURRENT[table]
        keys = KEYS[table]
        # claims: the insurer is fixed, the claim id varies; otherwise the site id leads
        position = len(keys) - 1 if table == "claims" else 0
        values = sorted({row[position] for row in key_rows})
        cols = [current.c[k] for k in keys]
        found: dict[tuple[Any, ...], tuple[int, str]] = {}
        for part in chunks(values, IN_CHUNK):
            where: ColumnElement[bool] = current.c[keys[position]].in_(part)
            if table == "claims":
                where = and_(where, current.c.insurer_id == extra["insurer_id"])
            query = select(*cols, current.c.version, current.c.row_hash).where(where)
            for r in connection.execute(query):
                found[tuple(r[: len(keys)])] = (int(r.version), str(r.row_hash))
        return found

    def _supersede(
        self,
        connection: Connection,
        table: str,
        changed: Sequence[dict[str, Any]],
        now: dt.datetime,
    ) -> None:
        """Copy the replaced rows into the history, then write the new versions."""
        current, history = CURRENT[table], HISTORY[table]
        keys = KEYS[table]
        wanted = {tuple(row[k] for k in keys) for row in changed}
        position = len(keys) - 1 if table == "claims" else 0
        old: list[dict[str, Any]] = []
        for part in chunks(sorted({row[keys[position]] for row in changed}), IN_CHUNK):
            where: ColumnElement[bool] = current.c[keys[position]].in_(part)
            if table == "claims":
                where = and_(where, current.c.insurer_id == changed[0]["insurer_id"])
            for r in connection.execute(select(current).where(where)).mappings():
                if tuple(r[k] for k in keys) in wanted:
                    old.append(_history_row(r, table, now))
        connection.execute(insert(history), old)
        names = [name for name in changed[0] if name not in keys]
        statement = (
            update(current)
            .where(and_(*(current.c[k] == bindparam(f"k_{k}") for k in keys)))
            .values({name: bindparam(f"v_{name}") for name in names})
        )
        params = [
            {**{f"k_{k}": row[k] for k in keys}, **{f"v_{n}": row[n] for n in names}}
            for row in changed
        ]
        connection.execute(statement, params)

    def _bump_revisions(self, connection: Connection, site_ids: Iterable[str]) -> None:
        site = CURRENT["sites"]
        for part in chunks(sorted(set(site_ids)), IN_CHUNK):
            connection.execute(
                update(site)
                .where(site.c.site_id.in_(part))
                .values(data_revision=site.c.data_revision + 1)
            )

    # -- reading -------------------------------------------------------------------------
    def site_ids(self) -> list[str]:
        site = CURRENT["sites"]
        return [str(r[0]) for r in self.session.connection().execute(select(site.c.site_id))]

    def existing_sites(self, site_ids: Sequence[str]) -> list[str]:
        """Those of ``site_ids`` that are stored."""
        site = CURRENT["sites"]
        found: list[str] = []
        for part in chunks(sorted(set(site_ids)), IN_CHUNK):
            query = select(site.c.site_id).where(site.c.site_id.in_(part))
            found += [str(r[0]) for r in self.session.connection().execute(query)]
        return found

    def site(self, site_id: str) -> RowMapping | None:
        site = CURRENT["sites"]
        query = select(site).where(site.c.site_id == site_id)
        return self.session.connection().execute(query).mappings().first()

    def months_before(self, site_id: str, start_month: str, limit: int) -> list[RowMapping]:
        """The site's latest ``limit`` months before ``start_month``, oldest first."""
        query = months_before_query(site_id, start_month, limit)
        rows = list(self.session.connection().execute(query).mappings())
        return rows[::-1]

    def month_versions(self, site_id: str) -> list[tuple[str, int]]:
        sm = CURRENT["site_months"]
        query = select(sm.c.month, sm.c.version).where(sm.c.site_id == site_id).order_by(sm.c.month)
        return [(str(m), int(v)) for m, v in self.session.connection().execute(query)]

    def claims_before(self, site_id: str, insurer_id: str, before: dt.date) -> list[RowMapping]:
        """The insurer's own claims of the site with an incident before ``before``."""
        query = claims_before_query(site_id, insurer_id, before)
        return list(self.session.connection().execute(query).mappings())

    def contractor_rows(
        self, contractor_id: str, start_month: str
    ) -> tuple[list[RowMapping], list[RowMapping], list[RowMapping]]:
        """Every stored site of the contractor, their months before ``start_month`` and
        their claims before its first day, of every insurer: what the contractor's
        record reads (its counts only leave this service)."""
        site, sm, claim = CURRENT["sites"], CURRENT["site_months"], CURRENT["claims"]
        connection = self.session.connection()
        sites = list(
            connection.execute(
                select(site).where(site.c.contractor_id == contractor_id).order_by(site.c.site_id)
            ).mappings()
        )
        ids = [str(r["site_id"]) for r in sites]
        first_day = dt.date(int(start_month[:4]), int(start_month[5:7]), 1)
        months: list[RowMapping] = []
        claims: list[RowMapping] = []
        for part in chunks(ids, IN_CHUNK):
            months += connection.execute(
                select(sm)
                .where(sm.c.site_id.in_(part), sm.c.month < start_month)
                .order_by(sm.c.site_id, sm.c.month)
            ).mappings()
            claims += connection.execute(
                select(claim)
                .where(claim.c.site_id.in_(part), claim.c.incident_date < first_day)
                .order_by(
                    claim.c.site_id, claim.c.incident_date, claim.c.insurer_id, claim.c.claim_id
                )
            ).mappings()
        return sites, months, claims

    def versions(self, table: str, key: dict[str, str]) -> list[dict[str, Any]]:
        """Every version of one row, newest first: the current one (``superseded_at``
        None) and those it replaced. Empty when the key was never stored."""
        current, history = CURRENT[table], HISTORY[table]
        connection = self.session.connection()
        out: list[dict[str, Any]] = []
        now = (
            connection.execute(select(current).where(*(current.c[k] == v for k, v in key.items())))
            .mappings()
            .first()
        )
        if now is None:
            return out
        out.append({**now, "valid_from": now["updated_at"], "superseded_at": None})
        old = connection.execute(
            select(history)
            .where(*(history.c[k] == v for k, v in key.items()))
            .order_by(history.c.version.desc())
        ).mappings()
        out.extend(dict(r) for r in old)
        return out

    def district_stamp(self, district: str) -> tuple[int, int]:
        """(sites, sum of their data revisions) of a district: changes whenever any of
        its sites or their months change."""
        count, total = self.session.connection().execute(district_stamp_query(district)).one()
        return int(count), int(total)

    def district_data(self, district: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every site of a district and all their months, as contract frames."""
        site = CURRENT["sites"]
        connection = self.session.connection()
        sites = connection.execute(
            select(*(site.c[n] for n in COLUMNS["sites"]))
            .where(site.c.district == district)
            .order_by(site.c.site_id)
        ).all()
        months = connection.execute(district_months_query(district)).all()
        return records_frame(sites, "sites"), records_frame(months, "site_months")


# --- the queries that must stay indexed (tests EXPLAIN them on PostgreSQL) ---------------


def months_before_query(site_id: str, start_month: str, limit: int) -> Select[Any]:
    sm = CURRENT["site_months"]
    return (
        select(sm)
        .where(sm.c.site_id == site_id, sm.c.month < start_month)
        .order_by(sm.c.month.desc())
        .limit(limit)
    )


def claims_before_query(site_id: str, insurer_id: str, before: dt.date) -> Select[Any]:
    claim = CURRENT["claims"]
    return (
        select(claim)
        .where(
            claim.c.site_id == site_id,
            claim.c.insurer_id == insurer_id,
            claim.c.incident_date < before,
        )
        .order_by(claim.c.incident_date, claim.c.claim_id)
    )


def district_stamp_query(district: str) -> Select[Any]:
    site = CURRENT["sites"]
    return select(func.count(), func.coalesce(func.sum(site.c.data_revision), 0)).where(
        site.c.district == district
    )


def district_months_query(district: str) -> Select[Any]:
    site, sm = CURRENT["sites"], CURRENT["site_months"]
    return (
        select(*(sm.c[n] for n in COLUMNS["site_months"]))
        .join(site, site.c.site_id == sm.c.site_id)
        .where(site.c.district == district)
        .order_by(sm.c.site_id, sm.c.month)
    )


def _insert_many(
    connection: Connection,
    table: Table,
    columns: dict[str, list[Any]],
    constants: dict[str, Any],
) -> None:
    """A plain executemany of positional tuples (PostgreSQL: ``COPY``): bulk loads
    spend their time in the driver, not in building a parameter dict per row. Values go
    through each column type's bind processor, as SQLAlchemy would send them (constants
    only once), in the session's transaction."""
    dialect = connection.dialect
    names = [*columns, *constants]
    n = len(next(iter(columns.values())))
    values: list[list[Any]] = []
    for name in names:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if name in constants:
            value = constants[name]
            values.append([process(value) if process is not None else value] * n)
            continue
        column = columns[name]
        values.append([process(v) for v in column] if process is not None else column)
    quote = dialect.identifier_preparer.quote
    target = f"{quote(table.name)} ({', '.join(quote(n) for n in names)})"
    rows = zip(*values, strict=True)
    if dialect.name == "postgresql":
        # psycopg's COPY: several times faster than row-by-row inserts on a server.
        sql = f"COPY {target} FROM STDIN"
        dbapi = dialect.loaded_dbapi
        cursor = connection.connection.cursor()
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi.Error as exc:
            # As SQLAlchemy reports driver errors: a duplicate key stays an IntegrityError.
            raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc
        finally:
            cursor.close()
        return
    mark = "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"
    sql = f"INSERT INTO {target} VALUES ({', '.join([mark] * len(names))})"
    for part in chunks(list(rows), 20_000):
        connection.exec_driver_sql(sql, list(part))


def _history_row(current: RowMapping, table: str, now: dt.datetime) -> dict[str, Any]:
    keys = KEYS[table]
    # claims history keeps site_id besides the key; it is a contract column there
    names = dict.fromkeys([*keys, *COLUMNS[table], *STORED_OPTIONAL[table]])
    row = {name: current[name] for name in names}
    row.update(
        version=current["version"],
        row_hash=current["row_hash"],
        fed_by=current["fed_by"],
        valid_from=current["updated_at"],
        superseded_at=now,
    )
    return row
