"""Quotes priced by the calling insurer's rate book in force on the policy's start date
(docs/rate-books.md): two insurers with different books price the same site each
exactly as its book says; a book not yet in force prices nothing; an insurer without a
book gets the shipped default with its warning; the book is recorded and replayed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import request_for, sites_with_history
from sqlmodel import select
from svc_helpers import bearer

from models.pricing import load_tariff, project_premium
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
        "zenith": _book("zenith", "2025.2", factor=2.0, pct=30, effective_from="2025-07-01"),
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
