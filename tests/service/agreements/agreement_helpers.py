"""Helpers of the agreement tests: a small generated world whose sites name owners,
fed straight into a test database, keys of every party, and a valid agreement body."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from models.contract import ContractData, validate_frames
from service.db.engine import Database
from service.feed.store import FeedStore
from training.synth import World, generate_world

RULE_SET: Final = "sample-plan-2026.1"
OWNERS: Final = ("OWN-A", "OWN-B")
INSURER: Final = "INS-A"


def owned_world(n_sites: int = 48, months: int = 18, start: str = "2024-01") -> World:
    """A generated world whose sites alternate between two owners, every fifth none."""
    world = generate_world(n_sites, seed=19, months=months, start=start)
    owners = [None if i % 5 == 4 else OWNERS[i % 2] for i in range(n_sites)]
    sites = world.sites.assign(owner_id=pd.Series(owners, dtype=object))
    return dataclasses.replace(world, sites=sites)


def contract_data(world: World, months: tuple[str, str] | None = None) -> ContractData:
    """The world (its months in ``months``, first and last included) as checked data."""
    site_months = world.site_months
    if months is not None:
        month = site_months["month"]
        site_months = site_months[(month >= months[0]) & (month <= months[1])]
    return validate_frames(world.sites, site_months.reset_index(drop=True), world.claims)


def feed(database: Database, data: ContractData, *, platform_key: int, claims: bool = True) -> None:
    """Store sites and months as the platform, claims as :data:`INSURER`."""
    with database.session() as session:
        FeedStore(session).upsert(data, ("sites", "site_months"), fed_by=platform_key)
    if claims:
        with database.session() as session:
            FeedStore(session).upsert(data, ("claims",), fed_by=None, insurer_id=INSURER)


@dataclass(frozen=True)
class Parties:
    site_id: str
    owner: str
    contractor_id: str
    keys: dict[str, str]  # name -> API key


def body(parties: Parties, **changes: Any) -> dict[str, Any]:
    """A valid agreement for the site over 2024-03..2025-02, naming :data:`INSURER`."""
    out: dict[str, Any] = {
        "site_id": parties.site_id,
        "contractor_id": parties.contractor_id,
        "insurer_id": INSURER,
        "first_month": "2024-03",
        "last_month": "2025-02",
        "rule_set_version": RULE_SET,
        "terms": {
            "rewards": {
                "safety_target_bonus": {"kind": "cny", "value": "50000.00"},
                "civilised_site_priority": {"kind": "cny", "value": "20000"},
            },
            "penalties": {
                "fatal_claim": {"kind": "share_of_contract_sum", "value": "0.001"},
                "hazards_left_open": {"kind": "cny", "value": 15000},
            },
            "contract_sum_cny": "80000000",
            "penalty_when_not_evaluable": "waive",
        },
    }
    out.update(changes)
    return out


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
