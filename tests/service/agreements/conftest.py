"""Fixtures of the agreement tests: a generated world whose sites name their owners,
fed into the test's database, keys of every party, and the service without a model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from agreement_helpers import INSURER, Parties, contract_data, feed, owned_world
from litestar import Litestar
from litestar.testing import TestClient

from models.settings import Settings
from service.app import create_app
from service.db.engine import Database
from training.synth import World


@pytest.fixture(scope="session")
def world() -> World:
    return owned_world()


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.db_url)
    yield db
    db.dispose()


@pytest.fixture
def parties(world: World, database: Database, issue_key: Callable[..., object]) -> Parties:
    """The whole world fed; keys of the first owned site's parties and of outsiders."""

    def key(role: str, **kwargs: object) -> tuple[int, str]:
        issued = issue_key(role, **kwargs)
        return issued.row.id, issued.key  # type: ignore[attr-defined]

    platform_id, platform = key("platform")
    feed(database, contract_data(world), platform_key=platform_id)
    site = world.sites[world.sites["owner_id"] == "OWN-A"].iloc[0]
    others = world.sites[world.sites["contractor_id"] != site["contractor_id"]]
    keys = {
        "platform": platform,
        "owner": key("owner", owner_id="OWN-A")[1],
        "other_owner": key("owner", owner_id="OWN-B")[1],
        "contractor": key("contractor", contractor_id=str(site["contractor_id"]))[1],
        "other_contractor": key("contractor", contractor_id=str(others.iloc[0]["contractor_id"]))[
            1
        ],
        "insurer": key("insurer", insurer_id=INSURER)[1],
        "other_insurer": key("insurer", insurer_id="INS-B")[1],
        "admin": key("admin")[1],
        "regulator": key("regulator", districts=["all"])[1],
    }
    return Parties(str(site["site_id"]), "OWN-A", str(site["contractor_id"]), keys)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
