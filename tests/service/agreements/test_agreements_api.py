"""Registering and accepting incentive agreements (issue 19, item 2): owners register
for their own sites, bad input is a 422 naming the field, an agreement takes effect when
both parties accepted it, never changes afterwards, and a new version replaces it."""

from __future__ import annotations

from typing import Any

import pytest
from agreement_helpers import Parties, bearer, body
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.db.engine import Database
from service.db.tables import IncentiveAgreement, QuoteImmutableError


def _post(client: TestClient[Litestar], key: str, data: dict[str, Any]) -> Any:
    return client.post("/v1/agreements", json=data, headers=bearer(key))


def _accept(client: TestClient[Litestar], key: str, agreement_id: str) -> Any:
    return client.post(f"/v1/agreements/{agreement_id}/accept", headers=bearer(key))


def test_an_agreement_takes_effect_once_owner_and_contractor_accepted_it(
    client: TestClient[Litestar], parties: Parties
) -> None:
    created = _post(client, parties.keys["owner"], body(parties))
    assert created.status_code == 201, created.text
    agreement = created.json()
    assert agreement["status"] == "awaiting_acceptance"
    assert (agreement["owner_id"], agreement["version"]) == ("OWN-A", 1)
    assert agreement["document_hash"].startswith("sha256:")
    first = _accept(client, parties.keys["owner"], agreement["id"]).json()
    assert first["status"] == "awaiting_acceptance"
    assert [a["party"] for a in first["accepted"]] == ["owner"]
    both = _accept(client, parties.keys["contractor"], agreement["id"]).json()
    assert both["status"] == "in_effect"
    assert both["effective_at"] == both["accepted"][1]["accepted_at"]
    again = _accept(client, parties.keys["contractor"], agreement["id"]).json()
    assert again["accepted"] == both["accepted"]  # accepting twice changes nothing


def test_an_insurer_reads_but_does_not_accept(
    client: TestClient[Litestar], parties: Parties
) -> None:
    agreement = _post(client, parties.keys["owner"], body(parties)).json()
    read = client.get(f"/v1/agreements/{agreement['id']}", headers=bearer(parties.keys["insurer"]))
    assert read.status_code == 200
    assert _accept(client, parties.keys["insurer"], agreement["id"]).status_code == 403
    refused = _post(client, parties.keys["contractor"], body(parties))
    assert refused.status_code == 403


def test_a_new_version_replaces_the_agreement_once_it_takes_effect(
    client: TestClient[Litestar], parties: Parties
) -> None:
    owner, contractor = parties.keys["owner"], parties.keys["contractor"]
    v1 = _post(client, owner, body(parties)).json()
    for key in (owner, contractor):
        _accept(client, key, v1["id"])
    v2 = _post(client, owner, body(parties, last_month="2025-06", replaces=v1["id"])).json()
    assert (v2["version"], v2["series_id"], v2["replaces"]) == (2, v1["series_id"], v1["id"])

    def status(agreement_id: str) -> str:
        got = client.get(f"/v1/agreements/{agreement_id}", headers=bearer(owner)).json()
        return str(got["status"])

    assert (status(v1["id"]), status(v2["id"])) == ("in_effect", "awaiting_acceptance")
    assert _accept(client, contractor, v1["id"]).status_code == 409  # replaced: accept v2
    for key in (owner, contractor):
        assert _accept(client, key, v2["id"]).status_code == 200
    assert (status(v1["id"]), status(v2["id"])) == ("superseded", "in_effect")
    old = client.get(f"/v1/agreements/{v1['id']}", headers=bearer(owner)).json()
    assert old["superseded_by"] == v2["id"]
    assert old["last_month"] == "2025-02"  # the old version reads as it was
    stale = _post(client, owner, body(parties, replaces=v1["id"]))
    assert stale.status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_month": "2024-13"}, "first_month"),
        ({"last_month": "2024-01"}, "last_month"),
        ({"last_month": "2029-12"}, "last_month"),
        ({"rule_set_version": "no-such-rules"}, "rule_set_version"),
        ({"contractor_id": "SOMEONE-ELSE"}, "contractor_id"),
        ({"site_id": "NO-SUCH-SITE"}, "site_id"),
        ({"colour": "blue"}, "colour"),
        ({"replaces": "00000000-0000-0000-0000-000000000000"}, "replaces"),
    ],
)
def test_bad_agreements_are_refused_naming_the_field(
    client: TestClient[Litestar], parties: Parties, change: dict[str, Any], field: str
) -> None:
    response = _post(client, parties.keys["owner"], body(parties, **change))
    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in response.json()["error"]["fields"]]


def test_bad_terms_are_refused_at_their_path(
    client: TestClient[Litestar], parties: Parties
) -> None:
    data = body(parties)
    data["terms"]["rewards"]["no_such_tier"] = {"kind": "cny", "value": "1.00"}
    data["terms"]["penalties"]["fatal_claim"] = {"kind": "cny", "value": "1.005"}
    response = _post(client, parties.keys["owner"], data)
    assert response.status_code == 422
    fields = [f["field"] for f in response.json()["error"]["fields"]]
    assert "terms.rewards.no_such_tier" in fields
    assert "terms.penalties.fatal_claim.value" in fields


def test_another_owners_site_is_refused_like_a_missing_one(
    client: TestClient[Litestar], parties: Parties
) -> None:
    foreign = _post(client, parties.keys["other_owner"], body(parties))
    missing = _post(client, parties.keys["other_owner"], body(parties, site_id="NO-SUCH"))
    assert foreign.status_code == missing.status_code == 422
    messages = [r.json()["error"]["fields"][0]["message"] for r in (foreign, missing)]
    assert messages[0].replace(parties.site_id, "X") == messages[1].replace("NO-SUCH", "X")


def test_agreements_are_never_updated_in_place(
    client: TestClient[Litestar], parties: Parties, database: Database
) -> None:
    agreement = _post(client, parties.keys["owner"], body(parties)).json()
    with database.session() as session:
        row = session.get(IncentiveAgreement, agreement["id"])
        assert row is not None
        row.last_month = "2030-01"
        session.add(row)
        with pytest.raises(QuoteImmutableError):
            session.commit()
    with database.engine.connect() as connection, pytest.raises(DBAPIError):
        connection.execute(text("UPDATE incentive_agreement SET last_month = '2030-01'"))
