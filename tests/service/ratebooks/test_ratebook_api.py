"""``/v1/admin/ratebooks`` and ``/v1/ratebooks``: admins validate, import, diff and
activate; an insurer reads only its own books (another's is a 404 like a missing one)."""

from __future__ import annotations

import copy
from typing import Any

from litestar.testing import TestClient
from ratebook_helpers import book_document, with_rates
from svc_helpers import bearer

from models.settings import Settings
from service.app import create_app

ADMIN = "/v1/admin/ratebooks"


def test_an_admin_validates_imports_diffs_and_activates(settings: Settings, issue_key: Any) -> None:
    admin = bearer(issue_key("admin", label="ops").key)
    doc = book_document("acme", "2026.1")
    broken = copy.deepcopy(doc)
    broken["tariff"]["bands"][2]["rate_per_mille"] = 0
    broken["prevention_share"] = "5%"
    with TestClient(create_app(settings)) as client:
        check = client.post(f"{ADMIN}/validate", json=broken, headers=admin)
        assert check.status_code == 200
        assert not check.json()["valid"]
        assert {p["path"] for p in check.json()["problems"]} == {
            "$.tariff.bands[2].rate_per_mille",
            "$.prevention_share",
        }
        refused = client.post(f"{ADMIN}/", json=broken, headers=admin)
        assert refused.status_code == 422
        assert {f["field"] for f in refused.json()["error"]["fields"]} == {
            "$.tariff.bands[2].rate_per_mille",
            "$.prevention_share",
        }
        assert client.post(f"{ADMIN}/validate", json=doc, headers=admin).json() == {
            "valid": True,
            "problems": [],
        }
        made = client.post(f"{ADMIN}/", json=doc, headers=admin)
        assert made.status_code == 201
        assert made.json()["created"] is True
        info = made.json()["info"]
        assert (info["insurer_id"], info["version"], info["activated_at"]) == (
            "acme",
            "2026.1",
            None,
        )
        assert info["imported_by"].endswith("(ops)")
        assert client.post(f"{ADMIN}/", json=doc, headers=admin).json()["created"] is False
        conflict = client.post(f"{ADMIN}/", json=with_rates(doc, 1.1), headers=admin)
        assert conflict.status_code == 409
        newer = with_rates(book_document("acme", "2026.2"), 1.1)
        assert client.post(f"{ADMIN}/", json=newer, headers=admin).status_code == 201
        diff = client.get(f"{ADMIN}/acme/2026.2/diff", params={"against": "2026.1"}, headers=admin)
        assert diff.status_code == 200
        paths = [c["path"] for c in diff.json()]
        assert "$.tariff.bands[0].rate_per_mille" in paths
        assert "$.version" in paths
        active = client.post(f"{ADMIN}/acme/2026.1/activate", headers=admin)
        assert active.status_code == 200
        assert active.json()["activated_by"].endswith("(ops)")
        assert active.json()["activated_at"] is not None
        listed = client.get(f"{ADMIN}/", params={"insurer_id": "acme"}, headers=admin).json()
        assert [(b["version"], b["activated_at"] is not None) for b in listed] == [
            ("2026.1", True),
            ("2026.2", False),
        ]
        read = client.get(f"{ADMIN}/acme/2026.1", headers=admin).json()
        assert read["document"] == doc | {"effective_to": None}
        assert client.post(f"{ADMIN}/acme/2031.1/activate", headers=admin).status_code == 404


def test_an_insurer_reads_only_its_own_books(settings: Settings, issue_key: Any) -> None:
    admin = bearer(issue_key("admin").key)
    acme = bearer(issue_key("insurer", insurer_id="acme").key)
    zenith = bearer(issue_key("insurer", insurer_id="zenith").key)
    with TestClient(create_app(settings)) as client:
        for insurer in ("acme", "zenith"):
            doc = book_document(insurer, "2026.1")
            assert client.post(f"{ADMIN}/", json=doc, headers=admin).status_code == 201
        assert (
            client.post(f"{ADMIN}/", json=book_document("acme", "2026.2"), headers=acme).status_code
            == 403
        )
        own = client.get("/v1/ratebooks/", headers=acme).json()
        assert [(b["insurer_id"], b["version"]) for b in own] == [("acme", "2026.1")]
        assert (
            client.get("/v1/ratebooks/2026.1", headers=acme).json()["info"]["insurer_id"] == "acme"
        )
        # zenith's own 2026.1 is there; acme's missing 2026.9 and zenith-only versions alike 404
        missing = client.get("/v1/ratebooks/2026.9", headers=acme)
        assert missing.status_code == 404
        client.post(f"{ADMIN}/", json=book_document("zenith", "2027.1"), headers=admin)
        others = client.get("/v1/ratebooks/2027.1", headers=acme)
        assert others.status_code == 404
        assert others.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
        assert others.json()["error"]["message"] == "no rate book '2027.1'"
        assert "zenith" not in others.text
        assert client.get("/v1/ratebooks/2027.1", headers=zenith).status_code == 200
        assert client.get(f"{ADMIN}/", headers=acme).status_code == 403
