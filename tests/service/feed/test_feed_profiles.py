"""Regulators' site profiles: district scope, grades from the versioned cutoffs, 工地画像
groups against district peers, trends — and never a premium, an insurer or a claim."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from feed_helpers import Keys, bearer, parquet_part, rows
from litestar import Litestar
from litestar.testing import TestClient

from models import features as fdef
from models.bundle import ModelBundle
from models.contract import ContractData, empty_frame
from models.contract.spec import Group
from models.pricing.grades import load_grades

pytestmark = pytest.mark.xdist_group("feed-model")

# Nothing a regulator reads may name or hint at these.
FORBIDDEN_KEYS = ("premium", "insurer", "claim", "paid", "reserve", "incurred", "loss", "cny")
DISTRICT = "pudong"


def _feed(client: TestClient[Litestar], keys: Keys, data: ContractData) -> None:
    for key, parts in (
        (keys.platform, {"sites": data.sites, "site_months": data.site_months}),
        (keys.insurer, {"claims": data.claims}),
    ):
        files = {t: parquet_part(f, f"{t}.parquet") for t, f in parts.items()}
        response = client.post("/v1/feed/bulk", files=files, headers=bearer(key))
        assert response.status_code == 200, response.text


def _scan(value: Any, secrets: set[str], path: str = "$") -> list[str]:
    """Every key or string value of a JSON document that gives insurance data away."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if any(word in str(k).lower() for word in FORBIDDEN_KEYS):
                found.append(f"{path}.{k}")
            found += _scan(v, secrets, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _scan(v, secrets, f"{path}[{i}]")
    elif isinstance(value, str) and any(s in value for s in secrets):
        found.append(f"{path} = {value!r}")
    return found


def _next(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    return f"{y + m // 12}-{m % 12 + 1:02d}"


def test_a_district_regulator_sees_its_district_only_and_nothing_of_insurers(
    client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    _feed(client, keys, alien_data)
    mine = set(alien_data.sites.loc[alien_data.sites["district"] == DISTRICT, "site_id"])
    others = set(alien_data.sites["site_id"]) - mine
    assert mine
    assert others
    secrets = {"INS-A", "INS-B", *alien_data.claims["claim_id"]}
    answers: list[Any] = []
    regulator = bearer(keys.regulator)

    listing = client.get("/v1/sites", params={"limit": 500}, headers=regulator)
    assert listing.status_code == 200, listing.text
    page = listing.json()
    answers.append(page)
    assert {i["site_id"] for i in page["items"]} == mine
    assert page["total"] == len(mine)
    assert {i["district"] for i in page["items"]} == {DISTRICT}
    percentiles = [i["percentile"] for i in page["items"] if i["percentile"] is not None]
    assert percentiles == sorted(percentiles, reverse=True)  # riskiest first

    for grade in "ABCDE":
        filtered = client.get("/v1/sites", params={"grade": grade, "limit": 500}, headers=regulator)
        answers.append(filtered.json())
        expected = {i["site_id"] for i in page["items"] if i["grade"] == grade}
        assert {i["site_id"] for i in filtered.json()["items"]} == expected

    for site_id in sorted(mine):
        profile = client.get(f"/v1/sites/{site_id}/profile", headers=regulator)
        assert profile.status_code == 200, profile.text
        answers.append(profile.json())
    missing = []
    for site_id in [*sorted(others)[:10], "NO-SUCH-SITE"]:
        outside = client.get(f"/v1/sites/{site_id}/profile", headers=regulator)
        assert outside.status_code == 404
        missing.append(outside.json())
        answers.append(outside.json())
    # An outside site and one that does not exist read alike.
    assert {m["error"]["code"] for m in missing} == {"not_found"}
    other_district = client.get("/v1/sites", params={"district": "minhang"}, headers=regulator)
    assert other_district.status_code == 404
    answers.append(other_district.json())

    city = client.get("/v1/sites", params={"limit": 500}, headers=bearer(keys.city_regulator))
    assert city.json()["total"] == len(alien_data.sites)
    answers.append(city.json())

    leaks = [leak for answer in answers for leak in _scan(answer, secrets)]
    assert leaks == []
    for key in (keys.insurer, keys.platform, keys.admin, keys.contractor):
        assert client.get("/v1/sites", headers=bearer(key)).status_code == 403


def test_grades_groups_and_trends_come_from_the_model_on_platform_data_alone(
    client: TestClient[Litestar], keys: Keys, alien_data: ContractData, feed_bundle: ModelBundle
) -> None:
    _feed(client, keys, alien_data)
    rules = load_grades()
    regulator = bearer(keys.city_regulator)
    months = alien_data.site_months
    # Sites with claims: grading them without their claims is what is checked here.
    with_claims = sorted(set(alien_data.claims["site_id"]) & set(months["site_id"]))[:6]
    for site_id in with_claims:
        profile = client.get(f"/v1/sites/{site_id}/profile", headers=regulator).json()
        latest = months.loc[months["site_id"] == site_id, "month"].max()
        assert profile["as_of"] == _next(latest)
        assert profile["grade_rules"] == rules.version
        assert profile["grade"] == rules.grade(profile["percentile"]).grade
        # The percentile is the model's, from the site's rows and no claims at all.
        site = alien_data.sites[alien_data.sites["site_id"] == site_id]
        own = months[months["site_id"] == site_id]
        target = pd.DataFrame({"site_id": [site_id], "month": [profile["as_of"]]})
        x = fdef.to_matrix(fdef.build_features(site, own, empty_frame("claims"), targets=target))
        expected = float(feed_bundle.percentile(feed_bundle.loss_rate(x))[0])
        assert profile["percentile"] == pytest.approx(expected, abs=1e-9)
        # 工地画像 groups: the model's TreeSHAP per group, claims history left out.
        phi = feed_bundle.contributions(x)[0]
        groups = {g["group"]: g for g in profile["groups"]}
        assert Group.claims_history.value not in groups
        assert len(groups) == len(Group) - 1
        for name, g in groups.items():
            idx = [i for i, f in enumerate(fdef.FEATURES) if f.group.value == name]
            assert math.log(g["factor"]) == pytest.approx(float(phi[idx].sum()), abs=1e-9)
            assert 0.0 <= g["peer_percentile"] <= 100.0
            assert g["level"] == rules.level(g["peer_percentile"])
        trend = profile["trend"]
        assert 1 <= len(trend["points"]) <= rules.trend_points
        assert trend["points"][-1]["as_of"] == profile["as_of"]
        assert trend["points"][-1]["percentile"] == profile["percentile"]
        assert [p["as_of"] for p in trend["points"]] == sorted(p["as_of"] for p in trend["points"])
        assert profile["data_quality"]["months_stored"] == len(own)
        assert profile["data_quality"]["latest_month"] == latest


def test_a_new_month_moves_the_profile_on(
    client: TestClient[Litestar], keys: Keys, alien_data: ContractData
) -> None:
    _feed(client, keys, alien_data)
    months = alien_data.site_months
    mine = alien_data.sites.loc[alien_data.sites["district"] == DISTRICT, "site_id"]
    site_id = sorted(months.loc[months["site_id"].isin(mine), "site_id"])[0]
    regulator = bearer(keys.regulator)
    before = client.get(f"/v1/sites/{site_id}/profile", headers=regulator).json()
    latest = rows(months[months["site_id"] == site_id].sort_values("month").tail(1), "site_months")[
        0
    ]
    new = {**latest, "month": before["as_of"], "inspection_violations": 40}
    stored = client.put(
        f"/v1/feed/sites/{site_id}/months/{new['month']}", json=new, headers=bearer(keys.platform)
    )
    assert stored.status_code == 200, stored.text
    after = client.get(f"/v1/sites/{site_id}/profile", headers=regulator).json()
    assert after["as_of"] == _next(before["as_of"])
    assert after["data_quality"]["months_stored"] == before["data_quality"]["months_stored"] + 1
    assert np.isfinite(after["percentile"])
