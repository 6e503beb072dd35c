"""The feed's operations, between the controllers and the store: check, then store all
or nothing, and answer what happened row by row or table by table."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from sqlmodel import Session

from models.contract import ContractData
from service.auth.principal import Principal, Role
from service.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from service.feed import intake
from service.feed.rows import COLUMNS, KEYS, contract_dict
from service.feed.schemas import (
    ClaimsIn,
    FeedResult,
    HistoryOut,
    RowResult,
    StoredSite,
    TableResult,
    VersionOut,
)
from service.feed.store import FeedOutcome, FeedStore
from service.quotes.schemas import MonthIn, MonthRef, SiteIn


class FeedService:
    def __init__(self, session: Session) -> None:
        self.store = FeedStore(session)

    # -- single rows ---------------------------------------------------------------------
    def put_site(self, site_id: str, body: Any, principal: Principal) -> FeedResult:
        row: Any = intake.decode(body, SiteIn)
        if row.site_id != site_id:
            raise _mismatch("site_id", row.site_id, site_id)
        data = intake.check_rows("sites", [row], [], prefix=None)
        return self._store(data, ("sites",), principal, rows=True)

    def put_month(self, site_id: str, month: str, body: Any, principal: Principal) -> FeedResult:
        row: Any = intake.decode(body, MonthIn)
        if row.site_id != site_id:
            raise _mismatch("site_id", row.site_id, site_id)
        if row.month != month:
            raise _mismatch("month", row.month, month)
        known = [site_id] if self.store.site(site_id) is not None else []
        data = intake.check_rows("site_months", [row], known, prefix=None)
        return self._store(data, ("site_months",), principal, rows=True)

    def add_claims(self, body: Any, principal: Principal) -> FeedResult:
        claims: Any = intake.decode(body, ClaimsIn)
        ids = sorted({c.site_id for c in claims.claims})
        # Every rule of the rows first: a broken row is the caller's to fix (422). A claim
        # on a site the platform has not fed yet is a good row sent too early (409): it
        # is stored once the site is (docs/api.md).
        data = intake.check_rows("claims", claims.claims, ids, prefix="claims")
        known = set(self.store.existing_sites(ids))
        early = [
            FieldError(f"claims[{i}].site_id", f"no stored site {claim.site_id!r}")
            for i, claim in enumerate(claims.claims)
            if claim.site_id not in known
        ]
        if early:
            raise ConflictError(
                f"{early[0].field}: {early[0].message}: the platform feeds a site before "
                "its claims; nothing was stored",
                fields=early,
            )
        return self._store(data, ("claims",), principal, rows=True)

    # -- files -----------------------------------------------------------------------------
    def bulk(
        self, files: Mapping[str, tuple[str | None, IO[bytes]]], principal: Principal
    ) -> FeedResult:
        """``files`` maps each table to (file name, content); every table is checked
        before anything is stored."""
        intake.check_tables_allowed(list(files), principal)
        with tempfile.TemporaryDirectory(prefix="siterisk-upload-") as tmp:
            paths: dict[str, Path] = {}
            names: dict[str, str] = {}
            for table, (filename, content) in files.items():
                suffix = intake.suffix_of(filename, table)
                path = Path(tmp) / f"{table}{suffix}"
                with path.open("wb") as out:
                    shutil.copyfileobj(content, out, length=1 << 20)
                paths[table] = path
                names[table] = Path(filename).name if filename else f"{table}{suffix}"
            data = intake.load_upload(paths, names, self.store.site_ids())
        return self._store(data, tuple(files), principal, rows=False)

    def _store(
        self, data: ContractData, tables: Sequence[str], principal: Principal, *, rows: bool
    ) -> FeedResult:
        insurer = principal.insurer_id if principal.role is Role.insurer else None
        outcome = self.store.upsert(
            data, tables, fed_by=principal.key_id, insurer_id=insurer, keep_rows=rows
        )
        return _result(outcome, data.warnings, rows=rows)

    # -- reading -------------------------------------------------------------------------
    def stored_site(self, site_id: str) -> StoredSite:
        row = self.store.site(site_id)
        if row is None:
            raise NotFoundError(f"no stored site {site_id!r}")
        months = [MonthRef(month=m, version=v) for m, v in self.store.month_versions(site_id)]
        return StoredSite(site=contract_dict(row, "sites"), version=row["version"], months=months)

    def history(self, table: str, key: dict[str, str]) -> HistoryOut:
        versions = self.store.versions(table, key)
        if not versions:
            shown = ", ".join(f"{k} {v!r}" for k, v in key.items() if k != "insurer_id")
            raise NotFoundError(f"nothing stored for {shown}")
        return HistoryOut(
            table=table,
            key={k: v for k, v in key.items() if k != "insurer_id"},
            current_version=int(versions[0]["version"]),
            versions=[
                VersionOut(
                    version=int(v["version"]),
                    valid_from=v["valid_from"],
                    superseded_at=v["superseded_at"],
                    fed_by_key=v["fed_by"],
                    row=contract_dict(v, table),
                )
                for v in versions
            ],
        )


def _mismatch(name: str, body: str, path: str) -> InvalidInputError:
    return InvalidInputError(
        f"the request is not valid: {name}: {body!r} differs from the path's {path!r}",
        fields=[FieldError(name, f"{body!r} differs from the path's {path!r}")],
    )


def _result(outcome: FeedOutcome, warnings: list[str], *, rows: bool) -> FeedResult:
    tables = {
        t: TableResult(
            received=r.received, inserted=r.inserted, updated=r.updated, unchanged=r.unchanged
        )
        for t, r in outcome.tables.items()
    }
    listed = None
    if rows:
        listed = []
        for table, key, status, version in outcome.rows:
            names = [k for k in KEYS[table] if k in COLUMNS[table]]
            values = key[len(key) - len(names) :]
            listed.append(
                RowResult(key=dict(zip(names, values, strict=True)), status=status, version=version)
            )
    return FeedResult(tables=tables, rows=listed, warnings=warnings)
