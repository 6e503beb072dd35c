"""What is served is what is scored (issue 17): a world pushed through the feed, every
site active in a month quoted by reference, and each loss rate equal to what
``siterisk score`` gives that site-month from the same folder with the same model.
Also when several insurers pushed the site's claims (the features count every
insurer's) and when sites have more history than the API's old 36-month window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from feed_helpers import Keys, bearer
from fixtures.alien_world import make_alien_world, write_alien_csv
from litestar import Litestar
from litestar.testing import TestClient
from test_feed_acceptance import _push

from models.bundle import ModelBundle
from models.contract import ContractData, load_folder
from training.score import score_data

pytestmark = pytest.mark.xdist_group("feed-model")


def _quote_active_sites(
    client: TestClient[Litestar], key: str, data: ContractData, bundle: ModelBundle, month: str
) -> tuple[list[float], list[float], list[dict[str, Any]]]:
    """(served, scored) loss rates per hour of every site active in ``month``, quoted by
    reference with ``key``, and the priced answers."""
    scored = score_data(data, bundle)
    scored = scored[scored["month"] == month].set_index("site_id")
    sm = data.site_months
    active = sorted(sm.loc[(sm["month"] == month) & (sm["worker_hours"] > 0), "site_id"])
    assert len(active) > 20
    items = [{"site_id": s, "policy": {"start_month": month, "term_months": 12}} for s in active]
    answer = client.post("/v1/quotes/batch", json={"items": items}, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    served, expected, refused, quotes = [], [], [], []
    for site, item in zip(active, answer.json()["items"], strict=True):
        if item["status"] != 201:
            refused.append((site, item["error"]["fields"][0]["message"]))
            continue
        quotes.append({"site_id": site, **item["quote"]})
        served.append(item["quote"]["risk"]["loss_rate_per_10k_worker_hours"] / 1e4)
        expected.append(float(scored.loc[site, "loss_rate_per_hour"]))
    # only sites the plan may not price (no data before the month) are refused
    assert all("no months of smart-site data" in why for _, why in refused), refused
    assert len(served) >= 0.8 * len(active)
    return served, expected, quotes


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
    month = sorted(alien_data.site_months["month"].unique())[-6]
    served, expected, quotes = _quote_active_sites(
        client, keys.insurer, alien_data, feed_bundle, month
    )
    np.testing.assert_allclose(served, expected, rtol=1e-9, atol=0)
    # and the contractors' records were in play, not all empty
    assert any(
        f["feature"] == "contractor_other_sites" and f["value"]
        for q in quotes
        for f in q["explanation"]["factors"]
    )


def _feature(quote: dict[str, Any], name: str) -> float:
    return next(f["value"] for f in quote["explanation"]["factors"] if f["feature"] == name)


def test_claims_of_two_insurers_and_long_histories_are_scored_alike(
    server: str,
    client: TestClient[Litestar],
    keys: Keys,
    tmp_path: Path,
    feed_bundle: ModelBundle,
) -> None:
    """Half of every site's claims pushed by INS-A, half by INS-B, over 72 months: the
    folder holds them all, so ``siterisk score`` counts them all, and so do quotes by
    reference, whoever asks (INS-A sees INS-B's as counts only)."""
    world = make_alien_world(120, seed=4_048, months=72, start="2019-01")
    full = write_alien_csv(world, tmp_path / "full")
    claims = world["claims"]
    assert len(claims) > 40
    by_a = claims.iloc[::2]
    by_b = claims.iloc[1::2]
    folders = {}
    for name, part in (("a", by_a), ("b", by_b)):
        folder = write_alien_csv({**world, "claims": part}, tmp_path / name)
        (folder / "sites.csv").unlink()
        (folder / "site_months.csv").unlink()
        folders[name] = folder
    _push(full, server, keys.platform)
    _push(folders["a"], server, keys.insurer)
    _push(folders["b"], server, keys.other_insurer)
    data = load_folder(full)
    month = sorted(data.site_months["month"].unique())[-4]
    before = data.site_months[data.site_months["month"] < month].groupby("site_id").size()

    for key in (keys.insurer, keys.admin):
        served, expected, quotes = _quote_active_sites(client, key, data, feed_bundle, month)
        np.testing.assert_allclose(served, expected, rtol=1e-9, atol=0)
        # not vacuous: some quoted site has claims of both insurers before the month
        day = pd.Timestamp(f"{month}-01")
        early_a = by_a[pd.to_datetime(by_a["incident_date"]) < day]
        early_b = by_b[pd.to_datetime(by_b["incident_date"]) < day]
        counted = {q["site_id"]: _feature(q, "claims_count_all") for q in quotes}
        shown = sorted((set(early_a["site_id"]) & set(early_b["site_id"])) & set(counted))
        assert shown
        mine = early_a.groupby("site_id").size()
        assert all(counted[s] > mine[s] for s in shown)
        # sites with more than 36 months of data before the month were quoted on all of it
        history = {q["site_id"]: _feature(q, "months_of_history") for q in quotes}
        long = [s for s in history if before.get(s, 0) > 36]
        assert long
        assert all(history[s] == before[s] for s in long)
