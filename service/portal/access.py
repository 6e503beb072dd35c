"""Who may see a portal page: a signed-in contractor, or the holder of a share link.

Sign-in takes a contractor API key once and answers a signed, expiring session cookie
(HttpOnly, SameSite=Lax, Secure unless configured otherwise, scoped to ``/portal``);
the key itself is never stored in the browser. Every page checks again that the key
behind the session is still a live contractor key, so revoking the key signs its
sessions out at once. A share link names one quote of one site and opens nothing else.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from litestar.datastructures import Cookie
from sqlmodel import Session

from models.settings import Settings
from service.auth.principal import Principal, Role
from service.auth.resolver import KeyResolver
from service.db.tables import ApiKey
from service.errors import FieldError, ForbiddenError, InvalidInputError, NotFoundError
from service.portal.tokens import (
    ExpiredTokenError,
    PortalSigner,
    SessionClaims,
    TokenError,
    signing_secret,
)
from service.quotes.store import QuoteStore

COOKIE_PATH: Final = "/portal"
SESSION_COOKIE: Final = "srk_portal"
CSRF_COOKIE: Final = "srk_csrf"
LANG_COOKIE: Final = "srk_lang"
LANG_SECONDS: Final = 365 * 24 * 3600
SHARE_PATH: Final = "/portal/s/"


class LinkExpiredError(ForbiddenError):
    """A share link we signed whose time is up: say so, rather than "not found"."""

    code = "link_expired"
    default_message = "this link has expired"


class LinkWithdrawnError(ForbiddenError):
    """A share link whose maker's API key was revoked since: the insurer withdrew it."""

    code = "link_withdrawn"
    default_message = "this link was withdrawn"


@dataclass(frozen=True, slots=True)
class Contractor:
    """A signed-in contractor."""

    key_id: int
    contractor_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionState:
    contractor: Contractor | None
    expired: bool  # a session cookie was there but is no longer good


@dataclass(frozen=True, slots=True)
class SharedLink:
    quote_id: str
    site_id: str
    path: str
    expires_at: datetime


class PortalAccess:
    def __init__(self, settings: Settings, signer: PortalSigner | None = None) -> None:
        self.settings = settings
        self.signer = signer or PortalSigner(signing_secret(settings))
        self.secure = settings.portal_cookies_secure

    # -- cookies -------------------------------------------------------------------------
    def _cookie(self, key: str, value: str, max_age: int, samesite: str = "lax") -> Cookie:
        return Cookie(
            key=key,
            value=value,
            max_age=max_age,
            path=COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite=samesite,  # type: ignore[arg-type]
        )

    def session_cookie(self, principal: Principal) -> Cookie:
        seconds = self.settings.portal_session_minutes * 60
        if principal.contractor_id is None:  # pragma: no cover - login checks the role
            raise ValueError("only contractor keys sign in to the portal")
        token = self.signer.session(principal.key_id, principal.contractor_id, seconds)
        return self._cookie(SESSION_COOKIE, token, seconds)

    def clear_session_cookie(self) -> Cookie:
        return self._cookie(SESSION_COOKIE, "", 0)

    def lang_cookie(self, lang: str) -> Cookie:
        return self._cookie(LANG_COOKIE, lang, LANG_SECONDS)

    def csrf_cookie(self, nonce: str) -> Cookie:
        # Strict: the form token only ever travels with our own pages' posts.
        return self._cookie(CSRF_COOKIE, nonce, self.settings.portal_session_minutes * 60, "strict")

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    def csrf_ok(cookie: str | None, submitted: str | None) -> bool:
        """Double submit: the form carries the value of a cookie another site cannot read."""
        if not cookie or not submitted:
            return False
        return hmac.compare_digest(cookie.encode(), submitted.encode())

    # -- sign-in ---------------------------------------------------------------------------
    @staticmethod
    async def sign_in(resolver: KeyResolver, key: str) -> Principal:
        """The contractor behind a key; raises for any other key."""
        principal = await resolver.resolve(key.strip())
        if principal is None:
            raise InvalidInputError(
                "the key is not valid", fields=[FieldError("api_key", "not a valid key")]
            )
        if principal.role is not Role.contractor or not principal.contractor_id:
            raise ForbiddenError("only contractor keys may sign in to the portal")
        return principal

    def session(self, token: str | None, db: Session) -> SessionState:
        if not token:
            return SessionState(None, expired=False)
        try:
            claims = self.signer.read_session(token)
        except TokenError:
            return SessionState(None, expired=True)
        contractor = self._live(claims, db)
        return SessionState(contractor, expired=contractor is None)

    @staticmethod
    def _live(claims: SessionClaims, db: Session) -> Contractor | None:
        row = db.get(ApiKey, claims.key_id)
        if (
            row is None
            or row.revoked_at is not None
            or row.role != Role.contractor.value
            or row.contractor_id != claims.contractor_id
        ):
            return None
        return Contractor(claims.key_id, claims.contractor_id, claims.expires_at)

    # -- share links -------------------------------------------------------------------------
    def share(
        self, store: QuoteStore, principal: Principal, quote_id: str, days: int | None
    ) -> SharedLink:
        """A link to one of the caller's quotes; another owner's quote is not found."""
        limit = self.settings.portal_share_max_days
        days = self.settings.portal_share_days if days is None else days
        if not 1 <= days <= limit:
            raise InvalidInputError(
                f"expires_in_days must be between 1 and {limit}",
                fields=[FieldError("expires_in_days", f"between 1 and {limit}")],
            )
        quote = store.get(quote_id, principal)
        if quote is None:
            raise NotFoundError(f"no quote {quote_id!r}")
        expires = self.signer.now().replace(microsecond=0) + timedelta(days=days)
        token = self.signer.share(quote.quote_id, quote.site_id, expires, principal.key_id)
        return SharedLink(quote.quote_id, quote.site_id, SHARE_PATH + token, expires)

    def open_link(self, token: str, db: Session) -> tuple[str, str, datetime]:
        """(quote_id, site_id, expiry) of a link; altered -> not found, expired -> 403,
        made with an API key that has been revoked since -> 403 (withdrawn)."""
        try:
            claims = self.signer.read_share(token)
        except ExpiredTokenError:
            raise LinkExpiredError() from None
        except TokenError:
            raise NotFoundError("no such link") from None
        maker = db.get(ApiKey, claims.key_id)
        if maker is None or maker.revoked_at is not None:
            raise LinkWithdrawnError()
        return claims.quote_id, claims.site_id, claims.expires_at
