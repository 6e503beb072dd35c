"""``/v1/agreements``: incentive agreements between a site's owner and its contractor
(docs/contract-incentives.md, "API"). A caller sees an agreement only as one of its
parties (owner, contractor, or the insurer it names); for any other key, whatever its
role, an agreement answers the same 404 as a missing one. Only owner keys register."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter, SkipValidation
from sqlmodel import Session

from models.contract.spec import ID_PATTERN, MONTH_PATTERN
from service.agreements.schemas import (
    AgreementIn,
    AgreementOut,
    AgreementPage,
    EvaluationOut,
    ReplayOut,
    StatementInfo,
)
from service.agreements.service import AgreementService
from service.auth.principal import Principal
from service.errors import error_responses

AgreementId = Annotated[
    str, PathParameter(max_length=36, description="The agreement version's id.")
]


class AgreementsController(Controller):
    path = "/v1/agreements"
    tags = ["agreements"]  # noqa: RUF012

    @post(
        "/",
        status_code=201,
        sync_to_thread=True,
        summary="Register an agreement (or a new version) for one of the owner's sites",
        responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429),
    )
    def register(
        self,
        # documented as AgreementIn; read (strictly, fields named) by the service
        data: SkipValidation[JSONBody[AgreementIn]],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> AgreementOut:
        return AgreementService(db_session).register(data, principal)

    @get("/", sync_to_thread=True, summary="The caller's agreements, newest first")
    def listed(
        self,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        site_id: Annotated[
            str | None, QueryParameter(pattern=ID_PATTERN, description="Only this site's.")
        ] = None,
    ) -> AgreementPage:
        return AgreementPage(items=AgreementService(db_session).listed(principal, site_id))

    @get("/{agreement_id:str}", sync_to_thread=True, summary="One agreement and its state")
    def one(
        self,
        agreement_id: AgreementId,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> AgreementOut:
        return AgreementService(db_session).get(agreement_id, principal)

    @post(
        "/{agreement_id:str}/accept",
        status_code=200,
        sync_to_thread=True,
        summary="Accept the agreement as its owner or its contractor",
        responses=error_responses(401, 403, 404, 409, 429),
    )
    def accept(
        self,
        agreement_id: AgreementId,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> AgreementOut:
        return AgreementService(db_session).accept(agreement_id, principal)

    @get(
        "/{agreement_id:str}/evaluation",
        sync_to_thread=True,
        summary="Each criterion month by month and cumulatively, from the feed's data now",
    )
    def evaluation(
        self,
        agreement_id: AgreementId,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        through: Annotated[
            str | None,
            QueryParameter(pattern=MONTH_PATTERN, description="Evaluate through this month."),
        ] = None,
    ) -> EvaluationOut:
        return AgreementService(db_session).evaluate(agreement_id, principal, through)

    @post(
        "/{agreement_id:str}/statement",
        status_code=201,
        sync_to_thread=True,
        summary="Settle a closed period: issue (once) and store the statement",
        responses=error_responses(401, 403, 404, 409, 429),
    )
    def settle(
        self,
        agreement_id: AgreementId,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> Response[StatementInfo]:
        info = AgreementService(db_session).settle(agreement_id, principal)
        return Response(info, status_code=201 if info.created else 200)

    @get(
        "/{agreement_id:str}/statement",
        sync_to_thread=True,
        summary="The stored statement: its canonical JSON, byte for byte",
        media_type="application/json",
    )
    def statement(
        self,
        agreement_id: AgreementId,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> Response[bytes]:
        stored = AgreementService(db_session).statement(agreement_id, principal)
        return Response(
            stored.body.encode(),
            media_type="application/json",
            headers={"X-Content-Hash": stored.content_hash, "X-Statement-Id": stored.id},
        )

    @post(
        "/{agreement_id:str}/statement/replay",
        status_code=200,
        sync_to_thread=True,
        summary="Recompute the stored statement from its inputs and compare the bytes",
        responses=error_responses(401, 403, 404, 429),
    )
    def replay(
        self,
        agreement_id: AgreementId,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> ReplayOut:
        return AgreementService(db_session).replay(agreement_id, principal)
