"""Who may open the agreement pages: the owner or the contractor of an agreement, signed
in with their API key once (a signed, expiring cookie scoped to ``/portal/agreements``),
or a contractor already signed in to the portal (its session cookie is honoured here
too). Every page checks that the key behind the cookie is still live and of the same
role and party, so revoking a key signs its sessions out at once."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Final

from itsdangerous import BadSignature, URLSafeSerializer
from litestar.datastructures import Cookie
from sqlmodel import Session

from models.settings import Settings
from service.auth.principal import Principal, Role
from service.auth.resolver import KeyResolver
from service.db.tables import ApiKey
from service.errors import FieldError, ForbiddenError, InvalidInputError
from service.portal.access import PortalAccess
from service.portal.tokens import TokenError, signing_secret

AGREEMENTS_PATH: Final = "/portal/agreements"
AGREEMENT_COOKIE: Final = "srk_agreements"
SALT: Final = "siterisk.portal.agreements.v1"
PARTIES: Final = (Role.owner, Role.contractor)


@dataclass(frozen=True, slots=True)
class Reader:
    """A signed-in party and how it signed in."""

    principal: Principal
    own_cookie: bool  # False: through the contractor portal's session


class AgreementAccess:
    def __init__(self, settings: Settings, *, clock: float | None = None) -> None:
        self.settings = settings
        self.portal = PortalAccess(settings)
        self._serializer = URLSafeSerializer(
            signing_secret(settings), salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._now = clock

    def _clock(self) -> float:
        return time.time() if self._now is None else self._now

    @staticmethod
    async def sign_in(resolver: KeyResolver, key: str) -> Principal:
        """The owner or contractor behind a key; raises for any other key."""
        principal = await resolver.resolve(key.strip())
        if principal is None:
            raise InvalidInputError(
                "the key is not valid", fields=[FieldError("api_key", "not a valid key")]
            )
        if principal.role not in PARTIES:
            raise ForbiddenError("only owner and contractor keys read agreements here")
        return principal

    def cookie(self, principal: Principal) -> Cookie:
        seconds = self.settings.portal_session_minutes * 60
        party = principal.owner_id or principal.contractor_id
        token = self._serializer.dumps(
            {
                "k": principal.key_id,
                "r": principal.role.value,
                "p": party,
                "e": int(self._clock()) + seconds,
            }
        )
        return self._cookie(str(token), seconds)

    def clear_cookie(self) -> Cookie:
        return self._cookie("", 0)

    def _cookie(self, value: str, max_age: int) -> Cookie:
        return Cookie(
            key=AGREEMENT_COOKIE,
            value=value,
            max_age=max_age,
            path=AGREEMENTS_PATH,
            secure=self.portal.secure,
            httponly=True,
            samesite="lax",
        )

    def reader(self, own: str | None, portal: str | None, db: Session) -> Reader | None:
        """The live party behind this page's cookies, or None."""
        if own:
            principal = self._read(own, db)
            if principal is not None:
                return Reader(principal, own_cookie=True)
        if portal:
            state = self.portal.session(portal, db)
            if state.contractor is not None:
                principal = Principal(
                    key_id=state.contractor.key_id,
                    role=Role.contractor,
                    contractor_id=state.contractor.contractor_id,
                )
                return Reader(principal, own_cookie=False)
        return None

    def _read(self, token: str, db: Session) -> Principal | None:
        if len(token) > 1024:
            return None
        try:
            data = self._serializer.loads(token)
        except (BadSignature, TokenError):
            return None
        if not isinstance(data, dict):
            return None
        key_id, role, party, expires = data.get("k"), data.get("r"), data.get("p"), data.get("e")
        if (
            not isinstance(key_id, int)
            or not isinstance(party, str)
            or not isinstance(expires, int)
            or self._clock() >= expires
        ):
            return None
        row = db.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None or row.role != role:
            return None
        if role == Role.owner.value and row.owner_id == party:
            return Principal(key_id=key_id, role=Role.owner, owner_id=party)
        if role == Role.contractor.value and row.contractor_id == party:
            return Principal(key_id=key_id, role=Role.contractor, contractor_id=party)
        return None
