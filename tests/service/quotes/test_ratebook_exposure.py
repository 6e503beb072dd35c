"""Rate books on the three exposure bases (docs/rate-books.md, "Exposure bases"): the
same site priced by insurers whose books rate contract value, floor area and headcount,
each exactly as its bands say (worked out here from the book's bands); a pre-start quote
on a headcount book needs the planned headcount, a site without floor area cannot be
priced on floor area (422 naming the field)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import request_for, sites_with_history
from svc_helpers import bearer

from models.pricing.ratebook import load_ratebook
from service.auth.store import IssuedKey
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

ADMIN = "/v1/admin/ratebooks"
START = "2025-07"
CENT = Decimal("0.01")


def _book(insurer: str, base: str, bands: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(dict(load_ratebook().document))
    doc.update(insurer_id=insurer, version="2025.1", label=f"{insurer} on {base}")
    doc["tariff"]["exposure_base"] = base
    doc["tariff"]["bands"] = bands
    return doc


BOOKS = {
    "valuer": _book(
        "valuer",
        "contract_value",
        [{"up_to": 50_000_000, "rate_per_mille": 0.8}, {"up_to": None, "rate_per_mille": 0.5}],
    ),
    "arealy": _book(
        "arealy",
        "floor_area",
        [{"up_to": 20_000, "rate_cny_per_m2": 8.0}, {"up_to": None, "rate_cny_per_m2": 5.0}],
    ),
    "crew": _book(
        "crew",
        "headcount",
        [
            {"up_to": 100, "rate_cny_per_worker_month": 30.0},
            {"up_to": None, "rate_cny_per_worker_month": 18.0},
        ],
    ),
}
RATE_KEY = {
    "contract_value": "rate_per_mille",
    "floor_area": "rate_cny_per_m2",
    "headcount": "rate_cny_per_worker_month",
}


def _by_hand(doc: dict[str, Any], exposure: float) -> Decimal:
    """The marginal rates of the book's bands on ``exposure``, unrounded."""
    key = RATE_KEY[doc["tariff"]["exposure_base"]]
    amount, total, lower = Decimal(repr(exposure)), Decimal(0), Decimal(0)
    for band in doc["tariff"]["bands"]:
        upper = None if band["up_to"] is None else Decimal(repr(band["up_to"]))
        top = amount if upper is None else min(amount, upper)
        if top > lower:
            total += (top - lower) * Decimal(repr(band[key]))
        if upper is None or amount <= upper:
            break
        lower = upper
    return total / 1000 if key == "rate_per_mille" else total


def _cents(x: Decimal | float) -> Decimal:
    return Decimal(repr(x) if isinstance(x, float) else x).quantize(CENT, ROUND_HALF_UP)


def test_insurers_on_different_exposure_bases_price_a_site_each_as_its_book_says(
    client: TestClient[Any], issue_key: Callable[..., IssuedKey], unseen_world: World
) -> None:
    admin = bearer(issue_key("admin").key)
    keys = {name: bearer(issue_key("insurer", insurer_id=name).key) for name in BOOKS}
    for doc in BOOKS.values():
        assert client.post(f"{ADMIN}/", json=doc, headers=admin).status_code == 201
        done = client.post(f"{ADMIN}/{doc['insurer_id']}/2025.1/activate", headers=admin)
        assert done.status_code == 200, done.text
    sites = [
        s
        for s in sites_with_history(unseen_world, START)
        if float(unseen_world.sites.set_index("site_id").loc[s, "floor_area_m2"]) > 0
    ][:4]
    assert sites
    for site_id in sites:
        body = request_for(unseen_world, site_id, START)
        answers = {}
        for name, key in keys.items():
            response = client.post("/v1/quotes", json=body, headers=key)
            assert response.status_code == 201, response.text
            answers[name] = response.json()["pricing"]
        value = body["site"]["contract_value_cny"]
        area = body["site"]["floor_area_m2"]
        latest = sorted(body["months"], key=lambda m: m["month"])[-3:]
        headcount = sum(m["avg_daily_workers"] for m in latest) / len(latest)
        # contract value and floor area: the project once, the term its share
        for name, exposure in (("valuer", value), ("arealy", area)):
            pricing = answers[name]
            assert _cents(pricing["project_premium_cny"]) == _cents(
                _by_hand(BOOKS[name], exposure)
            ), name
            assert pricing["tariff_version"] == f"{name}-2025.1"
        share = _cents(answers["valuer"]["base_premium_cny"]) / _cents(
            answers["valuer"]["project_premium_cny"]
        )
        arealy = answers["arealy"]
        assert abs(
            _cents(arealy["base_premium_cny"]) - _cents(arealy["project_premium_cny"]) * share
        ) <= Decimal("0.02")
        # headcount: each of the 12 months of cover pays the month's rates
        monthly = _cents(_by_hand(BOOKS["crew"], headcount))
        assert _cents(answers["crew"]["base_premium_cny"]) == monthly * 12
        # three books, three base premiums, each final within its book's band of it
        assert len({answers[name]["base_premium_cny"] for name in BOOKS}) == 3
        for name, doc in BOOKS.items():
            base = _cents(answers[name]["base_premium_cny"])
            final = _cents(answers[name]["final_premium_cny"])
            low = base * (1 + Decimal(repr(doc["band"]["min_pct"])) / 100)
            high = base * (1 + Decimal(repr(doc["band"]["max_pct"])) / 100)
            assert low - CENT <= final <= high + CENT


def _pre_start(body: dict[str, Any]) -> dict[str, Any]:
    """The site as a quote before works start next month: no months, no claims."""
    today = dt.date.today()
    first = dt.date(today.year + today.month // 12, today.month % 12 + 1, 1)
    out = copy.deepcopy(body)
    out["site"]["start_date"] = first.isoformat()
    out["site"]["planned_end_date"] = first.replace(year=first.year + 2).isoformat()
    out.update(months=[], claims=[])
    out["policy"]["start_month"] = first.strftime("%Y-%m")
    return out


def test_the_exposure_a_book_needs_is_asked_for_by_name(
    client: TestClient[Any], issue_key: Callable[..., IssuedKey], unseen_world: World
) -> None:
    admin = bearer(issue_key("admin").key)
    keys = {name: bearer(issue_key("insurer", insurer_id=name).key) for name in BOOKS}
    for doc in BOOKS.values():
        client.post(f"{ADMIN}/", json=doc, headers=admin)
        client.post(f"{ADMIN}/{doc['insurer_id']}/2025.1/activate", headers=admin)
    body = _pre_start(request_for(unseen_world, sites_with_history(unseen_world, START)[0], START))
    # before works start a headcount book needs the planned headcount
    refused = client.post("/v1/quotes", json=body, headers=keys["crew"])
    assert refused.status_code == 422, refused.text
    assert [f["field"] for f in refused.json()["error"]["fields"]] == ["policy.planned_headcount"]
    body["policy"]["planned_headcount"] = 130
    priced = client.post("/v1/quotes", json=body, headers=keys["crew"])
    assert priced.status_code == 201, priced.text
    # 100 × 30 + 30 × 18 = 3,540 a month, 12 months
    assert _cents(priced.json()["pricing"]["base_premium_cny"]) == Decimal("42480.00")
    # the others do not read it
    other = client.post("/v1/quotes", json=body, headers=keys["valuer"])
    assert other.status_code == 201, other.text
    bad = copy.deepcopy(body)
    bad["policy"]["planned_headcount"] = 0
    refused = client.post("/v1/quotes", json=bad, headers=keys["crew"])
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "policy.planned_headcount"
    # a site without floor area (civil works) on a floor-area book, in a batch too
    civil = copy.deepcopy(body)
    civil["site"]["floor_area_m2"] = 0.0
    refused = client.post("/v1/quotes", json=civil, headers=keys["arealy"])
    assert refused.status_code == 422
    assert [f["field"] for f in refused.json()["error"]["fields"]] == ["site.floor_area_m2"]
    batch = client.post(
        "/v1/quotes/batch", json={"items": [body, civil]}, headers=keys["arealy"]
    ).json()
    assert [item["status"] for item in batch["items"]] == [201, 422]
    fields = batch["items"][1]["error"]["fields"]
    assert [f["field"] for f in fields] == ["items[1].site.floor_area_m2"]
    # the insurer's own base premium needs no exposure
    civil["policy"]["base_premium_cny"] = 5000.0
    assert client.post("/v1/quotes", json=civil, headers=keys["arealy"]).status_code == 201
