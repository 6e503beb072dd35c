"""The stored data as a contract folder, so training can learn from what was fed:
``siterisk data export --out DIR`` then ``siterisk train --data DIR``.

Current versions only (corrections replace what they corrected), in the contract's
columns and types. Claims of every insurer by default (the database's operator holds
them all), or one insurer's; a claim id two insurers both use is written as
``<insurer_id>:<claim_id>`` so ids stay unique, and the export says so. Sites carry
``owner_id`` (contract v1.1) when any stored site names its owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from models.contract import spec
from models.contract.load import FORMATS
from service.feed.rows import COLUMNS, records_frame
from service.feed.store import CURRENT

Format = Literal["csv", "parquet"]
_ORDER: Final = {
    "sites": ("site_id",),
    "site_months": ("site_id", "month"),
    "claims": ("insurer_id", "claim_id"),
}


class ExportError(ValueError):
    """The export cannot be written where asked."""


@dataclass
class Exported:
    counts: dict[str, int] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_current(session: Session, table: str, insurer_id: str | None = None) -> pd.DataFrame:
    """One table's current rows as the contract loader would give them."""
    current = CURRENT[table]
    names = list(COLUMNS[table])
    extra = {"claims": ["insurer_id"], "sites": ["owner_id"]}.get(table, [])
    query = select(*(current.c[n] for n in [*names, *extra])).order_by(
        *(current.c[k] for k in _ORDER[table])
    )
    if table == "claims" and insurer_id is not None:
        query = query.where(current.c.insurer_id == insurer_id)
    rows = session.connection().execute(query).all()
    frame = records_frame([r[: len(names)] for r in rows], table)
    if table == "claims":
        frame["insurer_id"] = pd.Series([r[-1] for r in rows], dtype="str")
    owners = [r[-1] for r in rows] if table == "sites" else []
    if any(o is not None for o in owners):
        # contract v1.1's optional column, written only when some site names its owner,
        # so a feed of v1 data exports a v1 folder
        frame["owner_id"] = pd.Series(owners, dtype=object)
    return frame


def export_folder(
    session: Session, out: Path, *, fmt: Format | str = "parquet", insurer_id: str | None = None
) -> Exported:
    if fmt not in ("csv", "parquet"):
        raise ExportError(f"unknown format {fmt!r}; csv or parquet")
    out = Path(out)
    clashing = [
        out / f"{t}{ext}"
        for t in spec.TABLES
        for ext in FORMATS
        if ext != f".{fmt}" and (out / f"{t}{ext}").exists()
    ]
    if clashing:
        raise ExportError(
            f"{clashing[0]} is in the way: a contract folder holds each table once; "
            "export into an empty folder or in the same format"
        )
    result = Exported()
    frames = {t: read_current(session, t, insurer_id) for t in spec.TABLES}
    claims = frames["claims"]
    if not claims.empty:
        shared = claims["claim_id"].duplicated(keep=False)
        if shared.any():
            qualified = claims["insurer_id"] + ":" + claims["claim_id"]
            claims["claim_id"] = claims["claim_id"].where(~shared, qualified)
            result.notes.append(
                f"{int(shared.sum())} claims share their claim_id with another insurer's "
                "and are written as <insurer_id>:<claim_id>"
            )
    frames["claims"] = claims.drop(columns=["insurer_id"])
    out.mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        path = out / f"{table}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False, date_format="%Y-%m-%d")
        else:
            frame.to_parquet(path, index=False)
        result.counts[table] = len(frame)
        result.paths.append(path)
    return result
