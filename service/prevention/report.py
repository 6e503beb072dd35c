"""Prevention budgets from the stored quotes, and what the services found
(docs/prevention.md).

A policy is a (site, policy start month) of one insurer; of its quotes the latest
counts (a site quoted again for the same start is the same policy, re-priced). Only
quotes priced with a rate book have a budget; the rest are not prevention policies.

- :func:`insurer_report`: one insurer's budgets by district and risk grade (the
  regulator grades A–E of the quote's risk percentile, ``models/pricing/grades``),
  and, given the hazard tickets, what its services found within the policies' terms;
- :func:`regulator_report`: every insurer's budgets by district, for a regulator's
  districts, a district of fewer than ``MIN_SITES`` sites suppressed whole. No
  insurer is named and no rate or premium leaves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from sqlalchemy import select
from sqlmodel import Session, col

from models.contract.spec import DISTRICT_LABELS
from models.pricing.grades import GradeRules, load_grades
from models.pricing.history import month_number
from service.db.tables import Quote
from service.prevention.schemas import (
    BudgetCell,
    DistrictBudget,
    FindingCell,
    InsurerPreventionReport,
    RegulatorPreventionReport,
)
from service.quotes.schemas import Text

MIN_SITES: Final = 5  # a regulator's cell of fewer sites is suppressed
UNKNOWN_DISTRICT: Final = "unknown"


@dataclass(frozen=True, slots=True)
class Policy:
    """One policy's latest quote, as the reports read it."""

    site_id: str
    district: str
    start_month: str
    term_months: int
    percentile: float
    budget: Decimal
    planned: Decimal

    def covers(self, day: dt.date) -> bool:
        """Whether ``day`` falls within the policy's term."""
        first = month_number(self.start_month)
        return first <= day.year * 12 + day.month - 1 < first + self.term_months


@dataclass(frozen=True, slots=True)
class Ticket:
    """A hazard ticket of source ``insurer`` (the event contract's hazard_tickets)."""

    site_id: str
    found_on: dt.date
    level: str  # general | major
    rectified_on: dt.date | None


def _cents(value: float | None) -> Decimal:
    return Decimal(repr(float(value or 0.0))).quantize(Decimal("0.01"))


def policies(session: Session, insurer_id: str | None = None) -> list[Policy]:
    """The latest quote of each (insurer, site, start month) priced with a rate book,
    reading five figures of each stored answer, not the whole document."""
    answer = col(Quote.response)
    start = answer["start_month"].as_string()
    term = answer["term_months"].as_integer()
    percentile = answer["risk"]["percentile"].as_float()
    budget = answer["pricing"]["prevention_budget_cny"].as_float()
    planned = answer["prevention"]["cost_cny"].as_float()
    query = select(
        col(Quote.insurer_id),
        col(Quote.site_id),
        col(Quote.district),
        start,
        term,
        percentile,
        budget,
        planned,
    ).order_by(col(Quote.created_at).desc(), col(Quote.id).desc())
    if insurer_id is not None:
        query = query.where(col(Quote.insurer_id) == insurer_id)
    seen: set[tuple[str, str, str]] = set()
    out: list[Policy] = []
    for owner, site_id, district, month, months, pct, money, cost in session.execute(query):
        key = (owner, site_id, str(month))
        if key in seen:
            continue
        seen.add(key)
        if money is None:  # the latest quote of the policy had no rate book
            continue
        out.append(
            Policy(
                site_id=site_id,
                district=district or UNKNOWN_DISTRICT,
                start_month=str(month),
                term_months=int(months),
                percentile=float(pct),
                budget=_cents(money),
                planned=_cents(cost),
            )
        )
    return out


def _label(district: str) -> Text:
    zh, en = DISTRICT_LABELS.get(district, (district, district))
    return Text(zh=zh, en=en)


def budget_cells(found: Sequence[Policy], grades: GradeRules) -> list[BudgetCell]:
    """Budgets by district and grade, in that order."""
    cells: dict[tuple[str, str], list[Policy]] = {}
    for p in found:
        cells.setdefault((p.district, grades.grade(p.percentile).grade), []).append(p)
    return [
        BudgetCell(
            district=district,
            district_label=_label(district),
            grade=grade,
            policies=len(ps),
            sites=len({p.site_id for p in ps}),
            budget_cny=float(sum((p.budget for p in ps), Decimal("0.00"))),
            planned_cny=float(sum((p.planned for p in ps), Decimal("0.00"))),
        )
        for (district, grade), ps in sorted(cells.items())
    ]


def finding_cells(
    found: Sequence[Policy], tickets: Iterable[Ticket], grades: GradeRules
) -> list[FindingCell]:
    """The insurer's tickets by the district and grade of the policy whose term they
    fall in; a ticket outside every policy's term is not the policies' and is left out,
    one within two overlapping policies of a site counts once, for the later start."""
    by_site: dict[str, list[Policy]] = {}
    for p in sorted(found, key=lambda p: p.start_month, reverse=True):
        by_site.setdefault(p.site_id, []).append(p)
    counts: dict[tuple[str, str], list[int]] = {}
    sites: dict[tuple[str, str], set[str]] = {}
    for p in found:
        key = (p.district, grades.grade(p.percentile).grade)
        counts.setdefault(key, [0, 0, 0])
        sites.setdefault(key, set()).add(p.site_id)
    for t in tickets:
        policy = next((p for p in by_site.get(t.site_id, []) if p.covers(t.found_on)), None)
        if policy is None:
            continue
        c = counts[(policy.district, grades.grade(policy.percentile).grade)]
        c[0] += 1
        c[1] += t.level == "major"
        c[2] += t.rectified_on is not None
    return [
        FindingCell(
            district=district,
            grade=grade,
            sites=len(sites[(district, grade)]),
            tickets=n,
            major=major,
            rectified=done,
            open=n - done,
        )
        for (district, grade), (n, major, done) in sorted(counts.items())
    ]


def insurer_report(
    session: Session,
    insurer_id: str,
    *,
    tickets: Iterable[Ticket] | None = None,
    tickets_source: str | None = None,
) -> InsurerPreventionReport:
    grades = load_grades()
    found = policies(session, insurer_id)
    return InsurerPreventionReport(
        insurer_id=insurer_id,
        grade_rules=grades.version,
        policies=len(found),
        sites=len({p.site_id for p in found}),
        budget_cny=float(sum((p.budget for p in found), Decimal("0.00"))),
        planned_cny=float(sum((p.planned for p in found), Decimal("0.00"))),
        cells=budget_cells(found, grades),
        findings=None if tickets is None else finding_cells(found, tickets, grades),
        findings_source=None if tickets is None else tickets_source,
    )


def regulator_report(session: Session, districts: Sequence[str]) -> RegulatorPreventionReport:
    """Every insurer's budgets in ``districts``, by district only: a district of fewer
    than MIN_SITES distinct sites shows neither its sites nor its budget. There is no
    total row, so a suppressed district cannot be worked out from the others."""
    wanted = set(districts)
    by_district: dict[str, list[Policy]] = {}
    for p in policies(session):
        if p.district in wanted:
            by_district.setdefault(p.district, []).append(p)
    out = []
    for district, ps in sorted(by_district.items()):
        n = len({p.site_id for p in ps})
        small = n < MIN_SITES
        out.append(
            DistrictBudget(
                district=district,
                district_label=_label(district),
                suppressed=small,
                sites=None if small else n,
                budget_cny=(None if small else float(sum((p.budget for p in ps), Decimal("0.00")))),
            )
        )
    return RegulatorPreventionReport(min_sites=MIN_SITES, districts=out)


def tickets_from_events(folder: str) -> list[Ticket]:
    """The hazard tickets of source ``insurer`` in an events folder, checked against the
    whole event contract first (``models.events``; a broken folder raises
    ContractError naming every problem)."""
    from pathlib import Path

    from models.events.load import load_events

    events = load_events(Path(folder))
    rows = events.con.execute(
        "SELECT site_id, found_on, level, rectified_on FROM hazard_tickets "
        "WHERE source = 'insurer' ORDER BY site_id, found_on"
    ).fetchall()
    return [Ticket(str(s), found, str(level), fixed) for s, found, level, fixed in rows]
