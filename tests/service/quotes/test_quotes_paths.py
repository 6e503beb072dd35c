"""A quote is the same whichever way it is computed: alone (features site by site in
plain Python, no frames) or inside a portfolio (one vectorised ``build_features`` call
over all items), and a site's history read straight from the request equals the one
read from checked frames."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from quote_helpers import request_for, sites_with_history
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from models.contract import spec
from models.pricing.site_history import histories, history_of
from service.auth.principal import Principal, Role
from service.auth.store import ApiKeyStore, KeySpec
from service.db import migrate
from service.db.engine import Database
from service.db.tables import Quote
from service.model_provider import ModelSnapshot
from service.quotes import intake
from service.quotes import store as store_module
from service.quotes.pricing_service import (
    EXPLAIN_BESIDE,
    PricedQuote,
    QuotePricer,
)
from service.quotes.store import QuoteStore
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

NUMERIC = tuple(c.name for c in spec.SITE_MONTHS if c.kind in ("float", "int"))


@pytest.fixture(scope="module")
def items(unseen_world: World) -> list[intake.Item]:
    out = []
    for start in ("2024-07", "2025-04"):
        for site in sites_with_history(unseen_world, start, min_months=1):
            body = request_for(unseen_world, site, start, months=18)
            out.append(intake.read_item(body, len(out), f"items[{len(out)}]."))
    return out


def _comparable(outcome: Any) -> dict[str, Any]:
    assert isinstance(outcome, PricedQuote)
    answer: dict[str, Any] = msgspec.to_builtins(outcome.response)
    del answer["quote_id"], answer["created_at"]
    return answer


def test_a_portfolio_prices_every_site_as_it_would_alone(
    snapshot: ModelSnapshot, items: list[intake.Item]
) -> None:
    pricer = QuotePricer()
    portfolio = items[:80]
    # TreeSHAP in a thread beside the rest
    assert len(portfolio) > EXPLAIN_BESIDE
    together = pricer.price(portfolio, snapshot)
    alone = [pricer.price([item], snapshot)[0] for item in portfolio]
    assert [_comparable(o) for o in together] == [_comparable(o) for o in alone]
    # not vacuous: the answers carry explanations and recommendations
    assert sum(len(_comparable(o)["recommendations"]) for o in alone) > 20


def test_history_from_the_request_equals_the_history_from_checked_frames(
    items: list[intake.Item],
) -> None:
    data, problems = intake.validate_items(items)
    assert data is not None, problems
    framed = histories(data, [intake.internal_site(k) for k in range(len(items))], NUMERIC)
    for item, reference in zip(items, framed, strict=True):
        fast = history_of(item.request.months, item.request.claims, NUMERIC)
        assert np.array_equal(fast.month, reference.month)
        assert fast.columns.keys() == reference.columns.keys()
        for name, values in reference.columns.items():
            assert np.array_equal(fast.columns[name], values, equal_nan=True), name
        assert np.array_equal(fast.claim_day, reference.claim_day)
        assert list(fast.claim_severity) == list(reference.claim_severity)


def test_request_hashes_are_those_of_the_stored_request_body(items: list[intake.Item]) -> None:
    """The hashes are taken from the struct; they must stay those of its JSON body (less
    the later optional fields while empty), so quotes stored earlier keep matching
    (idempotent retries, replays)."""
    for item in items[:40]:
        body = item.body()
        if not body["other_claims"]:
            del body["other_claims"]
        if not body["policy"]["safety_awards"]:
            del body["policy"]["safety_awards"]
        if body["policy"]["planned_headcount"] is None:
            del body["policy"]["planned_headcount"]
        sent = hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()
        canonical = dict(body)
        canonical["months"] = sorted(body["months"], key=lambda m: str(m["month"]))
        canonical["claims"] = sorted(body["claims"], key=lambda c: str(c["claim_id"]))
        content = hashlib.sha256(msgspec.json.encode(canonical, order="sorted")).hexdigest()
        assert item.hashes() == (sent, content)
    shuffled = items[0].body()
    shuffled["months"] = shuffled["months"][::-1]
    again = intake.read_item(shuffled)
    assert again.hashes()[1] == items[0].hashes()[1]
    assert len(shuffled["months"]) < 2 or again.hashes()[0] != items[0].hashes()[0]


@pytest.fixture
def quote_db(tmp_path: Path) -> Iterator[tuple[Database, Principal]]:
    """A migrated SQLite database and an insurer's key in it."""
    url = f"sqlite:///{tmp_path / 'quotes.db'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        with db.session() as session:
            key = ApiKeyStore(session, "pepper").create(KeySpec.parse("insurer", insurer_id="I1"))
        yield db, Principal(key_id=key.row.id or 0, role=Role.insurer, insurer_id="I1")
    finally:
        db.dispose()


def test_stored_documents_are_the_request_and_answer_as_json(
    snapshot: ModelSnapshot, items: list[intake.Item], quote_db: tuple[Database, Principal]
) -> None:
    """The store hands the structs to the engine's msgspec JSON writer; what is read
    back is the request body and the answer, value for value."""
    db, principal = quote_db
    outcomes = QuotePricer().price(items[:3], snapshot)
    priced = [o for o in outcomes if isinstance(o, PricedQuote)]
    assert len(priced) == 3
    with db.session() as session:
        QuoteStore(session).save(priced, principal)
    with db.session() as session:
        rows = {r.id: r for r in session.exec(select(Quote)).all()}
    for q in priced:
        row = rows[q.response.quote_id]
        assert row.request == q.item.body()
        assert row.response == msgspec.to_builtins(q.response)
        assert (row.request_hash, row.input_hash) == q.item.hashes()


def test_a_portfolio_stored_in_chunks_is_stored_whole_or_not_at_all(
    snapshot: ModelSnapshot,
    items: list[intake.Item],
    quote_db: tuple[Database, Principal],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Quotes go in INSERT_CHUNK rows at a time, in one transaction: a failure in the
    last chunk leaves not even the first chunks behind."""
    monkeypatch.setattr(store_module, "INSERT_CHUNK", 2)
    db, principal = quote_db
    priced = [o for o in QuotePricer().price(items[:5], snapshot) if isinstance(o, PricedQuote)]
    assert len(priced) == 5
    with db.session() as session, pytest.raises(IntegrityError):
        QuoteStore(session).save([*priced, priced[0]], principal)  # id again, chunk 3
    with db.session() as session:
        assert session.exec(select(Quote)).all() == []
    with db.session() as session:
        QuoteStore(session).save(priced, principal)
    with db.session() as session:
        stored = {r.id for r in session.exec(select(Quote)).all()}
    assert stored == {q.response.quote_id for q in priced}
