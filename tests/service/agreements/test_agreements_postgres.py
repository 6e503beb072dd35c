"""Agreements on a real PostgreSQL (skipped without one, like the other PostgreSQL
tests): register, accept, settle, read the statement's bytes and replay them, with the
inputs kept as JSONB; agreements and statements refuse UPDATE there too."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from agreement_helpers import INSURER, Parties, bearer, body, contract_data, feed, owned_world
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from svc_helpers import make_settings

from service.app import create_app
from service.auth.store import ApiKeyStore, IssuedKey, KeySpec
from service.db import migrate
from service.db.engine import Database


def test_an_agreement_is_settled_and_replayed_on_postgres(pg_database: str, tmp_path: Path) -> None:
    migrate.upgrade(pg_database)
    settings = make_settings(tmp_path, database_url=pg_database)
    database = Database(pg_database)
    try:
        issue: Callable[..., IssuedKey]

        def issue(role: str, **kwargs: object) -> IssuedKey:
            with database.session() as session:
                store = ApiKeyStore(session, settings.key_pepper.get_secret_value())
                return store.create(KeySpec.parse(role, **kwargs))  # type: ignore[arg-type]

        world = owned_world(n_sites=24, months=18, start="2024-01")
        platform = issue("platform")
        assert platform.row.id is not None
        feed(database, contract_data(world), platform_key=platform.row.id)
        site = world.sites[world.sites["owner_id"] == "OWN-A"].iloc[0]
        keys = {
            "owner": issue("owner", owner_id="OWN-A").key,
            "contractor": issue("contractor", contractor_id=str(site["contractor_id"])).key,
            "insurer": issue("insurer", insurer_id=INSURER).key,
        }
        parties = Parties(str(site["site_id"]), "OWN-A", str(site["contractor_id"]), keys)
        with TestClient(create_app(settings)) as client:
            created = client.post(
                "/v1/agreements", json=body(parties), headers=bearer(keys["owner"])
            )
            assert created.status_code == 201, created.text
            url = f"/v1/agreements/{created.json()['id']}"
            for party in ("owner", "contractor"):
                assert client.post(f"{url}/accept", headers=bearer(keys[party])).status_code == 200
            issued = client.post(f"{url}/statement", headers=bearer(keys["contractor"]))
            assert issued.status_code == 201, issued.text
            stored = client.get(f"{url}/statement", headers=bearer(keys["insurer"]))
            digest = "sha256:" + hashlib.sha256(stored.content).hexdigest()
            assert digest == issued.json()["content_hash"]
            replay = client.post(f"{url}/statement/replay", headers=bearer(keys["owner"])).json()
            assert (replay["same_bytes"], replay["feed_rows_match"]) == (True, True)
        for table, column in (
            ("incentive_agreement", "last_month"),
            ("incentive_statement", "body"),
        ):
            with database.engine.connect() as connection, pytest.raises(DBAPIError):
                connection.execute(text(f"UPDATE {table} SET {column} = '2030-01'"))
    finally:
        database.dispose()
