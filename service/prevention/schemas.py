"""What the prevention reports answer (docs/prevention.md), as msgspec structs."""

from __future__ import annotations

from msgspec import Struct

from service.quotes.schemas import Text


class BudgetCell(Struct, frozen=True, kw_only=True):
    """One district and risk grade of an insurer's policies."""

    district: str
    district_label: Text
    grade: str  # A-E of the grade rules, by the quote's risk percentile
    policies: int  # (site, policy start) pairs, each its latest quote
    sites: int
    budget_cny: float  # Σ prevention budget
    planned_cny: float  # Σ cost of the services planned within the budgets


class FindingCell(Struct, frozen=True, kw_only=True):
    """What the insurer's prevention services found at the sites of one cell: hazard
    tickets of source ``insurer`` found within the policies' terms."""

    district: str
    grade: str
    sites: int  # sites with a policy in the cell
    tickets: int
    major: int  # of them, level major (重大隐患)
    rectified: int  # of them, rectified by now (rectified_on set)
    open: int  # of them, not rectified


class InsurerPreventionReport(Struct, frozen=True, kw_only=True):
    insurer_id: str
    grade_rules: str  # the grade rules' version
    policies: int
    sites: int
    budget_cny: float
    planned_cny: float
    cells: list[BudgetCell]  # by district, then grade
    # the findings need the event contract's hazard tickets: the admin command's
    # --events FOLDER; None when not asked
    findings: list[FindingCell] | None = None
    findings_source: str | None = None


class DistrictBudget(Struct, frozen=True, kw_only=True):
    """One district of every insurer's prevention budgets: no insurer, rate or premium.
    A district of fewer than ``min_sites`` sites shows neither figure."""

    district: str
    district_label: Text
    suppressed: bool
    sites: int | None
    budget_cny: float | None


class RegulatorPreventionReport(Struct, frozen=True, kw_only=True):
    min_sites: int
    districts: list[DistrictBudget]  # the caller's districts, each with policies
