"""Who is calling: the role and scope of an API key, as handlers see it."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Role(StrEnum):
    insurer = "insurer"  # prices and reads its own quotes
    contractor = "contractor"  # sees its own sites
    admin = "admin"  # runs the service
    platform = "platform"  # the smart-site data platform
    regulator = "regulator"  # reads what happens in its districts
    owner = "owner"  # a project owner (建设单位): its sites' incentive agreements


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The resolved caller. ``insurer_id`` is set exactly for insurer keys,
    ``contractor_id`` for contractor keys, ``owner_id`` for owner keys, ``districts``
    only for regulators."""

    key_id: int
    role: Role
    insurer_id: str | None = None
    contractor_id: str | None = None
    districts: tuple[str, ...] = ()
    owner_id: str | None = None
    label: str | None = None

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles
