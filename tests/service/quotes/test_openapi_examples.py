"""The request examples of the OpenAPI document are real requests: cut from contract
data by the same code as ``siterisk quotes example``, and priced by the service as the
document shows them. To rewrite them (service/quotes/openapi_examples.json):

    PYTHONPATH=tests/service .venv/bin/python tests/service/quotes/test_openapi_examples.py
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient
from svc_helpers import bearer

from models.contract import validate_frames
from service.auth.store import IssuedKey
from service.quotes.example import EXAMPLES_FILE, openapi_examples
from training.synth import generate_world

pytestmark = pytest.mark.xdist_group("model")

# The world the examples are cut from: small, its 24 months end in 2024-12.
WORLD = {"sites": 40, "seed": 2024, "months": 24}
PRICING = (("/v1/quotes", 201), ("/v1/quotes/batch", 200))


def fresh_examples() -> list[dict[str, Any]]:
    world = generate_world(WORLD["sites"], seed=WORLD["seed"], months=WORLD["months"])
    data = validate_frames(world.sites, world.site_months, world.claims)
    return openapi_examples(data.sites, data.site_months, data.claims)


def _request_example(document: dict[str, Any], path: str) -> Any:
    media = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return media["example"]


def test_the_stored_examples_are_what_the_quotes_example_code_cuts() -> None:
    stored = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    assert stored == fresh_examples(), (
        f"{EXAMPLES_FILE.name} is out of date: run "
        "PYTHONPATH=tests/service .venv/bin/python tests/service/quotes/test_openapi_examples.py"
    )
    first, second = stored
    assert first["site"]["site_id"] != second["site"]["site_id"]


def test_the_documented_examples_are_priced_as_they_are(
    client: TestClient[Any], issue_key: Any
) -> None:
    insurer: IssuedKey = issue_key("insurer", insurer_id="I1")
    document = client.get("/schema/openapi.json").json()
    single = _request_example(document, "/v1/quotes")
    batch = _request_example(document, "/v1/quotes/batch")
    assert batch["items"][0] == single
    for path, status in PRICING:
        body = _request_example(document, path)
        response = client.post(path, json=body, headers=bearer(insurer.key))
        assert response.status_code == status, response.text
    answer = response.json()
    assert answer["failed"] == 0, answer
    assert [item["status"] for item in answer["items"]] == [201] * len(batch["items"])


def test_a_created_quote_says_where_it_is(client: TestClient[Any], issue_key: Any) -> None:
    """201 Created names the quote's URL in ``Location``, replayed answers too, and the
    OpenAPI document says so."""
    insurer: IssuedKey = issue_key("insurer", insurer_id="I1")
    body = _request_example(client.get("/schema/openapi.json").json(), "/v1/quotes")
    headers = {**bearer(insurer.key), "Idempotency-Key": "location-1"}
    created = client.post("/v1/quotes", json=body, headers=headers)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == f"/v1/quotes/{created.json()['quote_id']}"
    read_back = client.get(location, headers=bearer(insurer.key))
    assert read_back.status_code == 200
    assert read_back.json() == created.json()
    again = client.post("/v1/quotes", json=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == location

    document = client.get("/schema/openapi.json").json()
    answer = document["paths"]["/v1/quotes"]["post"]["responses"]["201"]
    assert "Location" in answer["headers"]


if __name__ == "__main__":
    text = json.dumps(fresh_examples(), ensure_ascii=False, indent=1) + "\n"
    EXAMPLES_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {EXAMPLES_FILE}")
