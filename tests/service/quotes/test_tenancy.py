"""Tenancy from outside: two insurers and two contractors. Every cross-tenant read, list
and explanation is refused exactly as a missing object is; each role's own calls work;
a role on an endpoint it may not use gets 403."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import request_for, sites_with_history
from svc_helpers import bearer

from service.auth.store import IssuedKey
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"
Body = dict[str, Any]


@dataclass(frozen=True)
class Tenants:
    insurer_a: str
    insurer_b: str
    contractor_1: str
    contractor_2: str
    admin: str
    regulator: str
    platform: str
    site_1: str  # a site of contractor 1
    site_2: str  # a site of contractor 2
    quote_a1: Body  # insurer A's quote of site 1
    quote_b1: Body  # insurer B's later quote of site 1
    quote_b2: Body  # insurer B's quote of site 2


@pytest.fixture
def tenants(
    client: TestClient[Any], issue_key: Callable[..., IssuedKey], unseen_world: World
) -> Tenants:
    sites = unseen_world.sites.set_index("site_id")
    candidates = sites_with_history(unseen_world, START)
    site_1 = candidates[0]
    contractor_1 = str(sites.loc[site_1, "contractor_id"])
    site_2 = next(s for s in candidates if str(sites.loc[s, "contractor_id"]) != contractor_1)
    contractor_2 = str(sites.loc[site_2, "contractor_id"])
    keys = {
        "insurer_a": issue_key("insurer", insurer_id="INS-A").key,
        "insurer_b": issue_key("insurer", insurer_id="INS-B").key,
        "contractor_1": issue_key("contractor", contractor_id=contractor_1).key,
        "contractor_2": issue_key("contractor", contractor_id=contractor_2).key,
        "admin": issue_key("admin").key,
        "regulator": issue_key("regulator", districts=["all"]).key,
        "platform": issue_key("platform").key,
    }

    def price(key: str, site: str) -> Body:
        response = client.post(
            "/v1/quotes", json=request_for(unseen_world, site, START), headers=bearer(key)
        )
        assert response.status_code == 201, response.text
        body: Body = response.json()
        return body

    quote_a1 = price(keys["insurer_a"], site_1)
    quote_b1 = price(keys["insurer_b"], site_1)
    quote_b2 = price(keys["insurer_b"], site_2)
    return Tenants(
        **keys, site_1=site_1, site_2=site_2,
        quote_a1=quote_a1, quote_b1=quote_b1, quote_b2=quote_b2,
    )  # fmt: skip


def _same_refusal(found: Any, missing: Any, *, hidden: str, shown: str) -> None:
    """Another tenant's object must answer exactly like one that does not exist."""
    assert found.status_code == missing.status_code == 404
    assert (
        found.json()["error"]["message"].replace(hidden, shown)
        == (missing.json()["error"]["message"])
    )
    assert found.json()["error"]["code"] == missing.json()["error"]["code"]
    assert set(found.headers) == set(missing.headers)


def test_insurers_read_and_list_only_their_own_quotes(
    client: TestClient[Any], tenants: Tenants
) -> None:
    t = tenants
    own = client.get(f"/v1/quotes/{t.quote_a1['quote_id']}", headers=bearer(t.insurer_a))
    assert own.status_code == 200
    assert own.json() == t.quote_a1
    nowhere = str(uuid.uuid4())
    for reader, other in ((t.insurer_a, t.quote_b1), (t.insurer_b, t.quote_a1)):
        theirs = client.get(f"/v1/quotes/{other['quote_id']}", headers=bearer(reader))
        missing = client.get(f"/v1/quotes/{nowhere}", headers=bearer(reader))
        _same_refusal(theirs, missing, hidden=other["quote_id"], shown=nowhere)
    listed_a = client.get("/v1/quotes", headers=bearer(t.insurer_a)).json()
    listed_b = client.get("/v1/quotes", headers=bearer(t.insurer_b)).json()
    assert [q["quote_id"] for q in listed_a["items"]] == [t.quote_a1["quote_id"]]
    assert listed_a["total"] == 1
    assert {q["quote_id"] for q in listed_b["items"]} == {
        t.quote_b1["quote_id"], t.quote_b2["quote_id"]
    }  # fmt: skip
    # An admin is no insurer: its own (empty) list, and no one else's quote.
    assert client.get("/v1/quotes", headers=bearer(t.admin)).json()["total"] == 0
    admin_read = client.get(f"/v1/quotes/{t.quote_a1['quote_id']}", headers=bearer(t.admin))
    assert admin_read.status_code == 404


def _keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys_anywhere(v)}
    return set()


def test_a_contractor_reads_the_latest_explanation_of_its_own_site_only(
    client: TestClient[Any], tenants: Tenants
) -> None:
    t = tenants
    url_1 = f"/v1/sites/{t.site_1}/explanation"
    zh = client.get(url_1, headers=bearer(t.contractor_1))
    assert zh.status_code == 200, zh.text
    view = zh.json()
    latest = t.quote_b1  # two insurers priced site 1; the contractor sees the latest
    assert view["quote_id"] == latest["quote_id"]
    assert view["lang"] == "zh"
    assert view["premium"]["final_premium_cny"] == latest["pricing"]["final_premium_cny"]
    assert view["premium"]["base_premium_cny"] == latest["pricing"]["base_premium_cny"]
    assert [g["premium_effect_cny"] for g in view["groups"]] == [
        g["premium_effect_cny"] for g in latest["explanation"]["groups"]
    ]
    assert latest["language"] == "zh"  # answered in Chinese, as the view is by default
    assert [f["text"] for f in view["factors"]] == [
        f["text"] for f in latest["explanation"]["factors"]
    ]
    assert all(f["text"] for f in view["factors"])
    assert [c["met"] for tier in view["incentives"] for c in tier["criteria"]] == [
        c["met"] for tier in latest["incentives"]["tiers"] for c in tier["criteria"]
    ]
    en = client.get(f"{url_1}?lang=en", headers=bearer(t.contractor_1)).json()
    assert en["lang"] == "en"
    latest_en = client.get(
        f"/v1/quotes/{latest['quote_id']}?lang=en", headers=bearer(t.insurer_b)
    ).json()
    assert latest_en["language"] == "en"
    assert en["groups"][0]["label"] == latest_en["explanation"]["groups"][0]["label"]
    assert en["groups"][0]["label"] != view["groups"][0]["label"]
    assert en["premium"] == view["premium"]
    # Nothing that is the insurer's alone: who priced it, the expected loss, the rows sent.
    leaked = _keys_anywhere(view) & {
        "insurer_id", "api_key_id", "owner", "expected_loss_cny", "expected_claims",
        "months", "claims", "request", "warnings", "uri",
    }  # fmt: skip
    assert leaked == set()
    assert "INS-A" not in zh.text
    assert "INS-B" not in zh.text
    assert client.get(f"{url_1}?lang=fr", headers=bearer(t.contractor_1)).status_code == 422

    # Another contractor's site answers exactly like a site that does not exist.
    theirs = client.get(f"/v1/sites/{t.site_2}/explanation", headers=bearer(t.contractor_1))
    missing = client.get("/v1/sites/NO-SUCH-SITE/explanation", headers=bearer(t.contractor_1))
    _same_refusal(theirs, missing, hidden=t.site_2, shown="NO-SUCH-SITE")
    mine = client.get(f"/v1/sites/{t.site_2}/explanation", headers=bearer(t.contractor_2))
    assert mine.json()["quote_id"] == t.quote_b2["quote_id"]
    other = client.get(url_1, headers=bearer(t.contractor_2))
    assert other.status_code == 404


def test_each_role_gets_403_where_it_may_not_go_and_its_own_calls_work(
    client: TestClient[Any], tenants: Tenants, unseen_world: World
) -> None:
    t = tenants
    body = request_for(unseen_world, t.site_1, START)
    quote_id = t.quote_a1["quote_id"]
    explanation = f"/v1/sites/{t.site_1}/explanation"
    calls: dict[str, tuple[str, str, Any]] = {
        "price": ("POST", "/v1/quotes", body),
        "batch": ("POST", "/v1/quotes/batch", {"items": [body]}),
        "read": ("GET", f"/v1/quotes/{quote_id}", None),
        "list": ("GET", "/v1/quotes", None),
        "explain": ("GET", explanation, None),
        "keys": ("GET", "/v1/admin/keys", None),
        "rules": ("GET", "/v1/admin/rules", None),
        "reload": ("POST", "/v1/admin/model/reload", None),
        "whoami": ("GET", "/v1/whoami", None),
        "model": ("GET", "/v1/model", None),
        "incentives": ("GET", "/v1/incentives/rules", None),
    }
    everyone = {"whoami", "model", "incentives"}
    allowed = {
        t.insurer_a: {"price", "batch", "read", "list"} | everyone,
        t.contractor_1: {"explain"} | everyone,
        t.admin: {"price", "batch", "list", "keys", "rules", "reload"} | everyone,
        t.regulator: everyone,
        t.platform: everyone,
    }
    for key, may in allowed.items():
        for name, (method, path, payload) in calls.items():
            response = client.request(method, path, json=payload, headers=bearer(key))
            if key == t.admin and name == "read":  # may read quotes, but this one is A's
                assert response.status_code == 404
            elif name in may:
                assert response.status_code < 300, (name, response.text)
            else:
                assert response.status_code == 403, (name, response.status_code)
                assert response.json()["error"]["code"] == "forbidden"
