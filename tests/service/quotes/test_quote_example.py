"""Example request bodies cut from contract data: the API prices them as they are, and
they hold exactly the site's rows before the policy start."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from litestar.testing import TestClient
from svc_helpers import bearer

from models.contract import validate_frames
from service.auth.store import IssuedKey
from service.quotes.example import ExampleError, example_request, pick_site, quote_request
from service.quotes.schemas import MAX_MONTHS
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")


def _frames(world: World) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    data = validate_frames(world.sites, world.site_months, world.claims)
    return data.sites, data.site_months, data.claims


def test_the_default_example_is_a_renewal_of_the_busiest_site_still_reporting(
    unseen_world: World,
) -> None:
    sites, site_months, claims = _frames(unseen_world)
    site_id, start = pick_site(site_months)
    last = str(site_months["month"].max())
    assert start == (pd.Period(last, freq="M") + 1).strftime("%Y-%m")
    window = site_months[
        site_months["month"] >= (pd.Period(start, freq="M") - 12).strftime("%Y-%m")
    ]
    counts = window.groupby("site_id", observed=True)["month"].nunique()
    assert counts[site_id] == counts.max()
    busiest = window[window["site_id"].isin(counts[counts == counts.max()].index)]
    completeness = busiest.groupby("site_id", observed=True)["data_completeness"].mean()
    assert completeness[site_id] == completeness.max()

    body = example_request(sites, site_months, claims)
    assert body["site"]["site_id"] == site_id
    assert body["policy"] == {"start_month": start, "term_months": 12}
    sent = [m["month"] for m in body["months"]]
    own = sorted(site_months.loc[site_months["site_id"] == site_id, "month"])
    assert sent == own[-12:]
    assert {m["site_id"] for m in body["months"]} == {site_id}


def test_a_given_site_and_start_send_only_what_was_known_before_the_start(
    unseen_world: World,
) -> None:
    sites, site_months, claims = _frames(unseen_world)
    with_claims = claims.groupby("site_id", observed=True).size().sort_values().index
    site_id = str(with_claims[-1])
    dates = pd.to_datetime(claims.loc[claims["site_id"] == site_id, "incident_date"]).sort_values()
    # A start just after the middle claim: the earlier claims go, the later ones do not.
    middle = dates.iloc[len(dates) // 2]
    start = (middle.to_period("M") + 1).strftime("%Y-%m")
    body = example_request(sites, site_months, claims, site_id=site_id, start_month=start, months=6)
    assert all(m["month"] < start for m in body["months"])
    assert len(body["months"]) <= 6
    sent = sorted(c["incident_date"] for c in body["claims"])
    expected = sorted(d.date().isoformat() for d in dates if d < pd.Timestamp(f"{start}-01"))
    assert sent == expected
    assert 0 < len(sent) < len(dates)

    # A site alone starts the month after its own last month.
    alone = example_request(sites, site_months, claims, site_id=site_id)
    own_last = str(site_months.loc[site_months["site_id"] == site_id, "month"].max())
    assert alone["months"][-1]["month"] == own_last
    assert alone["policy"]["start_month"] > own_last


def test_impossible_examples_say_why(unseen_world: World) -> None:
    sites, site_months, claims = _frames(unseen_world)
    with pytest.raises(ExampleError, match="NO-SUCH-SITE"):
        example_request(sites, site_months, claims, site_id="NO-SUCH-SITE")
    site_id = str(sites["site_id"].iloc[0])
    with pytest.raises(ExampleError, match="no months before 1990-01"):
        quote_request(sites, site_months, claims, site_id, "1990-01")
    with pytest.raises(ExampleError, match="months must be"):
        quote_request(sites, site_months, claims, site_id, "2026-01", months=MAX_MONTHS + 1)
    with pytest.raises(ExampleError, match="no site reports"):
        pick_site(site_months, start_month="1990-01")


def test_the_api_prices_the_example_as_it_is(
    client: TestClient[Any], issue_key: Any, unseen_world: World
) -> None:
    insurer: IssuedKey = issue_key("insurer", insurer_id="I1")
    body = example_request(*_frames(unseen_world))
    response = client.post("/v1/quotes", json=body, headers=bearer(insurer.key))
    assert response.status_code == 201, response.text
    quote = response.json()
    assert (quote["site_id"], quote["start_month"]) == (
        body["site"]["site_id"],
        body["policy"]["start_month"],
    )
    assert quote["pricing"]["final_premium_cny"] > 0
    assert len(quote["incentives"]["tiers"]) > 0
