"""``Authorization: Bearer <key>`` on every route except the public ones.

Public routes either carry ``opt={"exclude_from_auth": True}`` or match
:data:`PUBLIC_PATHS` (the OpenAPI router, which the app does not define itself).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from service.auth.resolver import KeyResolver
from service.errors import UnauthorizedError

PUBLIC_PATHS = ["^/schema(/|$)"]


class ApiKeyAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, resolver: KeyResolver) -> None:
        super().__init__(app, exclude=PUBLIC_PATHS)
        self.resolver = resolver

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if not header:
            raise UnauthorizedError("an API key is required: send 'Authorization: Bearer <key>'")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("send the API key as 'Authorization: Bearer <key>'")
        principal = await self.resolver.resolve(token.strip())
        if principal is None:
            raise UnauthorizedError("the API key is not valid or was revoked", invalid_token=True)
        return AuthenticationResult(user=principal, auth=principal.key_id)
