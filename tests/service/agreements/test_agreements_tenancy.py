"""Who sees an agreement (issue 19, tenancy): its owner, its contractor and the insurer
it names; for every other key an agreement answers exactly as a missing one does."""

from __future__ import annotations

from typing import Any

import pytest
from agreement_helpers import Parties, bearer, body
from litestar import Litestar
from litestar.testing import TestClient

MISSING = "00000000-0000-4000-8000-000000000000"
OUTSIDERS = ("other_owner", "other_contractor", "other_insurer", "admin", "platform", "regulator")


def _agreement(client: TestClient[Litestar], parties: Parties, **changes: Any) -> str:
    created = client.post(
        "/v1/agreements", json=body(parties, **changes), headers=bearer(parties.keys["owner"])
    )
    assert created.status_code == 201, created.text
    agreement_id = str(created.json()["id"])
    for party in ("owner", "contractor"):
        accepted = client.post(
            f"/v1/agreements/{agreement_id}/accept", headers=bearer(parties.keys[party])
        )
        assert accepted.status_code == 200
    return agreement_id


def _calls(agreement_id: str) -> list[tuple[str, str]]:
    base = f"/v1/agreements/{agreement_id}"
    return [
        ("GET", base),
        ("GET", f"{base}/evaluation"),
        ("POST", f"{base}/accept"),
        ("POST", f"{base}/statement"),
        ("GET", f"{base}/statement"),
        ("POST", f"{base}/statement/replay"),
    ]


def _answer(client: TestClient[Litestar], method: str, path: str, key: str) -> tuple[int, str]:
    response = client.request(method, path, headers=bearer(key))
    return response.status_code, response.text


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_an_outsider_gets_exactly_the_missing_answer(
    client: TestClient[Litestar], parties: Parties, outsider: str
) -> None:
    agreement_id = _agreement(client, parties)
    settled = client.post(
        f"/v1/agreements/{agreement_id}/statement", headers=bearer(parties.keys["owner"])
    )
    assert settled.status_code == 201  # so a statement exists to be hidden
    key = parties.keys[outsider]
    for (method, path), (_, missing_path) in zip(
        _calls(agreement_id), _calls(MISSING), strict=True
    ):
        status, text = _answer(client, method, path, key)
        missing_status, missing_text = _answer(client, method, missing_path, key)
        assert status == missing_status == 404, (outsider, method, path, text)
        assert text.replace(agreement_id, MISSING) == missing_text
    listed = client.get("/v1/agreements", headers=bearer(key)).json()
    assert agreement_id not in [a["id"] for a in listed["items"]]


def test_each_party_sees_only_its_own(client: TestClient[Litestar], parties: Parties) -> None:
    named = _agreement(client, parties)
    unnamed = _agreement(
        client, parties, insurer_id=None, first_month="2025-03", last_month="2025-05"
    )

    def ids(party: str) -> set[str]:
        listed = client.get("/v1/agreements", headers=bearer(parties.keys[party]))
        assert listed.status_code == 200
        return {a["id"] for a in listed.json()["items"]}

    assert ids("owner") == ids("contractor") == {named, unnamed}
    assert ids("insurer") == {named}  # only the agreement that names it
    for outsider in ("other_owner", "other_contractor", "other_insurer"):
        assert ids(outsider) == set()
    insurer = parties.keys["insurer"]
    assert client.get(f"/v1/agreements/{named}", headers=bearer(insurer)).status_code == 200
    assert client.get(f"/v1/agreements/{unnamed}", headers=bearer(insurer)).status_code == 404
    evaluation = client.get(f"/v1/agreements/{named}/evaluation", headers=bearer(insurer))
    assert evaluation.status_code == 200
