"""A candidate rate book's impact on the insurer's stored quotes, its own off-balance
factor and self-activation (docs/rate-books.md): the report's totals are those of
re-pricing each quote alone; the factor balances the book over those quotes and is what
its quotes use once activated; an insurer reaches only its own books."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import request_for, sites_with_history
from sqlmodel import col, select
from svc_helpers import PEPPER, bearer
from typer.testing import CliRunner

from models.pricing import round_cent
from models.pricing.ratebook import OffBalance, load_ratebook, parse_ratebook
from models.settings import Settings, get_settings
from service.auth.store import IssuedKey
from service.cli import app as cli
from service.db.engine import Database
from service.db.tables import Quote
from service.quotes.intake import read_item
from service.quotes.pricing_service import FailedQuote, QuotePricer
from service.quotes.replay import load_model, replay
from service.ratebooks.impact import MIN_QUOTES_FOR_OFF_BALANCE
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

ADMIN = "/v1/admin/ratebooks"
STARTS = ("2025-07", "2025-10")
runner = CliRunner()


def _book(version: str, *, factor: float, pct: float, effective_from: str) -> dict[str, Any]:
    doc = copy.deepcopy(dict(load_ratebook().document))
    doc.update(insurer_id="acme", version=version, label=f"acme {version}")
    doc["effective_from"] = effective_from
    for band in doc["tariff"]["bands"]:
        band["rate_per_mille"] = round(band["rate_per_mille"] * factor, 6)
    doc["band"].update(min_pct=-pct, max_pct=pct)
    return doc


def quote_request(body: dict[str, Any]) -> dict[str, Any]:
    """The request as stored: decoded and written back, with its defaults."""
    return read_item(body).body()


def _cents(value: float) -> Decimal:
    return round_cent(Decimal(repr(value)))


def test_impact_totals_are_the_quotes_repriced_one_by_one_and_the_factor_balances_the_book(
    client: TestClient[Any],
    quote_settings: Settings,
    issue_key: Callable[..., IssuedKey],
    unseen_world: World,
) -> None:
    admin = bearer(issue_key("admin").key)
    acme = bearer(issue_key("insurer", insurer_id="acme", label="acme pricing").key)
    zenith = bearer(issue_key("insurer", insurer_id="zenith").key)
    current = _book("2025.1", factor=1.0, pct=30, effective_from="2025-01-01")
    candidate = _book("2025.2", factor=1.4, pct=20, effective_from="2025-06-01")
    assert client.post(f"{ADMIN}/", json=current, headers=admin).status_code == 201
    first = client.post(f"{ADMIN}/acme/2025.1/activate", headers=admin).json()
    # no quote yet to balance the book over: it keeps the model's factor
    assert (first["off_balance_method"], first["off_balance_factor"]) == ("model", None)

    bodies = [
        request_for(unseen_world, site, start)
        for start in STARTS
        for site in sites_with_history(unseen_world, start)
    ]
    assert len(bodies) >= MIN_QUOTES_FOR_OFF_BALANCE
    answer = client.post("/v1/quotes/batch", json={"items": bodies}, headers=acme)
    assert answer.status_code == 200, answer.text
    assert all(item["status"] == 201 for item in answer.json()["items"])
    sources = {item["quote"]["pricing"]["off_balance_source"] for item in answer.json()["items"]}
    assert sources == {"model"}
    assert client.post(f"{ADMIN}/", json=candidate, headers=admin).status_code == 201

    # the same report for the admin and the insurer; none for another insurer
    report = client.get(f"{ADMIN}/acme/2025.2/impact", headers=admin)
    assert report.status_code == 200, report.text
    got = report.json()
    own = client.get("/v1/ratebooks/2025.2/impact", headers=acme).json()
    assert {k: v for k, v in own.items() if k not in ("until", "since")} == {
        k: v for k, v in got.items() if k not in ("until", "since")
    }
    assert client.get("/v1/ratebooks/2025.2/impact", headers=zenith).status_code == 404
    assert got["quotes"] == len(bodies)
    assert got["refused"] == []
    off = got["off_balance"]
    assert off["method"] == "insurer_quotes"
    assert off["quotes"] == len(bodies)

    # every stored quote re-priced alone with the candidate carrying that factor
    database = Database(quote_settings.db_url)
    with database.session() as session:
        rows = session.exec(
            select(Quote).where(Quote.insurer_id == "acme").order_by(col(Quote.created_at))
        ).all()
    database.dispose()
    snapshot = load_model(quote_settings, rows[0].model_uri)
    book = dataclasses.replace(
        parse_ratebook(candidate),
        off_balance=OffBalance(off["factor"], "insurer_quotes", off["quotes"], snapshot.uri),
    )
    pricer = QuotePricer()
    old, new, base = Decimal(0), Decimal(0), Decimal(0)
    finals: dict[str, Decimal] = {}
    for row in rows:
        (outcome,) = pricer.price(
            [read_item(row.request)], snapshot, now=row.created_at, books=lambda _day: book
        )
        assert not isinstance(outcome, FailedQuote)
        assert outcome.response.pricing.off_balance_factor == off["factor"]
        old += _cents(row.final_premium)
        new += outcome.final_premium
        base += outcome.base_premium
        finals[row.id] = outcome.final_premium
    assert _cents(got["old_premium_cny"]) == old
    assert _cents(got["new_premium_cny"]) == new
    assert _cents(got["change_cny"]) == new - old
    assert got["change_pct"] == pytest.approx(float(100 * (new - old) / old))
    # revenue-neutral over these quotes: the total after the plan is the tariff total
    # (to the cents each quote rounds)
    assert abs(new - base) <= Decimal("0.01") * len(rows)
    # the dislocation counts every quote once, by its own move
    moves = {}
    for row in rows:
        change = float(finals[row.id] / _cents(row.final_premium) - 1)
        moves[row.id] = change
    bands = {b["label"]: b["count"] for b in got["dislocation"]}
    assert sum(bands.values()) == len(rows)
    assert bands["≥20% up"] == sum(1 for m in moves.values() if m >= 0.2)
    assert bands["≥20% down"] == sum(1 for m in moves.values() if m <= -0.2)
    # the deciles split the same totals and the same expected loss
    deciles = got["deciles"]
    assert [d["decile"] for d in deciles] == list(range(1, 11))
    assert sum(d["quotes"] for d in deciles) == len(rows)
    assert sum(_cents(d["new_premium_cny"]) for d in deciles) == new
    assert sum(_cents(d["old_premium_cny"]) for d in deciles) == old
    key = "loss_rate_per_10k_worker_hours"
    for low, high in itertools.pairwise(deciles):
        assert low[f"{key}_to"] <= high[f"{key}_from"]
    for d in deciles:
        assert d["new_loss_ratio"] == pytest.approx(d["expected_loss_cny"] / d["new_premium_cny"])

    # the insurer activates its own book; another insurer cannot, nor see it
    assert client.post("/v1/ratebooks/2025.2/activate", headers=zenith).status_code == 404
    activated = client.post("/v1/ratebooks/2025.2/activate", headers=acme)
    assert activated.status_code == 200, activated.text
    info = activated.json()
    assert info["activated_by"].endswith("(acme pricing)")
    assert info["activated_at"] is not None
    assert (info["off_balance_method"], info["off_balance_quotes"]) == ("insurer_quotes", len(rows))
    assert info["off_balance_factor"] == pytest.approx(off["factor"], rel=1e-12)
    assert info["off_balance_model"] == snapshot.uri
    # and its quotes now use the book's own factor; the replay reads it back
    quote = client.post("/v1/quotes", json=bodies[0], headers=acme).json()
    assert quote["pricing"]["rate_book"]["version"] == "2025.2"
    assert quote["pricing"]["off_balance_factor"] == info["off_balance_factor"]
    assert quote["pricing"]["off_balance_source"] == "rate_book"
    same = next(r for r in rows if r.request == quote_request(bodies[0]))
    assert quote["pricing"]["final_premium_cny"] == float(finals[same.id])
    assert replay(quote_settings, quote["quote_id"]).matched
    # the factor is not the model's: the candidate's rates are 40% higher
    model_factor = float(snapshot.bundle.meta.rating["off_balance_factor"])
    assert not math.isclose(info["off_balance_factor"], model_factor, rel_tol=1e-3)


def test_the_command_line_reports_the_same_impact_and_activates_with_the_factor(
    client: TestClient[Any],
    quote_settings: Settings,
    issue_key: Callable[..., IssuedKey],
    unseen_world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = bearer(issue_key("admin").key)
    acme = bearer(issue_key("insurer", insurer_id="acme").key)
    bodies = [
        request_for(unseen_world, site, start)
        for start in STARTS
        for site in sites_with_history(unseen_world, start)
    ]
    assert client.post("/v1/quotes/batch", json={"items": bodies}, headers=acme).status_code == 200
    candidate = _book("2025.2", factor=0.7, pct=25, effective_from="2025-06-01")
    assert client.post(f"{ADMIN}/", json=candidate, headers=admin).status_code == 201
    api = client.get(f"{ADMIN}/acme/2025.2/impact", headers=admin).json()
    env = {
        "SITERISK_HOME": str(quote_settings.home),
        "DATABASE_URL": quote_settings.db_url,
        "MLFLOW_TRACKING_URI": quote_settings.tracking_uri,
        "SITERISK_MODEL_CACHE_DIR": str(quote_settings.model_cache),
        "SITERISK_KEY_PEPPER": PEPPER,
        "SITERISK_ENV": "dev",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SITERISK_MODEL_URI", raising=False)
    get_settings.cache_clear()
    try:
        as_json = runner.invoke(cli, ["ratebook", "impact", "acme", "2025.2", "--json"])
        assert as_json.exit_code == 0, as_json.output
        printed = json.loads(as_json.stdout)
        table = runner.invoke(cli, ["ratebook", "impact", "acme", "2025.2"])
        assert table.exit_code == 0, table.output
        missing = runner.invoke(cli, ["ratebook", "impact", "zenith", "2025.2"])
        activated = runner.invoke(cli, ["ratebook", "activate", "acme", "2025.2", "--by", "ops"])
    finally:
        get_settings.cache_clear()
    same = ("quotes", "old_premium_cny", "new_premium_cny", "change_cny", "off_balance")
    assert {k: printed[k] for k in same} == {k: api[k] for k in same}
    assert printed["deciles"] == api["deciles"]
    assert printed["dislocation"] == api["dislocation"]
    text = table.stdout
    assert f"{api['old_premium_cny']:,.2f}" in text
    assert f"{api['new_premium_cny']:,.2f}" in text
    assert "Dislocation" in text
    assert "Loss ratio by risk decile" in text
    assert missing.exit_code != 0
    assert activated.exit_code == 0, activated.output
    assert f"off-balance factor {api['off_balance']['factor']:.6f}" in activated.stdout
    assert f"over {len(bodies)} quote(s)" in activated.stdout
