"""Liveness, readiness, metrics, docs and the headers every response carries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from svc_helpers import bearer, make_settings

from models.settings import Settings
from service.app import create_app
from service.db import migrate


class ReadyProvider:
    def ready(self) -> tuple[bool, str]:
        return True, "model m1 v3 loaded"

    def card(self) -> dict[str, Any]:
        return {"name": "m1", "version": "3"}


class ManagedProvider(ReadyProvider):
    def __init__(self) -> None:
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")


def test_live_answers_without_key_even_when_the_database_is_gone(tmp_path: Path) -> None:
    broken = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}")
    with TestClient(create_app(broken)) as client:
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "live"}


def test_ready_is_false_without_a_model(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["model"] == {"ok": False, "detail": "no model loaded"}


def test_ready_with_a_model_and_a_database(settings: Settings) -> None:
    with TestClient(create_app(settings, model_provider=ReadyProvider())) as client:
        response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["checks"]["model"]["detail"] == "model m1 v3 loaded"


def test_ready_is_false_when_the_database_is_unreachable(tmp_path: Path) -> None:
    broken = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}")
    with TestClient(create_app(broken, model_provider=ReadyProvider())) as client:
        response = client.get("/health/ready")
    assert response.status_code == 503
    database = response.json()["checks"]["database"]
    assert database == {"ok": False, "detail": "database unreachable"}
    assert str(tmp_path) not in response.text


def test_ready_is_false_on_an_unmigrated_or_outdated_database(tmp_path: Path) -> None:
    empty = make_settings(tmp_path)
    with TestClient(create_app(empty, model_provider=ReadyProvider())) as client:
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert "siterisk db upgrade" in response.json()["checks"]["database"]["detail"]
        migrate.upgrade(empty.db_url)
        assert client.get("/health/ready").status_code == 200


def test_ready_warns_about_the_dev_pepper_outside_dev(tmp_path: Path) -> None:
    prod = make_settings(tmp_path, env="production", key_pepper="siterisk-dev-pepper-not-a-secret")
    migrate.upgrade(prod.db_url)
    with TestClient(create_app(prod, model_provider=ReadyProvider())) as client:
        warnings = client.get("/health/ready").json()["warnings"]
    assert any("SITERISK_KEY_PEPPER" in w for w in warnings)
    prod_ok = make_settings(tmp_path, env="production", key_pepper="a-real-secret")
    with TestClient(create_app(prod_ok, model_provider=ReadyProvider())) as client:
        assert client.get("/health/ready").json()["warnings"] == []


def test_a_managed_provider_is_started_and_stopped(settings: Settings) -> None:
    provider = ManagedProvider()
    with TestClient(create_app(settings, model_provider=provider)) as client:
        assert provider.events == ["start"]
        assert client.get("/health/ready").status_code == 200
    assert provider.events == ["start", "stop"]


def _samples(text: str, name: str) -> dict[tuple[str, str, str], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                labels = sample.labels
                found[(labels["method"], labels["route"], labels["status"])] = sample.value
    return found


def test_metrics_count_requests_by_route_and_status(settings: Settings, issue_key: Any) -> None:
    key = issue_key("admin").key
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            client.get("/v1/whoami")
        client.get("/v1/whoami", headers=bearer(key))
        client.get("/no/such/route")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = _samples(response.text, "siterisk_http_requests_total")
    assert counts[("GET", "/v1/whoami", "401")] == 3
    assert counts[("GET", "/v1/whoami", "200")] == 1
    assert counts[("GET", "<unmatched>", "404")] == 1
    latency = _samples(response.text, "siterisk_http_request_duration_seconds_count")
    assert latency[("GET", "/v1/whoami", "401")] == 3


def test_docs_are_served_from_this_server_only(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        page = client.get("/schema")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "<script>" not in page.text  # no inline script for the CSP to forbid
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls
        assert not [u for u in urls if not u.startswith("/schema/")]
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100, url
        assert client.get("/schema/assets/swagger-editor.js").status_code == 404
        assert client.get("/schema/assets/..%2F..%2Fdocs.py").status_code == 404
        schema = client.get("/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert "/v1/whoami" in schema["paths"]
    assert schema["paths"]["/health/live"]["get"]["security"] == [{}]


def test_security_headers_on_every_kind_of_response(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        responses = [client.get("/health/live"), client.get("/v1/whoami"), client.get("/nope")]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["cache-control"] == "no-store"


def test_cors_is_closed_unless_origins_are_configured(settings: Settings, tmp_path: Path) -> None:
    preflight = {
        "Origin": "https://portal.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    with TestClient(create_app(settings)) as client:
        closed = client.options("/v1/whoami", headers=preflight)
        simple = client.get("/health/live", headers={"Origin": "https://portal.example"})
    assert "access-control-allow-origin" not in closed.headers
    assert "access-control-allow-origin" not in simple.headers
    open_settings = settings.model_copy(update={"cors_origins": ["https://portal.example"]})
    with TestClient(create_app(open_settings)) as client:
        allowed = client.options("/v1/whoami", headers=preflight)
        other = client.options(
            "/v1/whoami", headers={**preflight, "Origin": "https://evil.example"}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://portal.example"
    assert "access-control-allow-origin" not in other.headers
