"""``GET /`` says what answers here and where to go, without a key."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from models.settings import Settings
from service.app import create_app
from service.release import service_version


def test_the_bare_address_names_the_service_and_its_doors(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        home: dict[str, Any] = response.json()
        assert home["service"] == "siterisk"
        assert home["version"] == service_version()
        links = home["links"]
        assert links["docs"] == "/schema"
        assert {links["portal"], links["ready"], links["quotes"]} == {
            "/portal",
            "/health/ready",
            "/v1/quotes",
        }
        # every link leads somewhere (pricing asks for a key, it does not 404)
        for link in links.values():
            assert client.get(link).status_code in (200, 401, 503), link
        document = client.get(links["openapi"]).json()
        operation = document["paths"]["/"]["get"]
        assert operation["security"] == [{}]
        assert "200" in operation["responses"]
