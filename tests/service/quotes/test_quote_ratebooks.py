"""Quotes priced by the calling insurer's rate book in force on the policy's start date
(docs/rate-books.md): two insurers with different books price the same site each
exactly as its book says; a book not yet in force prices nothing; an insurer without a
book gets the shipped default with its warning; the book is recorded and replayed."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import request_for, sites_with_history
from sqlmodel import select
from svc_helpers import bearer

from models.pricing import load_tariff, project_premium, round_cent
from models.pricing.ratebook import load_ratebook, parse_ratebook
from models.settings import Settings
from service.auth.store import IssuedKey
from service.db.engine import Database
from service.db.tables import Quote
from service.quotes.replay import ReplayError, load_model, replay, replay_quote
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"
ADMIN = "/v1/admin/ratebooks"
DEFAULT_WARNING = "replace it with the insurer's filed tariff"


def _book(insurer: str, version: str, *, factor: float, pct: float, **changes: Any) -> Any:
    doc = copy.deepcopy(dict(load_ratebook().document))
    doc.update(insurer_id=insurer, version=version, label=f"{insurer} filing {version}")
    for band in doc["tariff"]["bands"]:
        band["rate_per_mille"] = round(band["rate_per_mille"] * factor, 6)
    doc["band"].update(min_pct=-pct, max_pct=pct)
    doc.update(changes)
    return doc


def _cents(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"))


def test_each_insurer_is_priced_exactly_as_its_book_says(
    client: TestClient[Any],
    quote_settings: Settings,
    issue_key: Callable[..., IssuedKey],
    unseen_world: World,
) -> None:
    admin = bearer(issue_key("admin").key)
    keys = {
        name: bearer(issue_key("insurer", insurer_id=name).key)
        for name in ("acme", "zenith", "nobook", "later")
    }
    docs = {
        # acme: its own rates for rail transit, the rest as the default, a ±10% band
        "acme": _book("acme", "2025.1", factor=1.0, pct=10),
        # zenith: twice the default rates, ±30%, in force from 2025-07-01 over an older book
        "zenith": _book(
            "zenith",
            "2025.2",
            factor=2.0,
            pct=30,
            effective_from="2025-07-01",
            prevention_share=0.08,
        ),
        "zenith-old": _book("zenith", "2025.1", factor=5.0, pct=5),
        # later: only a book that is not in force yet
        "later": _book("later", "2027.1", factor=3.0, pct=20, effective_from="2027-01-01"),
    }
    docs["acme"]["tariff"]["project_types"] = {
        kind: [{"up_to": None, "rate_per_mille": 1.1}] for kind in ("rail_transit", "municipal")
    }
    for doc in docs.values():
        made = client.post(f"{ADMIN}/", json=doc, headers=admin)
        assert made.status_code == 201, made.text
        activated = client.post(
            f"{ADMIN}/{doc['insurer_id']}/{doc['version']}/activate", headers=admin
        )
        assert activated.status_code == 200
    # an imported book that is not activated prices nothing
    assert (
        client.post(
            f"{ADMIN}/", json=_book("nobook", "2025.1", factor=9, pct=1), headers=admin
        ).status_code
        == 201
    )

    sites = unseen_world.sites.set_index("site_id")
    candidates = sites_with_history(unseen_world, START)
    kinds = {str(sites.loc[s, "project_type"]) for s in candidates[:8]}
    chosen = candidates[:8]
    assert len(kinds) > 1
    for site_id in chosen:
        body = request_for(unseen_world, site_id, START)
        kind = body["site"]["project_type"]
        value = body["site"]["contract_value_cny"]
        answers = {}
        for name, key in keys.items():
            response = client.post("/v1/quotes", json=body, headers=key)
            assert response.status_code == 201, response.text
            answers[name] = response.json()
        for name, used in (("acme", "acme"), ("zenith", "zenith")):
            pricing = answers[name]["pricing"]
            book = parse_ratebook(docs[used])
            tariff = book.tariff(kind)
            assert _cents(pricing["project_premium_cny"]) == project_premium(value, tariff)
            assert pricing["tariff_version"] == pricing["band"]["version"] == book.name
            assert (pricing["band"]["min_pct"], pricing["band"]["max_pct"]) == (
                book.band.min_pct,
                book.band.max_pct,
            )
            base, final = _cents(pricing["base_premium_cny"]), _cents(pricing["final_premium_cny"])
            lower = base * (1 + Decimal(repr(book.band.min_pct)) / 100)
            upper = base * (1 + Decimal(repr(book.band.max_pct)) / 100)
            assert lower - Decimal("0.01") <= final <= upper + Decimal("0.01")
            assert pricing["rate_book"] == {
                "insurer_id": book.insurer_id,
                "version": book.version,
                "effective_from": str(book.effective_from),
                "effective_to": None,
            }
            assert not any(DEFAULT_WARNING in w for w in answers[name]["warnings"])
            # the prevention budget: the book's share of the final premium, to the cent
            assert _cents(pricing["prevention_budget_cny"]) == round_cent(
                final * book.prevention_share
            )
        # the term's share of the project premium is the same whoever's book it is
        share = {
            name: _cents(a["pricing"]["base_premium_cny"])
            / _cents(a["pricing"]["project_premium_cny"])
            for name, a in answers.items()
        }
        assert max(share.values()) - min(share.values()) < Decimal("0.001")
        # zenith's rates are twice the default's, everywhere
        default_project = project_premium(value, load_tariff())
        assert abs(
            _cents(answers["zenith"]["pricing"]["project_premium_cny"]) - 2 * default_project
        ) <= Decimal("0.01")
        # no book in force (none activated, or only a future one): the shipped default
        for name in ("nobook", "later"):
            pricing = answers[name]["pricing"]
            assert pricing["rate_book"] is None
            assert pricing["prevention_budget_cny"] is None
            assert pricing["tariff_version"] == "default-2025.1"
            assert _cents(pricing["project_premium_cny"]) == default_project
            assert any(DEFAULT_WARNING in w for w in answers[name]["warnings"])
        if kind in ("rail_transit", "municipal"):
            assert _cents(answers["acme"]["pricing"]["project_premium_cny"]) == project_premium(
                value, parse_ratebook(docs["acme"]).tariff("rail_transit")
            )
        else:
            assert (
                answers["acme"]["pricing"]["project_premium_cny"]
                == answers["nobook"]["pricing"]["project_premium_cny"]
            )

    # the stored quote records the book, and replay uses it
    database = Database(quote_settings.db_url)
    with database.session() as session:
        rows = session.exec(select(Quote).where(Quote.insurer_id == "zenith")).all()
    database.dispose()
    assert {(r.tariff_version, r.band_version) for r in rows} == {
        ("zenith-2025.2", "zenith-2025.2")
    }
    report = replay(quote_settings, rows[0].id)
    assert report.matched, report.differences
    assert report.tariff_version == "zenith-2025.2"


def test_replay_needs_the_recorded_book(
    client: TestClient[Any],
    quote_settings: Settings,
    issue_key: Callable[..., IssuedKey],
    unseen_world: World,
) -> None:
    admin = bearer(issue_key("admin").key)
    acme = bearer(issue_key("insurer", insurer_id="acme").key)
    doc = _book("acme", "2025.1", factor=1.5, pct=20)
    client.post(f"{ADMIN}/", json=doc, headers=admin)
    client.post(f"{ADMIN}/acme/2025.1/activate", headers=admin)
    body = request_for(unseen_world, sites_with_history(unseen_world, START)[0], START)
    quote = client.post("/v1/quotes", json=body, headers=acme).json()
    database = Database(quote_settings.db_url)
    with database.session() as session:
        row = session.get(Quote, quote["quote_id"])
    database.dispose()
    assert row is not None
    snapshot = load_model(quote_settings, row.model_uri)
    with pytest.raises(ReplayError, match=r"rate book acme@2025\.1"):
        replay_quote(row, snapshot)
    other = parse_ratebook(_book("acme", "2025.9", factor=1.5, pct=20))
    with pytest.raises(ReplayError, match=r"rate book acme@2025\.1"):
        replay_quote(row, snapshot, other)
    assert replay_quote(row, snapshot, parse_ratebook(doc)).matched


OWN_CLAIMS = (
    "claims_count_all",
    "serious_claims_count_all",
    "claims_per_10kwh_all",
    "serious_claims_per_10kwh_all",
)


def _worst_grade(body: dict[str, Any], since: str) -> str | None:
    """The national grade of the worst incident since ``since``, worked out here: claims
    of one incident date are one accident."""
    by_day: dict[str, list[str]] = {}
    for claim in [*body["claims"], *body.get("other_claims", [])]:
        if claim["incident_date"] >= since:
            by_day.setdefault(claim["incident_date"], []).append(claim["severity"])
    order = ["general", "larger", "major", "extraordinary"]
    worst = None
    for severities in by_day.values():
        deaths, serious = severities.count("fatality"), severities.count("serious_injury")
        grade = (
            "extraordinary" if deaths >= 30 or serious >= 100
            else "major" if deaths >= 10 or serious >= 50
            else "larger" if deaths >= 3 or serious >= 10
            else "general"
        )  # fmt: skip
        if worst is None or order.index(grade) > order.index(worst):
            worst = grade
    return worst


def test_a_book_with_the_floating_schedule_on_prices_the_accident_record_once(
    client: TestClient[Any],
    quote_settings: Settings,
    issue_key: Callable[..., IssuedKey],
    unseen_world: World,
) -> None:
    admin = bearer(issue_key("admin").key)
    steady_key = bearer(issue_key("insurer", insurer_id="steady").key)
    floaty_key = bearer(issue_key("insurer", insurer_id="floaty").key)
    steady = _book("steady", "2025.1", factor=1.0, pct=60)
    floaty = _book("floaty", "2025.1", factor=1.0, pct=60)
    floaty["floating"]["enabled"] = True
    schedule = floaty["floating"]
    for doc in (steady, floaty):
        assert client.post(f"{ADMIN}/", json=doc, headers=admin).status_code == 201
        client.post(f"{ADMIN}/{doc['insurer_id']}/2025.1/activate", headers=admin)
    since = "2024-07-01"  # twelve months before START
    bodies = [request_for(unseen_world, s, START) for s in sites_with_history(unseen_world, START)]
    with_accident = next(b for b in bodies if _worst_grade(b, since) is not None)
    without = next(b for b in bodies if _worst_grade(b, since) is None)
    seen = set()
    for body in (with_accident, without):
        a = client.post("/v1/quotes", json=body, headers=steady_key).json()
        b = client.post("/v1/quotes", json=body, headers=floaty_key).json()
        grade = _worst_grade(body, since)
        seen.add(grade is None)
        assert a["pricing"]["floating"] is None
        assert "floating" not in [x["layer"] for x in a["pricing"]["layers"]]
        moved = b["pricing"]["floating"]
        assert moved["worst_grade"] == grade
        expected = (
            schedule["accident_free_pct"] if grade is None else schedule["accidents_pct"][grade]
        )
        assert moved["pct"] == moved["accident_pct"] == expected
        assert moved["factor"] == pytest.approx(1 + expected / 100)
        layers = b["pricing"]["layers"]
        line = next(x for x in layers if x["layer"] == "floating")
        assert line["kind"] == "floating"
        assert line["factor"] == pytest.approx(moved["factor"])
        assert [x["layer"] for x in layers].index("floating") == [x["layer"] for x in layers].index(
            "off_balance"
        ) + 1
        total = sum(_cents(x["premium_effect_cny"]) for x in layers)
        assert total == _cents(b["pricing"]["final_premium_cny"]) - _cents(
            b["pricing"]["base_premium_cny"]
        )
        # own experience once: the model's own-claims features are the book's average
        factors = {f["feature"]: f for f in b["explanation"]["factors"]}
        # (a feature that moves nothing is not listed among the factors)
        assert not set(OWN_CLAIMS) & set(factors)
        assert moved["neutralised_features"] == list(OWN_CLAIMS)
        taken = math.fsum(
            f["contribution"] for f in a["explanation"]["factors"] if f["feature"] in OWN_CLAIMS
        )
        assert b["pricing"]["risk_factor"] == pytest.approx(
            a["pricing"]["risk_factor"] * math.exp(-taken), rel=1e-9
        )
        if grade is not None:  # the steady book's model priced the accident in
            assert taken != 0.0
    assert seen == {True, False}

    # safety awards in the lookback: the best one counts, once
    awarded = copy.deepcopy(without)
    awarded["policy"]["safety_awards"] = [
        {"level": "city", "awarded_on": "2025-02-01"},
        {"level": "provincial", "awarded_on": "2024-10-15"},
        {"level": "provincial", "awarded_on": "2023-01-15"},
    ]
    answer = client.post("/v1/quotes", json=awarded, headers=floaty_key).json()
    moved = answer["pricing"]["floating"]
    assert (moved["award"], moved["award_pct"]) == (
        "provincial",
        schedule["awards_pct"]["provincial"],
    )
    assert moved["pct"] == schedule["accident_free_pct"] + schedule["awards_pct"]["provincial"]
    # replayed with the recorded book, awards and all, to the cent
    report = replay(quote_settings, answer["quote_id"])
    assert report.matched, report.differences
    late = copy.deepcopy(without)
    late["policy"]["safety_awards"] = [{"level": "city", "awarded_on": f"{START}-02"}]
    refused = client.post("/v1/quotes", json=late, headers=floaty_key)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "policy.safety_awards[0].awarded_on"
