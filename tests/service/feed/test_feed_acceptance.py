"""Issue 10's acceptance, from outside: a contract folder the project never saw is pushed
with ``siterisk data push`` to a running service, then quoted by ``site_id``; every
quote equals the inline quote of the same rows to the cent, and names the stored rows
it used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from feed_helpers import Keys, bearer, inline_request
from litestar import Litestar
from litestar.testing import TestClient
from typer.testing import CliRunner

from models.contract import ContractData
from service.cli import app as cli

pytestmark = pytest.mark.xdist_group("feed-model")

# Fields that differ between any two quotes, however priced.
VOLATILE = ("quote_id", "created_at", "inputs")


def _push(folder: Path, url: str, key: str, *extra: str) -> str:
    result = CliRunner().invoke(
        cli, ["data", "push", str(folder), "--url", url, "--key", key, *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output


def _same(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in a.items() if k not in VOLATILE}, {
        k: v for k, v in b.items() if k not in VOLATILE
    }


def _cases(data: ContractData, rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """(site, start month) pairs: sites with claims first, starts inside and after
    their history."""
    months = data.site_months.groupby("site_id")["month"].agg(["min", "max", "count"])
    months = months[months["count"] >= 2]
    with_claims = set(data.claims["site_id"])
    ids = sorted(months.index, key=lambda s: (s not in with_claims, s))[:n]
    out = []
    for sid in ids:
        first, last = months.loc[sid, "min"], months.loc[sid, "max"]
        inside = sorted(data.site_months.loc[data.site_months["site_id"] == sid, "month"])
        after = f"{int(last[:4]) + (int(last[5:]) == 12)}-{int(last[5:]) % 12 + 1:02d}"
        start = after if rng.random() < 0.5 else inside[len(inside) // 2]
        assert start > first
        out.append((sid, start))
    return out


def test_a_pushed_world_quotes_by_reference_exactly_as_inline(
    server: str,
    client: TestClient[Litestar],
    keys: Keys,
    alien_folder: Path,
    alien_data: ContractData,
) -> None:
    platform_out = _push(alien_folder, server, keys.platform, "--chunk-rows", "400")
    assert "✓ pushed" in platform_out
    insurer_out = _push(alien_folder, server, keys.insurer, "--chunk-rows", "50")
    assert f"{len(alien_data.claims):,} claims" in insurer_out

    rng = np.random.default_rng(10)
    cases = _cases(alien_data, rng, 12)
    claims_used = 0
    for site_id, start in cases:
        for key, with_claims in ((keys.insurer, True), (keys.other_insurer, False)):
            ref = client.post(
                "/v1/quotes",
                json={"site_id": site_id, "policy": {"start_month": start, "term_months": 12}},
                headers=bearer(key),
            )
            assert ref.status_code == 201, ref.text
            body = inline_request(alien_data, site_id, start, with_claims=with_claims)
            inline = client.post("/v1/quotes", json=body, headers=bearer(key))
            assert inline.status_code == 201, inline.text
            by_ref, by_rows = ref.json(), inline.json()
            left, right = _same(by_ref, by_rows)
            assert left == right, site_id
            # the feed holds every insurer's claims, so a reference always knows them:
            # its claims criteria are evaluated, never "not evaluable"
            claims_criteria = [
                c
                for t in by_ref["incentives"]["tiers"]
                for c in t["criteria"]
                if c["metric"] == "claims_count"
            ]
            assert claims_criteria
            assert {c["outcome"] for c in claims_criteria} <= {"met", "not_met"}
            assert by_rows["inputs"] is None
            used = by_ref["inputs"]
            assert used["site_id"] == site_id
            assert [m["month"] for m in used["months"]] == [m["month"] for m in body["months"]]
            assert {m["version"] for m in used["months"]} == {1}
            assert [c["claim_id"] for c in used["claims"]] == [
                c["claim_id"] for c in body["claims"]
            ]
            assert used["claims_scope"] == "own"
            claims_used += len(used["claims"])
            # The stored quote says the same, and its request is the full inline one.
            again = client.get(f"/v1/quotes/{by_ref['quote_id']}", headers=bearer(key))
            assert again.json()["inputs"] == used
    # The cases exercised the insurer's own claims, not only clean sites.
    assert claims_used > 0


def test_a_quote_by_reference_of_an_unknown_site_or_empty_history_names_the_field(
    client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    policy = {"start_month": "2024-01", "term_months": 12}
    missing = client.post(
        "/v1/quotes", json={"site_id": "NOPE", "policy": policy}, headers=bearer(keys.insurer)
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"][0]["field"] == "site_id"
    site = alien_data.sites.iloc[[0]]
    from feed_helpers import rows

    stored = client.put(
        f"/v1/feed/sites/{site['site_id'].iloc[0]}",
        json=rows(site, "sites")[0],
        headers=bearer(keys.platform),
    )
    assert stored.status_code == 200, stored.text
    empty = client.post(
        "/v1/quotes",
        json={"site_id": site["site_id"].iloc[0], "policy": policy},
        headers=bearer(keys.insurer),
    )
    assert empty.status_code == 422
    assert empty.json()["error"]["fields"][0]["field"] == "policy.start_month"
    # Unknown fields are refused as for inline requests.
    extra = client.post(
        "/v1/quotes",
        json={"site_id": "X", "policy": policy, "months": []},
        headers=bearer(keys.insurer),
    )
    assert extra.status_code == 422
    assert extra.json()["error"]["fields"][0]["field"] == "months"


def test_a_batch_may_mix_references_and_rows(
    client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    from feed_helpers import parquet_part

    for key, parts in (
        (keys.platform, {"sites": alien_data.sites, "site_months": alien_data.site_months}),
        (keys.insurer, {"claims": alien_data.claims}),
    ):
        files = {t: parquet_part(f, f"{t}.parquet") for t, f in parts.items()}
        assert client.post("/v1/feed/bulk", files=files, headers=bearer(key)).status_code == 200
    last = alien_data.site_months.groupby("site_id")["month"].max().sort_index()
    picks = list(last.index[:3])
    starts = {s: f"{int(last[s][:4]) + (last[s][5:] == '12')}-{int(last[s][5:]) % 12 + 1:02d}"
              for s in picks}  # fmt: skip
    refs = [{"site_id": s, "policy": {"start_month": starts[s], "term_months": 12}} for s in picks]
    inline = inline_request(alien_data, picks[1], starts[picks[1]], with_claims=True)
    unknown = {"site_id": "NOPE", "policy": {"start_month": "2024-01", "term_months": 12}}
    batch = client.post(
        "/v1/quotes/batch",
        json={"items": [refs[0], inline, refs[2], unknown]},
        headers=bearer(keys.insurer),
    )
    assert batch.status_code == 200, batch.text
    items = batch.json()["items"]
    assert [i["status"] for i in items] == [201, 201, 201, 422]
    assert items[3]["error"]["fields"][0]["field"] == "items[3].site_id"
    assert items[0]["quote"]["inputs"]["site_id"] == picks[0]
    assert items[1]["quote"]["inputs"] is None
    single = client.post("/v1/quotes", json=refs[2], headers=bearer(keys.insurer)).json()
    left, right = _same(items[2]["quote"], single)
    assert left == right
