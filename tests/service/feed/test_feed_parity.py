"""What is served is what is scored (issue 17): a world pushed through the feed, every
site active in a month quoted by reference, and each loss rate equal to what
``siterisk score`` gives that site-month from the same folder with the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from feed_helpers import Keys, bearer
from litestar import Litestar
from litestar.testing import TestClient
from test_feed_acceptance import _push

from models.bundle import ModelBundle
from models.contract import ContractData
from training.score import score_data

pytestmark = pytest.mark.xdist_group("feed-model")


def test_quotes_by_reference_carry_the_loss_rate_siterisk_score_gives(
    server: str,
    client: TestClient[Litestar],
    keys: Keys,
    alien_folder: Path,
    alien_data: ContractData,
    feed_bundle: ModelBundle,
) -> None:
    _push(alien_folder, server, keys.platform)
    _push(alien_folder, server, keys.insurer)
    months = sorted(alien_data.site_months["month"].unique())
    month = months[-6]
    scored = score_data(alien_data, feed_bundle)
    scored = scored[scored["month"] == month].set_index("site_id")
    sm = alien_data.site_months
    active = sorted(sm.loc[(sm["month"] == month) & (sm["worker_hours"] > 0), "site_id"])
    assert len(active) > 30
    items = [{"site_id": s, "policy": {"start_month": month, "term_months": 12}} for s in active]
    answer = client.post("/v1/quotes/batch", json={"items": items}, headers=bearer(keys.insurer))
    assert answer.status_code == 200, answer.text
    served, expected, refused = [], [], []
    for site, item in zip(active, answer.json()["items"], strict=True):
        if item["status"] != 201:
            refused.append((site, item["error"]["fields"][0]["message"]))
            continue
        served.append(item["quote"]["risk"]["loss_rate_per_10k_worker_hours"] / 1e4)
        expected.append(float(scored.loc[site, "loss_rate_per_hour"]))
    # only sites the plan may not price (no data before the month) are refused
    assert all("no months of smart-site data" in why for _, why in refused), refused
    assert len(served) >= 0.8 * len(active)
    np.testing.assert_allclose(served, expected, rtol=1e-9, atol=0)
    # and the contractors' records were in play, not all empty
    record = [
        i["quote"]["explanation"]["factors"] for i in answer.json()["items"] if i["status"] == 201
    ]
    assert any(
        f["feature"] == "contractor_other_sites" and f["value"]
        for factors in record
        for f in factors
    )
