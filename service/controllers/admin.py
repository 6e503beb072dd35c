"""``/v1/admin``: API keys and rule sets, for admin keys only (the model's reload is in
:mod:`service.controllers.model`). The same operations as ``siterisk keys …``; a key
revoked or rotated here stops working at once in every worker
(:mod:`service.auth.revocation`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final, Literal

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlmodel import Session

from models.pricing import available_versions
from models.pricing.rulesets import Kind
from models.settings import Settings
from service.auth.guards import requires
from service.auth.principal import Role
from service.auth.store import ApiKeyStore, IssuedKey, KeySpec
from service.db.tables import ApiKey
from service.errors import error_responses
from service.quotes.pricing_service import PricingRules

# A key's id is an INTEGER column: anything beyond it is a 422, not a driver overflow.
KeyId = Annotated[int, PathParameter(ge=1, le=2**31 - 1, description="The key's id.")]
RoleName = Literal["insurer", "contractor", "admin", "platform", "regulator", "owner"]
KINDS: Final[tuple[Kind, ...]] = ("tariff", "band", "incentives")


class KeyRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: RoleName
    insurer_id: str | None = None
    contractor_id: str | None = None
    districts: list[str] = msgspec.field(default_factory=list)
    label: str | None = None
    owner_id: str | None = None


class KeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A key as it is stored, without anything that works as the key."""

    id: int
    prefix: str
    role: str
    insurer_id: str | None
    contractor_id: str | None
    districts: list[str]
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    rotated_from_id: int | None
    owner_id: str | None = None


class NewKey(msgspec.Struct, frozen=True, kw_only=True):
    """The only answer that carries a key: keep it, it cannot be shown again."""

    key: str
    info: KeyInfo


class RuleVersions(msgspec.Struct, frozen=True, kw_only=True):
    in_use: str
    available: list[str]


def _info(row: ApiKey) -> KeyInfo:
    assert row.id is not None
    return KeyInfo(
        id=row.id,
        prefix=row.prefix,
        role=row.role,
        insurer_id=row.insurer_id,
        contractor_id=row.contractor_id,
        districts=list(row.districts),
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        rotated_from_id=row.rotated_from_id,
        owner_id=row.owner_id,
    )


def _new(issued: IssuedKey) -> NewKey:
    return NewKey(key=issued.key, info=_info(issued.row))


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]  # noqa: RUF012
    guards = [requires(Role.admin)]  # noqa: RUF012

    @get(
        "/keys",
        sync_to_thread=True,
        summary="Every API key (never a secret or a hash)",
        responses=error_responses(401, 403, 429),
    )
    def list_keys(
        self,
        db_session: NamedDependency[Session],
        active: Annotated[bool, QueryParameter(description="Hide revoked keys.")] = False,
    ) -> list[KeyInfo]:
        return [_info(r) for r in ApiKeyStore(db_session, "").list(include_revoked=not active)]

    @post(
        "/keys",
        status_code=201,
        sync_to_thread=True,
        summary="Issue a key; the answer is the only place it is ever shown",
        responses=error_responses(400, 401, 403, 422, 429),
    )
    def create_key(
        self,
        data: JSONBody[KeyRequest],
        db_session: NamedDependency[Session],
        settings: NamedDependency[Settings],
    ) -> NewKey:
        spec = KeySpec.parse(
            data.role,
            insurer_id=data.insurer_id,
            contractor_id=data.contractor_id,
            districts=data.districts,
            label=data.label,
            owner_id=data.owner_id,
        )
        store = ApiKeyStore(db_session, settings.key_pepper.get_secret_value())
        return _new(store.create(spec))

    @post(
        "/keys/{key_id:int}/revoke",
        status_code=200,
        sync_to_thread=True,
        summary="Revoke a key; it stops working at once",
        responses=error_responses(401, 403, 404, 429),
    )
    def revoke_key(self, key_id: KeyId, db_session: NamedDependency[Session]) -> KeyInfo:
        return _info(ApiKeyStore(db_session, "").revoke(key_id))

    @post(
        "/keys/{key_id:int}/rotate",
        status_code=201,
        sync_to_thread=True,
        summary="A new key with the same rights; the old one stops working at once",
        responses=error_responses(401, 403, 404, 409, 422, 429),
    )
    def rotate_key(
        self,
        key_id: KeyId,
        db_session: NamedDependency[Session],
        settings: NamedDependency[Settings],
    ) -> NewKey:
        store = ApiKeyStore(db_session, settings.key_pepper.get_secret_value())
        return _new(store.rotate(key_id))

    @get(
        "/rules",
        sync_to_thread=False,
        summary="The rule set versions shipped, and the ones new quotes are priced with",
        responses=error_responses(401, 403, 429),
    )
    def rules(self) -> dict[str, RuleVersions]:
        rules = PricingRules.shipped()
        in_use = {
            "tariff": rules.tariff.version,
            "band": rules.band.version,
            "incentives": rules.incentives.version,
        }
        return {
            kind: RuleVersions(in_use=in_use[kind], available=list(available_versions(kind)))
            for kind in KINDS
        }
