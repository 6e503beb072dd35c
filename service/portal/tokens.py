"""Signed, expiring tokens: the portal's sign-in cookie and the share links.

Both are itsdangerous signatures (HMAC-SHA256) over a small JSON payload that carries
its own expiry. Each kind has its own salt, so a session cookie can never be replayed
as a share link or the other way round. Nothing is stored server side: a token is
valid because the server signed it, until it expires or the secret changes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from itsdangerous import BadSignature, URLSafeSerializer

from models.settings import Settings

SESSION_SALT: Final = "siterisk.portal.session.v1"
SHARE_SALT: Final = "siterisk.portal.share.v1"


class TokenError(Exception):
    """A token that must not be honoured."""


class InvalidTokenError(TokenError):
    """Not signed by us, altered, truncated or of another kind."""


class ExpiredTokenError(TokenError):
    """Signed by us, but its time is up."""


@dataclass(frozen=True, slots=True)
class SessionClaims:
    key_id: int
    contractor_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ShareClaims:
    quote_id: str
    site_id: str
    expires_at: datetime
    key_id: int  # the API key that made the link: revoking it withdraws the link


def signing_secret(settings: Settings) -> str:
    """``portal_secret`` if set; else a key derived from the API-key pepper, so a
    deployment that keeps its pepper secret needs no second secret."""
    if settings.portal_secret is not None:
        return settings.portal_secret.get_secret_value()
    pepper = settings.key_pepper.get_secret_value().encode()
    return hmac.new(pepper, b"siterisk portal signing key v1", hashlib.sha256).hexdigest()


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class PortalSigner:
    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("the portal signing secret is empty")
        options = {"digest_method": hashlib.sha256}
        self._session = URLSafeSerializer(secret, salt=SESSION_SALT, signer_kwargs=options)
        self._share = URLSafeSerializer(secret, salt=SHARE_SALT, signer_kwargs=options)
        self._clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- sign-in -------------------------------------------------------------------------
    def session(self, key_id: int, contractor_id: str, ttl_seconds: int) -> str:
        expires = int(self._clock()) + ttl_seconds
        return str(self._session.dumps({"k": key_id, "c": contractor_id, "e": expires}))

    def read_session(self, token: str) -> SessionClaims:
        data = self._load(self._session, token)
        key_id, contractor_id = data.get("k"), data.get("c")
        if not isinstance(key_id, int) or not isinstance(contractor_id, str):
            raise InvalidTokenError("not a portal session")
        return SessionClaims(key_id, contractor_id, self._unexpired(data))

    # -- share links ---------------------------------------------------------------------
    def share(self, quote_id: str, site_id: str, expires_at: datetime, key_id: int) -> str:
        expires = int(expires_at.timestamp())
        return str(self._share.dumps({"q": quote_id, "s": site_id, "e": expires, "k": key_id}))

    def read_share(self, token: str) -> ShareClaims:
        data = self._load(self._share, token)
        quote_id, site_id, key_id = data.get("q"), data.get("s"), data.get("k")
        if (
            not isinstance(quote_id, str)
            or not isinstance(site_id, str)
            or not isinstance(key_id, int)
            or isinstance(key_id, bool)
        ):
            raise InvalidTokenError("not a share link")
        return ShareClaims(quote_id, site_id, self._unexpired(data), key_id)

    # -- common --------------------------------------------------------------------------
    @staticmethod
    def _load(serializer: URLSafeSerializer, token: str) -> dict[str, Any]:
        if not token or len(token) > 1024:
            raise InvalidTokenError("no token")
        try:
            data = serializer.loads(token)
        except BadSignature as exc:
            raise InvalidTokenError("bad signature") from exc
        if not isinstance(data, dict):
            raise InvalidTokenError("not a portal token")
        return data

    def _unexpired(self, data: dict[str, Any]) -> datetime:
        expires = data.get("e")
        if not isinstance(expires, int):
            raise InvalidTokenError("no expiry")
        if self._clock() >= expires:
            raise ExpiredTokenError("expired")
        return _moment(expires)
