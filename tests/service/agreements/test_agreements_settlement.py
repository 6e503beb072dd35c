"""Settlement (issue 19, item 4): a closed period of an agreement in effect is settled
once; the statement is stored with its inputs and hash, read back byte for byte, never
changed, and its replay recomputes the same bytes however the feed changed since."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from agreement_helpers import Parties, bearer, body, contract_data, feed
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from service.agreements.service import replay_statement
from service.db.engine import Database
from service.db.tables import IncentiveStatement
from training.synth import World


def _register(client: TestClient[Litestar], parties: Parties, **changes: Any) -> str:
    created = client.post(
        "/v1/agreements", json=body(parties, **changes), headers=bearer(parties.keys["owner"])
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _accept(client: TestClient[Litestar], parties: Parties, agreement_id: str) -> None:
    for party in ("owner", "contractor"):
        answer = client.post(
            f"/v1/agreements/{agreement_id}/accept", headers=bearer(parties.keys[party])
        )
        assert answer.status_code == 200


def _settle(client: TestClient[Litestar], key: str, agreement_id: str) -> Any:
    return client.post(f"/v1/agreements/{agreement_id}/statement", headers=bearer(key))


def test_only_a_closed_period_of_an_agreement_in_effect_is_settled(
    client: TestClient[Litestar], parties: Parties
) -> None:
    owner = parties.keys["owner"]
    pending = _register(client, parties)
    assert _settle(client, owner, pending).status_code == 409  # not accepted yet
    running = _register(client, parties, first_month="2026-06", last_month="2027-05")
    _accept(client, parties, running)
    refused = _settle(client, owner, running)
    assert refused.status_code == 409
    assert "2027-05" in refused.json()["error"]["message"]
    _accept(client, parties, pending)
    assert _settle(client, parties.keys["insurer"], pending).status_code == 403
    assert (
        client.get(f"/v1/agreements/{pending}/statement", headers=bearer(owner)).status_code == 404
    )  # none issued yet


def test_a_statement_is_issued_once_read_back_byte_for_byte_and_replayed(
    client: TestClient[Litestar], parties: Parties, world: World, database: Database
) -> None:
    agreement_id = _register(client, parties)
    _accept(client, parties, agreement_id)
    issued = _settle(client, parties.keys["contractor"], agreement_id)
    assert issued.status_code == 201, issued.text
    info = issued.json()
    again = _settle(client, parties.keys["owner"], agreement_id)
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["created"]) == (info["id"], False)

    read = client.get(
        f"/v1/agreements/{agreement_id}/statement", headers=bearer(parties.keys["insurer"])
    )
    assert read.status_code == 200
    assert "sha256:" + hashlib.sha256(read.content).hexdigest() == info["content_hash"]
    assert read.headers["x-content-hash"] == info["content_hash"]
    statement = json.loads(read.content)
    assert statement["period"] == {"first_month": "2024-03", "last_month": "2025-02"}
    net = float(statement["reward_cny"]) - float(statement["penalty_cny"])
    assert float(statement["net_cny"]) == pytest.approx(net)
    assert statement["revisions"]  # the rows it rests on, month by month

    # the platform corrects a month the statement used: the statement does not move,
    # its replay still gives its bytes, and the feed still holds the row it used
    month = sorted(statement["revisions"])[-1]
    sm = world.site_months
    fix = sm[(sm["site_id"] == parties.site_id) & (sm["month"] == month)].copy()
    fix["training_coverage"] = 0.5
    data = contract_data(world)
    corrected = type(data)(
        sites=data.sites,
        site_months=fix.reset_index(drop=True),
        claims=data.claims.iloc[:0],
        warnings=[],
    )
    feed(database, corrected, platform_key=1, claims=False)
    replay = client.post(
        f"/v1/agreements/{agreement_id}/statement/replay", headers=bearer(parties.keys["owner"])
    ).json()
    assert replay == {
        "statement_id": info["id"],
        "content_hash": info["content_hash"],
        "replayed_hash": info["content_hash"],
        "same_bytes": True,
        "feed_rows_match": True,
        "mismatched_rows": [],
    }
    after = client.get(
        f"/v1/agreements/{agreement_id}/statement", headers=bearer(parties.keys["owner"])
    )
    assert after.content == read.content
    settled_v2 = client.post(
        "/v1/agreements",
        json=body(parties, replaces=agreement_id),
        headers=bearer(parties.keys["owner"]),
    )
    assert settled_v2.status_code == 409  # a settled agreement is not replaced


def test_replay_reports_bytes_that_differ(
    client: TestClient[Litestar], parties: Parties, database: Database
) -> None:
    agreement_id = _register(client, parties)
    _accept(client, parties, agreement_id)
    _settle(client, parties.keys["owner"], agreement_id)
    with database.session() as session:
        stored = session.exec(
            select(IncentiveStatement).where(IncentiveStatement.agreement_id == agreement_id)
        ).one()
        assert replay_statement(session, stored).same_bytes
        inputs = json.loads(json.dumps(stored.inputs))
        inputs["rows"][0]["values"]["training_coverage"] = 0.01
        forged = IncentiveStatement(
            agreement_id=stored.agreement_id,
            content_hash=stored.content_hash,
            body=stored.body,
            inputs=inputs,
            issued_by_key=stored.issued_by_key,
        )
        result = replay_statement(session, forged)
    assert result.same_bytes is False
    assert result.replayed_hash != stored.content_hash
    assert result.mismatched_rows == [inputs["rows"][0]["month"]]
    with database.engine.connect() as connection, pytest.raises(DBAPIError):
        connection.execute(text("UPDATE incentive_statement SET body = '{}'"))
