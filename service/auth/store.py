"""Issuing, listing, revoking and rotating API keys, over a database session.

Used by the ``siterisk keys`` commands (and by an admin endpoint if one is added);
raises :mod:`service.errors` types so both surfaces report problems the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from models.contract.spec import DISTRICTS, ID_PATTERN
from service.auth.keys import hash_key, new_key
from service.auth.principal import Principal, Role
from service.auth.revocation import announce, announce_committed
from service.db.tables import ApiKey, utcnow
from service.errors import ConflictError, FieldError, InvalidInputError, NotFoundError

ALL_DISTRICTS = "all"


@dataclass(frozen=True)
class KeySpec:
    """What a key may do; validated, so every stored key is coherent."""

    role: Role
    insurer_id: str | None = None
    contractor_id: str | None = None
    districts: tuple[str, ...] = ()
    label: str | None = None
    owner_id: str | None = None

    @classmethod
    def parse(
        cls,
        role: str,
        *,
        insurer_id: str | None = None,
        contractor_id: str | None = None,
        districts: Iterable[str] = (),
        label: str | None = None,
        owner_id: str | None = None,
    ) -> KeySpec:
        problems: list[FieldError] = []
        try:
            parsed_role = Role(role)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidInputError(
                f"unknown role {role!r}", fields=[FieldError("role", f"one of {allowed}")]
            ) from None

        wanted = [d.strip().lower() for d in districts if d.strip()]
        if ALL_DISTRICTS in wanted:
            wanted = list(DISTRICTS)
        unknown = sorted(set(wanted) - set(DISTRICTS))

        def check_id(name: str, value: str | None, needed_by: Role) -> None:
            if parsed_role is needed_by and not value:
                problems.append(FieldError(name, f"a {needed_by.value} key needs {name}"))
            elif parsed_role is not needed_by and value:
                problems.append(FieldError(name, f"only {needed_by.value} keys carry {name}"))
            elif value and not re.fullmatch(ID_PATTERN, value):
                problems.append(FieldError(name, f"must match {ID_PATTERN}"))

        check_id("insurer_id", insurer_id, Role.insurer)
        check_id("contractor_id", contractor_id, Role.contractor)
        check_id("owner_id", owner_id, Role.owner)
        if parsed_role is Role.regulator and not wanted:
            problems.append(
                FieldError("districts", f"a regulator key needs districts (or '{ALL_DISTRICTS}')")
            )
        elif parsed_role is not Role.regulator and wanted:
            problems.append(FieldError("districts", "only regulator keys carry districts"))
        elif unknown:
            problems.append(
                FieldError(
                    "districts", f"unknown {', '.join(unknown)}; known: {', '.join(DISTRICTS)}"
                )
            )
        if label is not None and len(label) > 200:
            problems.append(FieldError("label", "at most 200 characters"))
        if problems:
            raise InvalidInputError("the key description is not valid", fields=problems)
        ordered = tuple(d for d in DISTRICTS if d in set(wanted))
        return cls(
            parsed_role,
            insurer_id or None,
            contractor_id or None,
            ordered,
            label,
            owner_id or None,
        )


@dataclass(frozen=True)
class IssuedKey:
    """A stored key row and the key itself, which exists only in this object."""

    row: ApiKey
    key: str


def principal_of(row: ApiKey) -> Principal:
    if row.id is None:  # pragma: no cover - rows come from the database
        raise ValueError("an unsaved key has no principal")
    return Principal(
        key_id=row.id,
        role=Role(row.role),
        insurer_id=row.insurer_id,
        contractor_id=row.contractor_id,
        districts=tuple(row.districts),
        owner_id=row.owner_id,
        label=row.label,
    )


class ApiKeyStore:
    def __init__(self, session: Session, pepper: str) -> None:
        self.session = session
        self._pepper = pepper

    def _issue(self, spec: KeySpec, rotated_from_id: int | None = None) -> IssuedKey:
        key, prefix = new_key()
        row = ApiKey(
            prefix=prefix,
            key_hash=hash_key(key, self._pepper),
            role=spec.role.value,
            insurer_id=spec.insurer_id,
            contractor_id=spec.contractor_id,
            owner_id=spec.owner_id,
            districts=list(spec.districts),
            label=spec.label,
            rotated_from_id=rotated_from_id,
        )
        self.session.add(row)
        return IssuedKey(row, key)

    def create(self, spec: KeySpec) -> IssuedKey:
        issued = self._issue(spec)
        self.session.commit()
        self.session.refresh(issued.row)
        return issued

    def list(self, *, include_revoked: bool = True) -> Sequence[ApiKey]:
        query = select(ApiKey).order_by(col(ApiKey.id))
        if not include_revoked:
            query = query.where(col(ApiKey.revoked_at).is_(None))
        return self.session.exec(query).all()

    def get(self, key_id: int) -> ApiKey:
        row = self.session.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError(f"no API key with id {key_id}")
        return row

    def by_prefix(self, prefix: str) -> ApiKey | None:
        return self.session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()

    def revoke(self, key_id: int) -> ApiKey:
        """Revoke a key; revoking a revoked key changes nothing. Every service process
        stops accepting it at once (:mod:`service.auth.revocation`)."""
        row = self.get(key_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            self.session.add(row)
            announce(self.session)
            self.session.commit()
            announce_committed(self.session)
            self.session.refresh(row)
        return row

    def rotate(self, key_id: int) -> IssuedKey:
        """A new key with the same rights; the old one is revoked in the same transaction."""
        old = self.get(key_id)
        if old.revoked_at is not None:
            # the request is well formed; the key's state refuses it
            raise ConflictError(
                f"API key {key_id} is revoked; create a new key instead",
                fields=[FieldError("id", "revoked keys cannot be rotated")],
            )
        spec = KeySpec(
            Role(old.role),
            old.insurer_id,
            old.contractor_id,
            tuple(old.districts),
            old.label,
            old.owner_id,
        )
        old.revoked_at = utcnow()
        self.session.add(old)
        issued = self._issue(spec, rotated_from_id=old.id)
        announce(self.session)
        self.session.commit()
        announce_committed(self.session)
        self.session.refresh(issued.row)
        return issued
