"""Limits and the one error body: every refusal the API can give, on its real routes,
has the same JSON shape, the status it claims, and names the offending field where
there is one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from svc_helpers import bearer, make_settings

from models.settings import Settings
from service.app import create_app
from service.errors import ErrorBody
from service.limits import Deadline, is_json

Call = Callable[[TestClient[Any], dict[str, dict[str, str]]], Any]


def _error(response: Any) -> ErrorBody:
    """The body, decoded strictly: nothing but ``{"error": {...}}`` in the one format."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    raw = response.json()
    assert set(raw) == {"error"}
    assert set(raw["error"]) <= {"status", "code", "message", "fields"}
    body = msgspec.json.decode(response.content, type=ErrorBody, strict=True)
    assert body.error.status == response.status_code
    assert body.error.message
    return body


@pytest.fixture
def keys(issue_key: Any) -> dict[str, dict[str, str]]:
    return {
        "insurer": bearer(issue_key("insurer", insurer_id="I1").key),
        "contractor": bearer(issue_key("contractor", contractor_id="GC-1").key),
        "admin": bearer(issue_key("admin").key),
    }


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    small = settings.model_copy(update={"max_body_bytes": 4096})
    with TestClient(create_app(small)) as test_client:
        yield test_client


JSON = {"Content-Type": "application/json"}

# (what, call, status, code, named field or None)
CASES: list[tuple[str, Call, int, str, str | None]] = [
    ("no key", lambda c, k: c.get("/v1/quotes"), 401, "unauthorized", None),
    (
        "a wrong key",
        lambda c, k: c.get("/v1/quotes", headers=bearer("srk_0123456789ab_" + "x" * 43)),
        401,
        "unauthorized",
        None,
    ),
    (
        "a contractor pricing",
        lambda c, k: c.post("/v1/quotes", json={}, headers=k["contractor"]),
        403,
        "forbidden",
        None,
    ),
    (
        "an unknown route",
        lambda c, k: c.get("/v1/nothing", headers=k["insurer"]),
        404,
        "not_found",
        None,
    ),
    (
        "another's or no quote",
        lambda c, k: c.get("/v1/quotes/no-such-quote", headers=k["insurer"]),
        404,
        "not_found",
        None,
    ),
    (
        "a method the route lacks",
        lambda c, k: c.put("/v1/quotes", json={}, headers=k["insurer"]),
        405,
        "method_not_allowed",
        None,
    ),
    (
        "a body over the limit",
        lambda c, k: c.post("/v1/quotes", json={"x": "y" * 5000}, headers=k["insurer"]),
        413,
        "payload_too_large",
        "body",
    ),
    (
        "a form instead of JSON",
        lambda c, k: c.post("/v1/quotes", data={"site": "x"}, headers=k["insurer"]),
        415,
        "unsupported_media_type",
        "Content-Type",
    ),
    (
        "XML",
        lambda c, k: c.post(
            "/v1/quotes/batch",
            content=b"<items/>",
            headers={**k["insurer"], "Content-Type": "application/xml"},
        ),
        415,
        "unsupported_media_type",
        "Content-Type",
    ),
    (
        "broken JSON",
        lambda c, k: c.post("/v1/quotes", content=b'{"site": ', headers={**k["insurer"], **JSON}),
        400,
        "bad_request",
        None,
    ),
    (
        "a missing field",
        lambda c, k: c.post("/v1/quotes", json={}, headers=k["insurer"]),
        422,
        "validation_error",
        "site",
    ),
    (
        "a batch over 1,000 sites",
        lambda c, k: c.post("/v1/quotes/batch", json={"items": [0] * 1001}, headers=k["insurer"]),
        422,
        "validation_error",
        "items",
    ),
    (
        "a bad page size",
        lambda c, k: c.get("/v1/quotes?limit=100000", headers=k["insurer"]),
        422,
        "validation_error",
        "limit",
    ),
    (
        "a key id beyond the column",  # was a driver overflow: a 500 the fuzzer found
        lambda c, k: c.post(f"/v1/admin/keys/{2**70}/revoke", headers=k["admin"]),
        422,
        "validation_error",
        "key_id",
    ),
    (
        "no model loaded",
        lambda c, k: c.get("/v1/model", headers=k["insurer"]),
        503,
        "service_unavailable",
        None,
    ),
]


@pytest.mark.parametrize(
    ("what", "call", "status", "code", "field"), CASES, ids=[c[0] for c in CASES]
)
def test_every_refusal_has_the_one_error_body(
    client: TestClient[Any],
    keys: dict[str, dict[str, str]],
    what: str,
    call: Call,
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = call(client, keys)
    assert response.status_code == status, (what, response.text)
    body = _error(response)
    assert body.error.code == code
    if field is not None:
        assert field in [f.field for f in body.error.fields], body
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if status == 405:
        assert "GET" in response.headers["allow"]


def test_json_with_a_charset_or_a_json_suffix_is_json(
    client: TestClient[Any], keys: dict[str, dict[str, str]]
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/problem+json", None):
        headers = {**keys["insurer"], **({"Content-Type": content_type} if content_type else {})}
        response = client.post("/v1/quotes", content=b'{"months": []}', headers=headers)
        assert response.status_code == 422, (content_type, response.text)
    assert is_json("Application/JSON")
    assert not is_json("text/json-ish")


def test_a_batch_may_be_larger_than_a_single_quote(
    settings: Settings, keys: dict[str, dict[str, str]]
) -> None:
    """The body limit is per route: a portfolio needs more than one site's request."""
    small = settings.model_copy(update={"max_body_bytes": 4096})
    big = {"items": [{"padding": "x" * 100}] * 100}  # ~12 kB: over the single-quote limit
    with TestClient(create_app(small)) as client:
        single = client.post("/v1/quotes", json=big, headers=keys["insurer"])
        batch = client.post("/v1/quotes/batch", json=big, headers=keys["insurer"])
    assert single.status_code == 413
    # Read whole and past the size check: this app has no model to price it with.
    assert batch.status_code == 503, batch.text
    assert _error(batch).error.code == "service_unavailable"


def test_429_names_when_to_retry_and_is_per_key(
    settings: Settings, keys: dict[str, dict[str, str]]
) -> None:
    slow = settings.model_copy(update={"rate_limit_per_second": 0.25})
    with TestClient(create_app(slow)) as client:
        first = client.get("/v1/quotes", headers=keys["insurer"])
        limited = client.get("/v1/quotes", headers=keys["insurer"])
        other = client.get("/v1/whoami", headers=keys["contractor"])
    assert first.status_code == 200
    assert limited.status_code == 429
    assert _error(limited).error.code == "rate_limited"
    assert limited.headers["retry-after"] == "4"  # one request every 4 s
    assert other.status_code == 200


def test_the_rate_limit_is_configured_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SITERISK_RATE_LIMIT_PER_SECOND", "12.5")
    monkeypatch.setenv("SITERISK_REQUEST_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("SITERISK_MAX_BODY_BYTES", "1000")
    configured = Settings(home=tmp_path)
    assert configured.rate_limit_per_second == 12.5
    assert configured.request_timeout_seconds == 7
    assert configured.max_body_bytes == 1000
    for name in ("SITERISK_RATE_LIMIT_PER_SECOND", "SITERISK_REQUEST_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name)
    defaults = Settings(home=tmp_path)
    # One insurer's renewal run must never be throttled by default.
    assert defaults.rate_limit_per_second >= 2000


def test_a_database_outage_is_a_503_in_the_same_format(tmp_path: Path) -> None:
    gone = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'gone' / 'x.db'}")
    with TestClient(create_app(gone)) as client:
        response = client.get("/v1/quotes", headers=bearer("srk_0123456789ab_" + "x" * 43))
    assert response.status_code == 503
    assert _error(response).error.code == "database_unavailable"
    assert response.headers["retry-after"]


def test_a_deadline_stops_work_that_runs_past_it() -> None:
    from service.errors import TimedOutError

    Deadline.after(60).check("scoring")
    Deadline.never().check("scoring")
    with pytest.raises(TimedOutError, match=r"within 0\.5 s \(stopped at scoring\)") as raised:
        Deadline(at=0.0, seconds=0.5).check("scoring")
    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"] == "1"


def test_every_operation_documents_its_errors_in_the_one_format(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        document = client.get("/schema/openapi.json").json()
    error_ref = "#/components/schemas/ErrorBody"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            public = operation.get("security") == [{}]
            if not public:
                assert {401, 429, 503} <= errors, (method, path, sorted(errors))
            if method == "post" and "requestBody" in operation:
                assert {400, 413, 415, 422} <= errors, (method, path, sorted(errors))
            for status in errors:
                content = responses[str(status)].get("content", {})
                schema = content.get("application/json", {}).get("schema", {})
                if path != "/health/ready":
                    assert schema.get("$ref") == error_ref, (method, path, status, schema)


def test_options_and_405_list_every_method_of_a_path(
    client: TestClient[Any], keys: dict[str, dict[str, str]]
) -> None:
    """GET and POST share /v1/quotes: both answers name both (Litestar 2 named only the
    first handler's method in OPTIONS, litestar-org/litestar#4169)."""
    options = client.options("/v1/quotes", headers=keys["insurer"])
    assert options.status_code == 204
    assert set(options.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST", "OPTIONS"}
    refused = client.delete("/v1/quotes", headers=keys["insurer"])
    assert refused.status_code == 405
    assert set(refused.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST", "OPTIONS"}
