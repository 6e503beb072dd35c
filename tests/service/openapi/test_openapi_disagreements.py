"""The six places issue 21 found where the OpenAPI document and the service disagreed,
each checked from both sides: what the document admits (validated with a JSON Schema
validator against the document itself) and what the service answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator
from litestar import Litestar
from litestar.testing import TestClient
from svc_helpers import bearer, make_settings

from models.contract import spec
from models.contract.spec import DISTRICTS
from models.pricing.grades import load_grades
from models.settings import Settings
from service.app import create_app
from service.controllers.share import ShareRequest
from service.feed.schemas import ClaimsIn
from service.quotes import schemas

POLICY = {"start_month": "2026-01", "term_months": 12}


def _document(app: Litestar) -> dict[str, Any]:
    return app.openapi_schema.to_schema()


def _admits(document: dict[str, Any], component: str, value: Any) -> bool:
    """Whether the document's schema ``component`` admits ``value`` (references inside
    the document resolved)."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return Draft202012Validator(schema).is_valid(value)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def insurer(issue_key: Any) -> dict[str, str]:
    return bearer(issue_key("insurer", insurer_id="INS-DOC").key)


def _named(response: Any) -> list[str]:
    return [f["field"] for f in response.json()["error"]["fields"]]


def test_a_base_premium_of_zero_is_refused_by_the_document_as_by_the_service(
    app: Litestar, client: TestClient[Litestar], insurer: dict[str, str]
) -> None:
    document = _document(app)
    for premium, admitted in ((0.0, False), (-1.0, False), (0.01, True), (None, True)):
        policy = {**POLICY, "base_premium_cny": premium}
        assert _admits(document, "PolicyIn", policy) is admitted, premium
        # By reference to a site nobody stored: a policy the service reads gets as far
        # as the site lookup, a refused one is named.
        body = {"site_id": "SH-NOWHERE", "policy": policy}
        answer = client.post("/v1/quotes", json=body, headers=insurer)
        assert answer.status_code == 422, answer.text
        named = "site_id" if admitted else "policy.base_premium_cny"
        assert _named(answer) == [named], (premium, answer.text)
    # Every bound of an optional field sits in its number's branch, zero included.
    share = _document(app)["components"]["schemas"]["MonthIn"]["properties"]["new_worker_share"]
    (number,) = [branch for branch in share["anyOf"] if branch.get("type") == "number"]
    assert (number["minimum"], number["maximum"]) == (0.0, 1.0)


@pytest.mark.parametrize("longest", [30, 90])
def test_a_share_link_s_lifetime_is_documented_as_this_server_allows_it(
    tmp_path: Path, migrated_db: Path, issue_key: Any, longest: int
) -> None:
    settings = make_settings(tmp_path, portal_share_max_days=longest)
    (tmp_path / "siterisk.db").write_bytes(migrated_db.read_bytes())
    app = create_app(settings)
    document = _document(app)
    key = bearer(issue_key("insurer", insurer_id="INS-DOC").key)
    with TestClient(app) as client:
        for days, admitted in ((0, False), (1, True), (longest, True), (longest + 1, False)):
            assert _admits(document, "ShareRequest", {"expires_in_days": days}) is admitted
            answer = client.post(
                "/v1/quotes/Q-NONE/share", json={"expires_in_days": days}, headers=key
            )
            # read and found valid: the quote is looked up (and there is none)
            assert answer.status_code == (404 if admitted else 422), (days, answer.text)


def test_the_bulk_upload_documents_one_part_per_table_named_after_it(
    app: Litestar, client: TestClient[Litestar], insurer: dict[str, str]
) -> None:
    body = _document(app)["paths"]["/v1/feed/bulk"]["post"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert list(schema["properties"]) == list(spec.TABLES)
    assert {p["format"] for p in schema["properties"].values()} == {"binary"}
    assert schema["additionalProperties"] is False
    assert schema["minProperties"] == 1
    # What the document refuses, the service refuses: the old `files` field, no part.
    files = {"files": ("claims.csv", b"claim_id\n", "text/csv")}
    answer = client.post("/v1/feed/bulk", files=files, headers=insurer)
    assert answer.status_code == 422, answer.text
    assert _named(answer) == ["files"]


def test_a_batch_documents_that_any_item_is_taken_and_answered_on_its_own(
    app: Litestar,
) -> None:
    document = _document(app)
    request = {"items": [{"site_id": "S1", "policy": POLICY}, 7, {"whatever": True}]}
    assert _admits(document, "QuoteBatchRequest", request)
    assert not _admits(document, "QuoteBatchRequest", {"items": []})
    assert not _admits(document, "QuoteBatchRequest", {"items": [7], "extra": 1})
    shapes = document["components"]["schemas"]["QuoteBatchRequest"]["properties"]["items"]
    refs = [b.get("$ref", "").rsplit("/", 1)[-1] for b in shapes["items"]["anyOf"]]
    assert refs == ["QuoteRequest", "QuoteReference", ""]
    # The handler reads the envelope as the documented struct, so the two cannot drift.
    assert schemas.BatchEnvelope is schemas.QuoteBatchRequest


REQUEST_STRUCTS = [
    schemas.QuoteRequest,
    schemas.QuoteReference,
    schemas.QuoteBatchRequest,
    schemas.PolicyIn,
    schemas.ContractorRecordIn,
    schemas.SafetyAwardIn,
    schemas.SiteIn,
    schemas.MonthIn,
    schemas.ClaimIn,
    schemas.OtherClaimIn,
    ClaimsIn,
    ShareRequest,
]


@pytest.mark.parametrize("struct", REQUEST_STRUCTS, ids=lambda s: s.__name__)
def test_request_structs_refuse_unknown_fields_and_the_document_says_so(
    app: Litestar, struct: type[msgspec.Struct]
) -> None:
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    assert info.forbid_unknown_fields
    component = _document(app)["components"]["schemas"][struct.__name__]
    assert component["additionalProperties"] is False


# Bodies documented as any JSON object: a rate book's schema is pydantic's
# (models/pricing/ratebook.py), its problems answered at their JSON paths (docs/api.md).
OPEN_BODIES = {"POST /v1/admin/ratebooks", "POST /v1/admin/ratebooks/validate"}


def test_every_json_request_body_refuses_unknown_fields_in_the_document(app: Litestar) -> None:
    document = _document(app)
    components = document["components"]["schemas"]
    open_bodies = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            operation_name = f"{method.upper()} {path}"
            refs = _refs(schema, components)
            if not refs and schema.get("additionalProperties") is not False:
                open_bodies.add(operation_name)  # an inline object, not a struct
            for ref in refs:
                if components[ref].get("additionalProperties") is not False:
                    open_bodies.add(f"{operation_name}: {ref}")
    assert open_bodies == OPEN_BODIES


def _refs(node: Any, components: dict[str, Any], seen: set[str] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] not in seen:
            name = ref.rsplit("/", 1)[-1]
            seen.add(name)
            _refs(components[name], components, seen)
        for value in node.values():
            _refs(value, components, seen)
    elif isinstance(node, list):
        for value in node:
            _refs(value, components, seen)
    return seen


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/quotes", {"site_id": "S1", "policy": {**POLICY, "colour": "red"}}),
        ("/v1/quotes/batch", {"items": [{"site_id": "S1", "policy": POLICY}], "colour": 1}),
        ("/v1/quotes/Q-NONE/share", {"expires_in_days": 3, "colour": "red"}),
    ],
)
def test_unknown_fields_are_refused_by_name(
    client: TestClient[Litestar], insurer: dict[str, str], path: str, body: dict[str, Any]
) -> None:
    answer = client.post(path, json=body, headers=insurer)
    assert answer.status_code == 422, answer.text
    assert "colour" in answer.text


def test_a_claim_on_a_site_not_fed_yet_is_a_documented_409_and_stores_nothing(
    app: Litestar, client: TestClient[Litestar], insurer: dict[str, str], issue_key: Any
) -> None:
    documented = _document(app)["paths"]["/v1/feed/claims"]["post"]["responses"]
    assert documented["409"]["description"]
    site = {
        "site_id": "SH-FED", "contractor_id": "GC-1", "district": "pudong",
        "project_type": "public", "contract_value_cny": 1e8, "floor_area_m2": 1e4,
        "max_height_m": 30.0, "start_date": "2024-01-10", "planned_end_date": "2026-06-30",
        "hazardous_works": 1, "over_scale_hazardous_works": 0, "tower_cranes": 1,
    }  # fmt: skip
    claim = {
        "claim_id": "C-1", "site_id": "SH-FED", "incident_date": "2024-05-02",
        "cause": "fall_from_height", "severity": "minor_injury", "paid_cny": 1000.0,
        "reserve_cny": 0.0,
    }  # fmt: skip
    platform = bearer(issue_key("platform").key)

    def feed(site_id: str) -> None:
        fed = client.put(f"/v1/feed/sites/{site_id}", json={**site, "site_id": site_id},
                         headers=platform)  # fmt: skip
        assert fed.status_code == 200, fed.text

    feed("SH-FED")
    early = {"claims": [claim, {**claim, "claim_id": "C-2", "site_id": "SH-LATER"}]}
    answer = client.post("/v1/feed/claims", json=early, headers=insurer)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "conflict"
    assert _named(answer) == ["claims[1].site_id"]
    # Nothing of the request was stored, not even the claim on the site that is there.
    assert client.get("/v1/feed/claims/C-1/history", headers=insurer).status_code == 404
    # Once the platform has fed the site, the same claims are taken.
    feed("SH-LATER")
    stored = client.post("/v1/feed/claims", json=early, headers=insurer)
    assert stored.status_code == 200, stored.text
    assert stored.json()["tables"]["claims"]["inserted"] == 2
    # A broken row is the caller's to fix first (422), wherever its site is.
    broken = {"claims": [{**claim, "claim_id": "C-3", "site_id": "SH-NEVER", "severity": "?"}]}
    refused = client.post("/v1/feed/claims", json=broken, headers=insurer)
    assert refused.status_code == 422, refused.text
    assert _named(refused) == ["claims[0].severity"]


def test_the_regulators_filters_document_the_values_the_service_takes(app: Litestar) -> None:
    """Found by schemathesis: ``grade=''`` was documented as valid and answered 422."""
    parameters = _document(app)["paths"]["/v1/sites"]["get"]["parameters"]
    enums = {p["name"]: p["schema"].get("enum") for p in parameters}
    assert enums["grade"] == [g.grade for g in load_grades().grades]
    assert enums["district"] == list(DISTRICTS)


def test_rotating_a_revoked_key_is_a_documented_conflict(
    app: Litestar, client: TestClient[Litestar], issue_key: Any
) -> None:
    """Found by schemathesis: a well-formed rotation of a revoked key was a 422."""
    documented = _document(app)["paths"]["/v1/admin/keys/{key_id}/rotate"]["post"]["responses"]
    assert "409" in documented
    admin = bearer(issue_key("admin").key)
    victim = issue_key("insurer", insurer_id="INS-OLD").row.id
    assert client.post(f"/v1/admin/keys/{victim}/revoke", headers=admin).status_code == 200
    answer = client.post(f"/v1/admin/keys/{victim}/rotate", headers=admin)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "conflict"
    assert _named(answer) == ["id"]
