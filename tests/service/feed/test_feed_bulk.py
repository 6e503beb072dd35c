"""The feed's writes: bulk uploads checked by the contract loader and stored all or
nothing, idempotent upserts with every version kept, roles, and JSON rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from feed_helpers import Keys, bearer, csv_part, parquet_part, rows
from litestar import Litestar
from litestar.testing import TestClient

from models.contract import ContractData, ContractError, load_folder

BROKEN_ROW = 37  # data row of site_months.csv, header excluded


def _upload(
    client: TestClient[Litestar], key: str, **parts: tuple[str, bytes, str]
) -> tuple[int, dict[str, object]]:
    response = client.post("/v1/feed/bulk", files=parts, headers=bearer(key))
    return response.status_code, response.json()


def _platform_upload(client: TestClient[Litestar], keys: Keys, data: ContractData) -> None:
    status, body = _upload(
        client,
        keys.platform,
        sites=parquet_part(data.sites, "sites.parquet"),
        site_months=parquet_part(data.site_months, "site_months.parquet"),
    )
    assert status == 200, body


def test_one_broken_row_stores_nothing_and_is_reported_as_validate_reports_it(
    bare_client: TestClient[Litestar], keys: Keys, alien_folder: Path, tmp_path: Path
) -> None:
    text = (alien_folder / "site_months.csv").read_text().splitlines()
    header = text[0].split(",")
    cells = text[BROKEN_ROW].split(",")
    cells[header.index("worker_hours")] = "-3"
    text[BROKEN_ROW] = ",".join(cells)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "site_months.csv").write_text("\n".join(text) + "\n")
    for name in ("sites.csv", "claims.csv"):
        (broken / name).write_bytes((alien_folder / name).read_bytes())

    status, body = _upload(
        bare_client,
        keys.platform,
        sites=("sites.csv", (broken / "sites.csv").read_bytes(), "text/csv"),
        site_months=("site_months.csv", (broken / "site_months.csv").read_bytes(), "text/csv"),
    )
    assert status == 422
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == "contract_violation"
    report = error["report"]
    assert report["total"] == 1
    (problem,) = report["problems"]
    assert (problem["file"], problem["row"], problem["column"]) == (
        "site_months.csv",
        BROKEN_ROW,
        "worker_hours",
    )
    assert error["fields"][0]["field"] == f"site_months.csv:{BROKEN_ROW} worker_hours"
    # The very report `siterisk data validate` gives for the folder.
    with pytest.raises(ContractError) as raised:
        load_folder(broken)
    assert [p.to_dict() for p in raised.value.report.problems] == report["problems"]
    # Nothing was stored, not even the valid sites file of the same upload.
    first_site = pd.read_csv(broken / "sites.csv")["site_id"].iloc[0]
    assert (
        bare_client.get(f"/v1/feed/sites/{first_site}", headers=bearer(keys.admin)).status_code
        == 404
    )


def test_the_same_upload_twice_creates_nothing_new(
    bare_client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    parts = {
        "sites": csv_part(alien_data.sites, "sites.csv"),
        "site_months": parquet_part(alien_data.site_months, "months.parquet"),
    }
    status, first = _upload(bare_client, keys.platform, **parts)
    assert status == 200, first
    n_months = len(alien_data.site_months)
    assert first["tables"] == {
        "sites": {"received": len(alien_data.sites), "inserted": len(alien_data.sites),
                  "updated": 0, "unchanged": 0},
        "site_months": {"received": n_months, "inserted": n_months, "updated": 0, "unchanged": 0},
    }  # fmt: skip
    status, second = _upload(bare_client, keys.platform, **parts)
    assert status == 200
    assert second["tables"]["site_months"]["unchanged"] == n_months  # type: ignore[index]
    assert second["tables"]["sites"]["unchanged"] == len(alien_data.sites)  # type: ignore[index]
    row = alien_data.site_months.iloc[5]
    history = bare_client.get(
        f"/v1/feed/sites/{row['site_id']}/months/{row['month']}/history",
        headers=bearer(keys.platform),
    ).json()
    assert [v["version"] for v in history["versions"]] == [1]


def test_months_may_follow_their_sites_and_must_name_a_stored_site(
    bare_client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    status, body = _upload(
        bare_client, keys.platform, sites=parquet_part(alien_data.sites, "sites.parquet")
    )
    assert status == 200, body
    months = alien_data.site_months
    status, body = _upload(
        bare_client, keys.platform, site_months=csv_part(months, "site_months.csv")
    )
    assert status == 200, body
    stray = months.head(3).copy()
    stray.loc[stray.index[1], "site_id"] = "NOT-A-SITE"
    status, body = _upload(bare_client, keys.platform, site_months=csv_part(stray, "late.csv"))
    assert status == 422
    (problem,) = body["error"]["report"]["problems"]  # type: ignore[index]
    assert (problem["file"], problem["row"], problem["rule"]) == ("late.csv", 2, "reference")
    assert "the stored sites" in problem["message"]


@pytest.mark.parametrize(
    ("role", "table", "status"),
    [
        ("insurer", "sites", 403),
        ("platform", "claims", 403),
        ("regulator", "site_months", 403),
        ("contractor", "claims", 403),
        ("admin", "sites", 403),
        ("platform", "buildings", 422),
    ],
)
def test_each_role_feeds_only_its_own_tables(
    bare_client: TestClient[Litestar],
    keys: Keys,
    alien_data: ContractData,
    role: str,
    table: str,
    status: int,
) -> None:
    frame = alien_data.claims if table == "claims" else alien_data.sites
    got, body = _upload(bare_client, getattr(keys, role), **{table: csv_part(frame, "x.csv")})
    assert got == status, body


def test_files_must_be_csv_or_parquet(
    bare_client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    status, body = _upload(
        bare_client, keys.platform, sites=("sites.xlsx", b"PK\x03\x04", "application/zip")
    )
    assert status == 422
    assert body["error"]["fields"][0]["field"] == "sites"  # type: ignore[index]
    status, body = _upload(
        bare_client, keys.platform, sites=("sites.parquet", b"not parquet", "application/x")
    )
    assert status == 422
    assert body["error"]["report"]["problems"][0]["rule"] == "unreadable"  # type: ignore[index]


def test_claims_belong_to_their_insurer_and_keep_every_version(
    bare_client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    _platform_upload(bare_client, keys, alien_data)
    claim = rows(alien_data.claims.head(1), "claims")[0]
    first = bare_client.post(
        "/v1/feed/claims", json={"claims": [claim]}, headers=bearer(keys.insurer)
    )
    assert first.status_code == 200, first.text
    assert first.json()["rows"] == [
        {"key": {"claim_id": claim["claim_id"]}, "status": "inserted", "version": 1}
    ]
    # Another insurer may use the same claim id: a claim of its own.
    theirs = {**claim, "paid_cny": claim["paid_cny"] + 999.0}
    other = bare_client.post(
        "/v1/feed/claims", json={"claims": [theirs]}, headers=bearer(keys.other_insurer)
    )
    assert other.json()["rows"][0]["status"] == "inserted"
    # A development of the claim is its next version; the first one is kept.
    grown = {**claim, "paid_cny": claim["paid_cny"] + 100.0, "reserve_cny": 0.0}
    again = bare_client.post(
        "/v1/feed/claims", json={"claims": [grown]}, headers=bearer(keys.insurer)
    )
    assert again.json()["rows"][0] == {
        "key": {"claim_id": claim["claim_id"]}, "status": "updated", "version": 2
    }  # fmt: skip
    mine = bare_client.get(
        f"/v1/feed/claims/{claim['claim_id']}/history", headers=bearer(keys.insurer)
    ).json()
    assert [v["row"]["paid_cny"] for v in mine["versions"]] == [
        grown["paid_cny"],
        claim["paid_cny"],
    ]
    assert mine["versions"][0]["superseded_at"] is None
    assert mine["versions"][1]["superseded_at"] is not None
    other_view = bare_client.get(
        f"/v1/feed/claims/{claim['claim_id']}/history", headers=bearer(keys.other_insurer)
    ).json()
    assert [v["row"]["paid_cny"] for v in other_view["versions"]] == [theirs["paid_cny"]]
    # Claims are no one else's business.
    for key in (keys.platform, keys.admin, keys.regulator):
        denied = bare_client.get(
            f"/v1/feed/claims/{claim['claim_id']}/history", headers=bearer(key)
        )
        assert denied.status_code == 403


def test_json_rows_name_the_offending_field(
    bare_client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    site = rows(alien_data.sites.head(1), "sites")[0]
    sid = site["site_id"]
    month = rows(alien_data.site_months.head(1), "site_months")[0]
    month["site_id"] = sid

    def field(response: object) -> str:
        body = response.json()  # type: ignore[attr-defined]
        assert response.status_code == 422, body  # type: ignore[attr-defined]
        return str(body["error"]["fields"][0]["field"])

    headers = bearer(keys.platform)
    assert field(bare_client.put(f"/v1/feed/sites/{sid}", json={**site, "district": "mars"},
                                 headers=headers)) == "district"  # fmt: skip
    assert field(bare_client.put("/v1/feed/sites/OTHER", json=site, headers=headers)) == "site_id"
    assert field(bare_client.put(f"/v1/feed/sites/{sid}", json={**site, "tower_cranes": "2"},
                                 headers=headers)) == "tower_cranes"  # fmt: skip
    # A month of a site not stored yet.
    path = f"/v1/feed/sites/{sid}/months/{month['month']}"
    assert field(bare_client.put(path, json=month, headers=headers)) == "site_id"
    assert bare_client.put(f"/v1/feed/sites/{sid}", json=site, headers=headers).status_code == 200
    stored = bare_client.put(path, json=month, headers=headers)
    assert stored.json()["rows"][0]["status"] == "inserted"
    assert field(bare_client.put(path, json={**month, "major_hazards": 10**6, "hazards_found": 1},
                                 headers=headers)) == "major_hazards"  # fmt: skip
    ancient = {**month, "month": "0000-01"}
    assert field(bare_client.put(f"/v1/feed/sites/{sid}/months/0000-01", json=ancient,
                                 headers=headers)) == "month"  # fmt: skip
    claim = rows(alien_data.claims.head(1), "claims")[0]
    claim["site_id"] = sid
    insurer = bearer(keys.insurer)
    bad = {"claims": [claim, {**claim, "claim_id": "B", "severity": "bruise"}]}
    assert field(bare_client.post("/v1/feed/claims", json=bad, headers=insurer)) == (
        "claims[1].severity"
    )
    long_id = {"claims": [{**claim, "claim_id": "C" * 129}]}
    assert field(bare_client.post("/v1/feed/claims", json=long_id, headers=insurer)) == (
        "claims[0].claim_id"
    )
    # None of the refused rows was stored.
    assert bare_client.get(f"/v1/feed/sites/{sid}", headers=headers).json()["months"] == [
        {"month": month["month"], "version": 1}
    ]


def test_the_api_documents_the_feed_and_quotes_by_reference(
    bare_client: TestClient[Litestar],
) -> None:
    document = bare_client.get("/schema/openapi.json").json()
    body = document["paths"]["/v1/quotes"]["post"]["requestBody"]["content"]
    refs = {s["$ref"].rsplit("/", 1)[-1] for s in body["application/json"]["schema"]["oneOf"]}
    assert refs == {"QuoteRequest", "QuoteReference"}
    bulk = document["paths"]["/v1/feed/bulk"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in bulk
    for path in (
        "/v1/feed/sites/{site_id}",
        "/v1/feed/sites/{site_id}/months/{month}",
        "/v1/feed/sites/{site_id}/months/{month}/history",
        "/v1/feed/claims",
        "/v1/sites",
        "/v1/sites/{site_id}/profile",
    ):
        assert path in document["paths"], path
