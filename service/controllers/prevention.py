"""Prevention reports over HTTP (docs/prevention.md): ``/v1/prevention/report`` for an
insurer's own budgets by district and risk grade, ``/v1/prevention/districts`` for a
regulator's districts, every insurer together and small districts suppressed. Any
other caller gets the same 404 as a path that does not exist: these reports are not
confirmed to anyone else."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlmodel import Session

from service.auth.principal import Principal, Role
from service.errors import NotFoundError, error_responses
from service.prevention.report import insurer_report, regulator_report
from service.prevention.schemas import InsurerPreventionReport, RegulatorPreventionReport


class PreventionController(Controller):
    path = "/v1/prevention"
    tags = ["prevention"]  # noqa: RUF012

    @get(
        "/report",
        sync_to_thread=True,
        summary="The calling insurer's prevention budgets by district and risk grade",
        responses=error_responses(401, 404, 429),
    )
    def report(
        self, principal: NamedDependency[Principal], db_session: NamedDependency[Session]
    ) -> InsurerPreventionReport:
        """The budgets of the insurer's policies priced with a rate book (the latest
        quote of each site and start month), and the cost of the services planned
        within them. What the services found needs the event contract's hazard tickets:
        ``siterisk prevention report INSURER --events FOLDER`` (admin)."""
        if principal.role is not Role.insurer or not principal.insurer_id:
            raise NotFoundError("not found")
        return insurer_report(db_session, principal.insurer_id)

    @get(
        "/districts",
        sync_to_thread=True,
        summary="Every insurer's prevention budgets by district (regulator keys)",
        responses=error_responses(401, 404, 429),
    )
    def districts(
        self, principal: NamedDependency[Principal], db_session: NamedDependency[Session]
    ) -> RegulatorPreventionReport:
        """The caller's districts: sites and budget, a district of fewer than five sites
        suppressed; no insurer, rate or premium."""
        if principal.role is not Role.regulator:
            raise NotFoundError("not found")
        return regulator_report(db_session, principal.districts)
