"""One error format for everything: validation, auth, limits, outages, bugs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import pytest
from litestar import get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import TestClient
from sqlalchemy.exc import OperationalError
from svc_helpers import bearer, make_settings

from models.contract import spec
from models.settings import Settings
from service.app import create_app
from service.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
    user_message,
)
from service.rate_limit import TokenBucketLimiter


class Month(msgspec.Struct):
    month: str
    worker_hours: Annotated[int, msgspec.Meta(ge=0)]


class Payload(msgspec.Struct):
    site_id: str
    months: list[Month]


@post("/v1/echo", sync_to_thread=False)
def echo(data: JSONBody[Payload]) -> Payload:
    return data


class Choice(msgspec.Struct, forbid_unknown_fields=True):
    month: Annotated[str, msgspec.Meta(pattern=spec.MONTH_PATTERN)]
    kind: Literal["public", "private"] | None = None
    other: Annotated[str, msgspec.Meta(pattern=r"^x+$")] = "x"


@post("/v1/choose", sync_to_thread=False)
def choose(data: JSONBody[Choice]) -> Choice:
    return data


RAISES: dict[str, Exception] = {
    "conflict": ConflictError("quote Q1 was made from a different request"),
    "not_found": NotFoundError(),
    "forbidden": ForbiddenError(),
    "invalid": InvalidInputError(
        "bad month", fields=[FieldError("months[0].month", "not a month")]
    ),
    "unavailable": UnavailableError("model is reloading", retry_after=3),
    "database": OperationalError("SELECT secret FROM t", {}, Exception("host db.internal:5432")),
    "bug": RuntimeError("secret internal detail in /srv/app/pricing.py"),
    "decode": msgspec.ValidationError("Expected `int`, got `str` - at `$.months[2].worker_hours`"),
}


@get("/v1/raise/{kind:str}", sync_to_thread=False)
def raise_it(kind: FromPath[str]) -> None:
    raise RAISES[kind]


ROUTES = [echo, choose, raise_it]


@pytest.fixture
def client_and_key(settings: Settings, issue_key: Any) -> Any:
    key = issue_key("admin").key
    with TestClient(create_app(settings, route_handlers=ROUTES)) as client:
        yield client, bearer(key)


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["status"] == response.status_code
    assert response.headers["content-type"].startswith("application/json")
    return error


def test_validation_errors_name_the_field_path(client_and_key: Any) -> None:
    client, auth = client_and_key
    months = [{"month": f"2025-0{i + 1}", "worker_hours": 10} for i in range(5)]
    assert (
        client.post("/v1/echo", json={"site_id": "S1", "months": months}, headers=auth).status_code
        == 201
    )
    months[3]["worker_hours"] = -4
    response = client.post("/v1/echo", json={"site_id": "S1", "months": months}, headers=auth)
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == ["months[3].worker_hours"]
    assert ">= 0" in error["fields"][0]["message"]
    assert error["message"].startswith("the request is not valid: months[3].worker_hours: ")


def test_a_missing_field_and_a_wrong_type_are_422(client_and_key: Any) -> None:
    client, auth = client_and_key
    missing = client.post("/v1/echo", json={"months": []}, headers=auth)
    assert missing.status_code == 422
    assert _error(missing)["fields"] == [
        {"field": "site_id", "message": "required field is missing"}
    ]
    nested = client.post(
        "/v1/echo", json={"site_id": "S", "months": [{"month": "m"}]}, headers=auth
    )
    assert _error(nested)["fields"][0]["field"] == "months[0].worker_hours"
    no_body = client.post("/v1/echo", headers=auth)
    assert _error(no_body)["fields"] == [{"field": "body", "message": "a JSON body is required"}]
    wrong = client.post("/v1/echo", json={"site_id": "S", "months": "many"}, headers=auth)
    assert _error(wrong)["fields"][0]["field"] == "months"


def test_unreadable_json_is_400_in_the_same_format(client_and_key: Any) -> None:
    client, auth = client_and_key
    response = client.post(
        "/v1/echo", content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "bad_request"


def test_truncated_json_gives_the_byte_where_the_body_ends(client_and_key: Any) -> None:
    client, auth = client_and_key
    body = b'{"site_id": "S1", "months": [{"month": "2025-01"'
    response = client.post(
        "/v1/echo", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "bad_request"
    assert error["message"] == (
        f"JSON is malformed: the body ends before the JSON does (byte {len(body)})"
    )


def test_messages_say_what_is_expected_not_how_it_is_checked(client_and_key: Any) -> None:
    client, auth = client_and_key
    month = _error(client.post("/v1/choose", json={"month": "2025-13"}, headers=auth))
    assert month["fields"] == [{"field": "month", "message": "expected a month as YYYY-MM"}]
    assert month["message"] == "the request is not valid: month: expected a month as YYYY-MM"
    assert "regex" not in str(month)
    kind = _error(
        client.post("/v1/choose", json={"month": "2025-12", "kind": "state"}, headers=auth)
    )
    assert kind["fields"] == [
        {"field": "kind", "message": "'state' is not allowed; expected one of 'private', 'public'"}
    ]
    # a pattern without words keeps msgspec's message, as do other kinds of mistakes
    other = _error(client.post("/v1/choose", json={"month": "2025-12", "other": "y"}, headers=auth))
    assert other["fields"][0]["message"] == "Expected `str` matching regex '^x+$'"
    assert user_message("Expected `int`, got `str`") == "Expected `int`, got `str`"
    assert user_message("Invalid enum value 'x'") == "Invalid enum value 'x'"  # type unknown


def test_quote_requests_get_the_same_words(client_and_key: Any) -> None:
    """Quote bodies are read by the service itself (strictly), not by Litestar: the same
    words, with the allowed values of the contract's categories, the field path kept."""
    client, auth = client_and_key
    policy = {"start_month": "2025-1", "term_months": 12}
    month = _error(
        client.post("/v1/quotes", json={"site_id": "S1", "policy": policy}, headers=auth)
    )
    assert month["fields"] == [
        {"field": "policy.start_month", "message": "expected a month as YYYY-MM"}
    ]
    site = {"district": "atlantis"}
    body = {"site": site, "months": [], "policy": {**policy, "start_month": "2025-01"}}
    district = _error(client.post("/v1/quotes", json=body, headers=auth))
    (field,) = district["fields"]
    assert field["field"] == "site.district"
    districts = next(c for c in spec.columns("sites") if c.name == "district").choices
    assert districts
    assert field["message"].startswith("'atlantis' is not allowed; expected one of ")
    assert all(repr(d) in field["message"] for d in districts)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("conflict", 409, "conflict"),
        ("not_found", 404, "not_found"),
        ("forbidden", 403, "forbidden"),
        ("invalid", 422, "validation_error"),
        ("unavailable", 503, "service_unavailable"),
        ("database", 503, "database_unavailable"),
        ("decode", 422, "validation_error"),
    ],
)
def test_domain_errors_map_to_status_and_code(
    client_and_key: Any, kind: str, status: int, code: str
) -> None:
    client, auth = client_and_key
    response = client.get(f"/v1/raise/{kind}", headers=auth)
    assert response.status_code == status
    error = _error(response)
    assert error["code"] == code
    assert "secret" not in response.text
    assert "db.internal" not in response.text


def test_field_details_and_retry_hints_survive(client_and_key: Any) -> None:
    client, auth = client_and_key
    invalid = _error(client.get("/v1/raise/invalid", headers=auth))
    assert invalid["fields"] == [{"field": "months[0].month", "message": "not a month"}]
    assert client.get("/v1/raise/unavailable", headers=auth).headers["retry-after"] == "3"
    assert client.get("/v1/raise/database", headers=auth).headers["retry-after"] == "5"
    decode = _error(client.get("/v1/raise/decode", headers=auth))
    assert decode["fields"] == [
        {"field": "months[2].worker_hours", "message": "Expected `int`, got `str`"}
    ]


def test_a_bug_is_a_500_that_leaks_nothing_but_a_reference(
    client_and_key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, auth = client_and_key
    with caplog.at_level(logging.ERROR, logger="service.errors"):
        response = client.get("/v1/raise/bug", headers=auth)
    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "internal_error"
    assert "secret" not in response.text
    assert "pricing.py" not in response.text
    reference = error["message"].rsplit(" ", 1)[1].rstrip(")")
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


def test_unknown_routes_and_methods(client_and_key: Any) -> None:
    client, auth = client_and_key
    assert _error(client.get("/v1/nothing-here", headers=auth))["code"] == "not_found"
    wrong_method = client.delete("/v1/echo", headers=auth)
    assert wrong_method.status_code == 405
    assert _error(wrong_method)["code"] == "method_not_allowed"
    assert "POST" in wrong_method.headers["allow"]


def test_a_body_over_the_limit_is_413(settings: Settings, issue_key: Any) -> None:
    key = issue_key("admin").key
    small = settings.model_copy(update={"max_body_bytes": 200})
    months = [{"month": "2025-01", "worker_hours": 1}] * 20
    with TestClient(create_app(small, route_handlers=ROUTES)) as client:
        ok = client.post("/v1/echo", json={"site_id": "S", "months": []}, headers=bearer(key))
        big = client.post("/v1/echo", json={"site_id": "S", "months": months}, headers=bearer(key))
    assert ok.status_code == 201
    assert big.status_code == 413
    error = _error(big)
    assert error["code"] == "payload_too_large"
    assert "200 bytes" in error["message"]


def test_rate_limit_is_per_key_with_retry_after(settings: Settings, issue_key: Any) -> None:
    first, second = issue_key("admin").key, issue_key("platform").key
    slow = settings.model_copy(update={"rate_limit_per_second": 0.5})
    with TestClient(create_app(slow)) as client:
        assert client.get("/v1/whoami", headers=bearer(first)).status_code == 200
        limited = client.get("/v1/whoami", headers=bearer(first))
        other = client.get("/v1/whoami", headers=bearer(second))
        public = client.get("/health/live")
    assert limited.status_code == 429
    assert _error(limited)["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) == 2  # one token every 2 s
    assert other.status_code == 200
    assert public.status_code == 200


def test_the_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucketLimiter(rate=10.0, burst=3.0, clock=lambda: now[0])
    assert [bucket.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire("k") == pytest.approx(0.1)
    assert bucket.acquire("other") == 0.0
    now[0] += 0.25  # 2.5 tokens back
    assert [bucket.acquire("k") > 0 for _ in range(3)] == [False, False, True]
    now[0] += 100.0  # never more than the burst
    assert sum(bucket.acquire("k") == 0.0 for _ in range(10)) == 3


def test_default_rate_does_not_throttle_a_renewal_run(settings: Settings) -> None:
    assert settings.rate_limit_per_second >= 2000
    bucket = TokenBucketLimiter(settings.rate_limit_per_second)
    assert all(bucket.acquire("insurer") == 0.0 for _ in range(2000))


def test_a_database_outage_during_authentication_is_503(tmp_path: Path) -> None:
    gone = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'gone' / 'x.db'}")
    key = "srk_0123456789ab_" + "x" * 43
    with TestClient(create_app(gone)) as client:
        response = client.get("/v1/whoami", headers=bearer(key))
    assert response.status_code == 503
    error = _error(response)
    assert error["code"] == "database_unavailable"
    assert str(tmp_path) not in response.text
