"""What an agreement is evaluated on, read from the feed: the site's months of the
period with their revisions, the rows of other sites of its project type in those
months (class percentiles), and the feed's claims on the site (every insurer, counted
by date and severity, never amounts or insurer names).

The inputs travel as plain JSON too: a settlement stores them beside its statement,
so a replay recomputes the same bytes however the feed changed since.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, func, select
from sqlmodel import Session

from models.contract import spec
from models.incentives import MonthRow, PeerRow, RuleSet, SiteClaim, SiteClass
from service.db.tables import IncentiveAgreement
from service.feed.rows import chunks
from service.feed.store import CURRENT, HISTORY, IN_CHUNK

# Every site_months figure a criterion may read (numbers; None: not reported).
VALUE_COLUMNS: Final = tuple(
    c.name for c in spec.columns("site_months") if c.kind in ("float", "int")
)
# What per-10k and unrectified-hazard figures read besides their own column.
EXPOSURE: Final = ("worker_hours", "hazards_found", "hazard_rectification_rate")


@dataclass(frozen=True)
class EvaluationInputs:
    site_class: SiteClass
    months: tuple[str, ...]
    rows: tuple[MonthRow, ...]
    peers: tuple[PeerRow, ...]
    claims: tuple[SiteClaim, ...]
    claims_data: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "site_class": {
                "project_type": self.site_class.project_type,
                "stage": self.site_class.stage,
            },
            "months": list(self.months),
            "rows": [
                {"month": r.month, "stage": r.stage, "revision": r.revision, "values": r.values}
                for r in self.rows
            ],
            "peers": [
                {
                    "site_id": p.site_id,
                    "month": p.month,
                    "project_type": p.project_type,
                    "stage": p.stage,
                    "values": p.values,
                }
                for p in self.peers
            ],
            "claims": [
                {"incident_date": c.incident_date.isoformat(), "severity": c.severity}
                for c in self.claims
            ],
            "claims_data": self.claims_data,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> EvaluationInputs:
        return cls(
            site_class=SiteClass(**raw["site_class"]),
            months=tuple(raw["months"]),
            rows=tuple(
                MonthRow(r["month"], r["stage"], int(r["revision"]), dict(r["values"]))
                for r in raw["rows"]
            ),
            peers=tuple(
                PeerRow(p["site_id"], p["month"], p["project_type"], p["stage"], dict(p["values"]))
                for p in raw["peers"]
            ),
            claims=tuple(
                SiteClaim(dt.date.fromisoformat(c["incident_date"]), c["severity"])
                for c in raw["claims"]
            ),
            claims_data=bool(raw["claims_data"]),
        )


def ranked_columns(rule_set: RuleSet) -> tuple[str, ...]:
    """The site_months columns class percentiles of ``rule_set`` read of peers."""
    wanted: set[str] = set()
    for criterion in rule_set.criteria():
        if criterion.ranking is None:
            continue
        wanted.update(EXPOSURE)
        if criterion.ranking.column:
            wanted.add(criterion.ranking.column)
    return tuple(c for c in VALUE_COLUMNS if c in wanted)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def latest_fed_month(session: Session) -> str | None:
    """The newest month any site has data for: how far the platform's feed has got."""
    sm = CURRENT["site_months"]
    found = session.connection().execute(select(func.max(sm.c.month))).scalar()
    return None if found is None else str(found)


def claims_data_for(session: Session, site_id: str, insurer_id: str | None) -> bool:
    """Whether the feed holds claims data for the site: a claim on it from any insurer,
    or the agreement names an insurer that feeds its claims to the service (its silence
    about the site then means no claims). Otherwise "no claims" is not evidence."""
    claim = CURRENT["claims"]
    connection = session.connection()
    on_site = connection.execute(select(claim.c.site_id).where(claim.c.site_id == site_id).limit(1))
    if on_site.first() is not None:
        return True
    if insurer_id is None:
        return False
    feeds = connection.execute(
        select(claim.c.insurer_id).where(claim.c.insurer_id == insurer_id).limit(1)
    )
    return feeds.first() is not None


def read_inputs(
    session: Session,
    agreement: IncentiveAgreement,
    rule_set: RuleSet,
    months: Sequence[str],
) -> EvaluationInputs:
    """The feed's data for ``months`` (of the agreement's period) as it stands now."""
    site_t, sm, claim = CURRENT["sites"], CURRENT["site_months"], CURRENT["claims"]
    connection = session.connection()
    site = (
        connection.execute(select(site_t).where(site_t.c.site_id == agreement.site_id))
        .mappings()
        .first()
    )
    if site is None:  # pragma: no cover - registration checks the site; sites are never deleted
        raise LookupError(f"no stored site {agreement.site_id!r}")
    project_type = str(site["project_type"])
    own: list[MonthRow] = []
    if months:
        first, last = months[0], months[-1]
        for r in connection.execute(
            select(sm)
            .where(sm.c.site_id == agreement.site_id, sm.c.month >= first, sm.c.month <= last)
            .order_by(sm.c.month)
        ).mappings():
            values = {c: _number(r[c]) for c in VALUE_COLUMNS}
            own.append(MonthRow(str(r["month"]), str(r["stage"]), int(r["version"]), values))
    stage = own[-1].stage if own else _latest_stage(session, agreement.site_id)
    peers: list[PeerRow] = []
    columns = ranked_columns(rule_set)
    if months and columns:
        query = (
            select(sm.c.site_id, sm.c.month, sm.c.stage, *(sm.c[c] for c in columns))
            .join(site_t, site_t.c.site_id == sm.c.site_id)
            .where(
                site_t.c.project_type == project_type,
                sm.c.site_id != agreement.site_id,
                sm.c.month >= months[0],
                sm.c.month <= months[-1],
            )
            .order_by(sm.c.site_id, sm.c.month)
        )
        for r in connection.execute(query).mappings():
            values = {c: _number(r[c]) for c in columns}
            peers.append(
                PeerRow(str(r["site_id"]), str(r["month"]), project_type, str(r["stage"]), values)
            )
    claims: list[SiteClaim] = []
    if months:
        start = _first_day(months[0])
        end = _first_day(_next_month(months[-1]))
        query = (
            select(claim.c.incident_date, claim.c.severity)
            .where(
                and_(
                    claim.c.site_id == agreement.site_id,
                    claim.c.incident_date >= start,
                    claim.c.incident_date < end,
                )
            )
            .order_by(claim.c.incident_date, claim.c.severity)
        )
        claims = [SiteClaim(r.incident_date, str(r.severity)) for r in connection.execute(query)]
    return EvaluationInputs(
        site_class=SiteClass(project_type, stage),
        months=tuple(months),
        rows=tuple(own),
        peers=tuple(peers),
        claims=tuple(claims),
        claims_data=claims_data_for(session, agreement.site_id, agreement.insurer_id),
    )


def stored_row_versions(
    session: Session, site_id: str, wanted: Mapping[str, int]
) -> dict[str, dict[str, float | None]]:
    """The feed's values of the site's rows at the given (month -> version), from the
    current rows or the history of replaced ones; months not found are left out."""
    sm = CURRENT["site_months"]
    history = HISTORY["site_months"]
    found: dict[str, dict[str, float | None]] = {}
    connection = session.connection()
    months = sorted(wanted)
    for part in chunks(months, IN_CHUNK):
        for table in (sm, history):
            query = select(table).where(table.c.site_id == site_id, table.c.month.in_(part))
            for r in connection.execute(query).mappings():
                month = str(r["month"])
                if int(r["version"]) == wanted.get(month):
                    found[month] = {c: _number(r[c]) for c in VALUE_COLUMNS}
    return found


def _latest_stage(session: Session, site_id: str) -> str:
    sm = CURRENT["site_months"]
    found = session.connection().execute(
        select(sm.c.stage).where(sm.c.site_id == site_id).order_by(sm.c.month.desc()).limit(1)
    )
    row = found.first()
    return str(row[0]) if row is not None else spec.STAGES[0]


def _first_day(month: str) -> dt.date:
    return dt.date(int(month[:4]), int(month[5:7]), 1)


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12}-{number % 12 + 1:02d}"
