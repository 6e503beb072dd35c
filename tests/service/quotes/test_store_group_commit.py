"""QuoteStore.save through the app's group committer: quotes of concurrent requests
commit together, each save returns once its quotes are visible, and an idempotency-key
race in a group still ends in exactly one stored answer and AnsweredMeanwhile for the
other, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import ModelStore, request_for, sites_with_history
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.pool import NullPool
from sqlmodel import Session
from svc_helpers import bearer

from models.settings import Settings
from service.app import create_app
from service.auth.principal import Principal, Role
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.db.group_commit import GroupCommitter
from service.db.tables import IdempotencyRecord, Quote
from service.model_provider import RegistryModelProvider, StaticModelProvider
from service.quotes.idempotency import QUOTE_ENDPOINT, AnsweredMeanwhile, IdempotentRequest
from service.quotes.intake import read_item
from service.quotes.pricing_service import PricedQuote, QuotePricer
from service.quotes.store import QuoteStore
from service.runtime import runtime_of
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"


@pytest.fixture
def database(migrated_database: Database) -> Database:
    return migrated_database  # SQLite and PostgreSQL (tests/service/conftest.py)


@pytest.fixture
def principal(database: Database) -> Principal:
    with database.session() as session:
        issued = ApiKeyStore(session, "pepper").create(KeySpec.parse("insurer", insurer_id="INS-G"))
    assert issued.row.id is not None
    return Principal(key_id=issued.row.id, role=Role.insurer, insurer_id="INS-G")


@pytest.fixture
def bodies(unseen_world: World) -> list[dict[str, Any]]:
    return [request_for(unseen_world, s, START) for s in sites_with_history(unseen_world, START)]


def _priced(model_store: ModelStore, body: dict[str, Any]) -> PricedQuote:
    snapshot = StaticModelProvider(model_store.bundle).current()
    assert snapshot is not None
    (outcome,) = QuotePricer().price([read_item(body)], snapshot)
    assert isinstance(outcome, PricedQuote)
    return outcome


def _stored(url: str) -> tuple[set[str], int]:
    """Quote ids and idempotency records, read through a connection of a new engine."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            ids = set(connection.execute(select(Quote.id)).scalars())  # type: ignore[call-overload]
            records = connection.execute(
                select(func.count()).select_from(IdempotencyRecord)
            ).scalar_one()
            return ids, int(records)
    finally:
        engine.dispose()


def test_a_key_race_inside_one_group_stores_one_answer_and_spares_the_others(
    database: Database, principal: Principal, model_store: ModelStore,
    bodies: list[dict[str, Any]],
) -> None:  # fmt: skip
    """Two requests with one key and one without land in the same group; the group
    fails on the key, the plain one still commits, one keyed one wins and the other is
    told AnsweredMeanwhile, exactly as if they had committed one by one."""
    retry = IdempotentRequest.of("same-key", QUOTE_ENDPOINT, bodies[0])
    assert retry is not None
    keyed = [_priced(model_store, bodies[0]), _priced(model_store, bodies[0])]
    plain = _priced(model_store, bodies[1])
    commits: list[int] = []
    event.listen(database.engine, "commit", lambda _conn: commits.append(1))
    writer = GroupCommitter()
    # Hold the writer on a first, empty write until the three saves have queued.
    started, release = threading.Event(), threading.Event()

    def hold(_session: Session) -> None:
        started.set()
        assert release.wait(30)

    def lead() -> None:
        with database.session() as session:
            writer.commit(session, hold)

    holder = threading.Thread(target=lead)
    holder.start()
    assert started.wait(30)
    outcomes: dict[str, Any] = {}

    def save(name: str, quote: PricedQuote, idempotent: IdempotentRequest | None) -> None:
        with database.session() as session:
            try:
                QuoteStore(session, writer).save([quote], principal, idempotent=idempotent)
            except AnsweredMeanwhile as exc:
                outcomes[name] = exc
                return
            # answered: the quote is there for anyone who looks
            outcomes[name] = quote.response.quote_id in _stored(database.url)[0]

    savers = [
        threading.Thread(target=save, args=("a", keyed[0], retry)),
        threading.Thread(target=save, args=("b", keyed[1], retry)),
        threading.Thread(target=save, args=("plain", plain, None)),
    ]
    for thread in savers:
        thread.start()
    deadline = time.monotonic() + 30
    while writer.waiting < len(savers):  # waits for the threads; measures nothing
        assert time.monotonic() < deadline
        time.sleep(0.001)
    release.set()
    for thread in [holder, *savers]:
        thread.join(30)
    writer.close()
    assert outcomes["plain"] is True
    assert sorted(type(outcomes[n]).__name__ for n in "ab") == ["AnsweredMeanwhile", "bool"]
    winner = next(q for n, q in zip("ab", keyed, strict=True) if outcomes[n] is True)
    ids, records = _stored(database.url)
    assert ids == {winner.response.quote_id, plain.response.quote_id}
    assert records == 1
    with database.session() as session:
        answer = QuoteStore(session).previous_quote(retry, principal)
    assert answer is not None
    assert answer.quote_id == winner.response.quote_id
    # the held write (empty: no COMMIT sent), the group that failed, then each of its
    # three saves alone, of which the loser of the race failed again
    assert (writer.transactions, writer.commits) == (5, 3)
    assert len(commits) == 2


def test_the_app_commits_quotes_through_its_writer_and_stops_it(
    quote_settings: Settings, issue_key: Any, bodies: list[dict[str, Any]]
) -> None:
    app = create_app(quote_settings, model_provider=RegistryModelProvider(quote_settings))
    writer = runtime_of(app).quote_writer
    assert isinstance(writer, GroupCommitter)
    key = issue_key("insurer", insurer_id="INS-W")
    with TestClient(app) as client:
        answers = [client.post("/v1/quotes", json=b, headers=bearer(key.key)) for b in bodies[:3]]
        assert [a.status_code for a in answers] == [201] * 3
        assert writer.commits == 3  # one request at a time: nothing to group
        assert not writer.closed
    assert writer.closed  # the app's shutdown closed it


def test_an_app_without_group_commit_has_no_writer(quote_settings: Settings) -> None:
    app = create_app(quote_settings.model_copy(update={"db_group_commit": False}))
    assert runtime_of(app).quote_writer is None
