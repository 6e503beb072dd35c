"""``/v1/sites``: graded site profiles for district regulators (分级管理, 差异化督查).

Only regulator keys, and only the sites of the key's districts: any other site,
existing or not, is the same 404. Answers hold grades, 工地画像 group scores against
the district's sites, data quality and trends — never a premium, an insurer or a claim
(:mod:`service.feed.profiles`).
"""

from __future__ import annotations

import functools
from typing import Annotated, Final

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlmodel import Session

from models.contract.spec import DISTRICTS
from models.pricing import Band, load_band
from models.pricing.grades import GradeRules, load_grades
from service.auth.guards import requires
from service.auth.principal import Principal, Role
from service.controllers.quotes import current_snapshot
from service.errors import error_responses
from service.feed.profiles import ProfileService
from service.feed.schemas import SitePage, SiteProfile
from service.model_provider import ModelProvider

PAGE_LIMIT_MAX: Final = 500


@functools.cache
def _rules() -> tuple[GradeRules, Band]:
    return load_grades(), load_band()


def _service(session: Session, provider: ModelProvider) -> ProfileService:
    grades, band = _rules()
    return ProfileService(session, current_snapshot(provider), grades, band)


class SitesController(Controller):
    path = "/v1/sites"
    tags = ["regulators"]  # noqa: RUF012
    guards = [requires(Role.regulator)]  # noqa: RUF012

    @get(
        "/",
        sync_to_thread=True,
        summary="Graded sites of the caller's districts, riskiest first (regulator keys)",
        responses=error_responses(401, 403, 404, 422, 429, 503),
    )
    def list_sites(
        self,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        model_provider: NamedDependency[ModelProvider],
        # The allowed values are documented (the service checks them and names the field).
        district: Annotated[
            str | None,
            QueryParameter(
                description=f"One of {', '.join(DISTRICTS)}.",
                schema_extra={"enum": list(DISTRICTS)},
            ),
        ] = None,
        grade: Annotated[
            str | None,
            QueryParameter(
                description="A to E.",
                schema_extra={"enum": [g.grade for g in _rules()[0].grades]},
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=PAGE_LIMIT_MAX)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=10**9)] = 0,
    ) -> SitePage:
        """Each site's risk grade (A lowest risk … E highest, from the model's percentile;
        cutoffs are versioned rule data named in ``grade_rules``), data-quality verdict
        and trend. Sites without smart-site data yet have no grade and come last."""
        return _service(db_session, model_provider).page(
            principal, district=district, grade=grade, limit=limit, offset=offset
        )

    @get(
        "/{site_id:str}/profile",
        sync_to_thread=True,
        summary="A site's 工地画像: grade, group scores against district peers, data "
        "quality, trend (regulator keys)",
        responses=error_responses(401, 403, 404, 429, 503),
    )
    def profile(
        self,
        site_id: FromPath[str],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        model_provider: NamedDependency[ModelProvider],
    ) -> SiteProfile:
        return _service(db_session, model_provider).profile(site_id, principal)
