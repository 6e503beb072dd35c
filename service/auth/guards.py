"""Route guards: which roles may call a handler (401 without a principal, else 403)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from service.auth.principal import Principal, Role
from service.errors import ForbiddenError, UnauthorizedError


def principal_from(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise UnauthorizedError()
    return principal


def requires(*roles: Role) -> Guard:
    """``guards=[requires(Role.insurer, Role.admin)]`` on a handler, controller or router."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(role.value for role in allowed))

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_from(connection)
        if principal.role not in allowed:
            raise ForbiddenError(f"a {principal.role.value} key may not call this; needs {names}")

    return guard
