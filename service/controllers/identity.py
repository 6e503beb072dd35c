"""``/v1/whoami``: the caller as the service sees it, to check a key works."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from service.auth.principal import Principal
from service.errors import error_responses


class IdentityController(Controller):
    path = "/v1"
    tags = ["identity"]  # noqa: RUF012

    @get(
        "/whoami",
        sync_to_thread=False,
        summary="The caller's key: role and scope",
        responses=error_responses(401, 429),
    )
    def whoami(self, principal: NamedDependency[Principal]) -> Principal:
        return principal
