"""Liveness, readiness and metrics: public, so orchestrators and scrapers need no key."""

from __future__ import annotations

from typing import Literal

import anyio.to_thread
import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from service.runtime import runtime_of

PUBLIC = {"exclude_from_auth": True}


class Live(msgspec.Struct, frozen=True):
    status: Literal["live"] = "live"


class Check(msgspec.Struct, frozen=True):
    ok: bool
    detail: str


class Readiness(msgspec.Struct, frozen=True):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]
    warnings: list[str]


class HealthController(Controller):
    path = "/health"
    tags = ["health"]  # noqa: RUF012 - Litestar reads these as class attributes
    opt = PUBLIC
    security = [{}]  # noqa: RUF012 - "no key needed" in OpenAPI terms

    @get("/live", sync_to_thread=False, summary="The process is up (checks nothing else)")
    def live(self) -> Live:
        return Live()

    @get(
        "/ready",
        summary="Ready to price: the database answers at the right schema and a model is loaded",
        responses={503: ResponseSpec(data_container=Readiness, description="Not ready")},
    )
    async def ready(self, state: State) -> Response[Readiness]:
        runtime = runtime_of(state)
        db_ok, db_detail = await anyio.to_thread.run_sync(
            runtime.database.check, runtime.schema_revision
        )
        model_ok, model_detail = runtime.model_provider.ready()
        checks = {"database": Check(db_ok, db_detail), "model": Check(model_ok, model_detail)}
        ready = db_ok and model_ok
        body = Readiness("ready" if ready else "not_ready", checks, runtime.warnings())
        return Response(body, status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE)


@get("/metrics", sync_to_thread=False, include_in_schema=False, opt=PUBLIC)
def metrics(state: State) -> Response[bytes]:
    runtime = runtime_of(state)
    return Response(runtime.metrics.render(), media_type=runtime.metrics.content_type)
