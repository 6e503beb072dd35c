"""``Idempotency-Key`` on POST /v1/quotes and /batch: retries answer the first quote and
store nothing new, also when they race; a reused key with another body is a 409."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import ModelStore, request_for, sites_with_history
from sqlmodel import func, select
from svc_helpers import bearer, make_settings

from models.settings import Settings
from service.app import create_app
from service.auth.principal import Principal, Role
from service.auth.store import ApiKeyStore, IssuedKey, KeySpec
from service.db import migrate
from service.db.engine import Database
from service.db.tables import IdempotencyRecord, Quote
from service.model_provider import RegistryModelProvider, StaticModelProvider
from service.quotes.idempotency import QUOTE_ENDPOINT, AnsweredMeanwhile, IdempotentRequest
from service.quotes.intake import read_item
from service.quotes.pricing_service import PricedQuote, QuotePricer
from service.quotes.store import QuoteStore
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"
Body = dict[str, Any]


@pytest.fixture
def body_of(unseen_world: World) -> Callable[[int], Body]:
    sites = sites_with_history(unseen_world, START)
    return lambda i: request_for(unseen_world, sites[i], START)


@pytest.fixture
def insurer(issue_key: Callable[..., IssuedKey]) -> IssuedKey:
    return issue_key("insurer", insurer_id="INS-A")


def _counts(database_url: str) -> tuple[int, int]:
    database = Database(database_url)
    try:
        with database.session() as session:
            quotes = session.exec(select(func.count()).select_from(Quote)).one()
            records = session.exec(select(func.count()).select_from(IdempotencyRecord)).one()
            return int(quotes), int(records)
    finally:
        database.dispose()


def _with_key(key: str, idempotency_key: str) -> dict[str, str]:
    return {**bearer(key), "Idempotency-Key": idempotency_key}


def test_ten_retries_with_one_key_leave_one_quote(
    client: TestClient[Any], insurer: IssuedKey, body_of: Callable[[int], Body],
    quote_settings: Settings,
) -> None:  # fmt: skip
    body = body_of(0)
    headers = _with_key(insurer.key, "renewal-2025/S-0001")
    answers = [client.post("/v1/quotes", json=body, headers=headers) for _ in range(10)]
    assert [a.status_code for a in answers] == [201] * 10
    first = answers[0].json()
    assert all(a.json() == first for a in answers)  # same quote id, time and figures
    assert "idempotent-replayed" not in answers[0].headers
    assert all(a.headers["idempotent-replayed"] == "true" for a in answers[1:])
    assert _counts(quote_settings.db_url) == (1, 1)
    # Key order and spacing do not make another request.
    reordered = dict(reversed(list(body.items())))
    again = client.post("/v1/quotes", json=reordered, headers=headers)
    assert again.json()["quote_id"] == first["quote_id"]
    # Without the header every request is a new quote.
    plain = client.post("/v1/quotes", json=body, headers=bearer(insurer.key))
    assert plain.json()["quote_id"] != first["quote_id"]
    assert _counts(quote_settings.db_url) == (2, 1)


def test_a_reused_key_with_another_body_or_endpoint_is_a_409(
    client: TestClient[Any], insurer: IssuedKey, body_of: Callable[[int], Body],
    quote_settings: Settings,
) -> None:  # fmt: skip
    headers = _with_key(insurer.key, "k-1")
    assert client.post("/v1/quotes", json=body_of(0), headers=headers).status_code == 201
    other = client.post("/v1/quotes", json=body_of(1), headers=headers)
    assert other.status_code == 409
    error = other.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["fields"][0]["field"] == "Idempotency-Key"
    assert "different body" in error["message"]
    batch = client.post("/v1/quotes/batch", json={"items": [body_of(0)]}, headers=headers)
    assert batch.status_code == 409
    assert "POST /v1/quotes" in batch.json()["error"]["message"]
    assert _counts(quote_settings.db_url) == (1, 1)


def test_keys_are_scoped_to_the_insurer_not_to_one_api_key(
    client: TestClient[Any], insurer: IssuedKey, issue_key: Callable[..., IssuedKey],
    body_of: Callable[[int], Body], quote_settings: Settings,
) -> None:  # fmt: skip
    body = body_of(2)
    first = client.post("/v1/quotes", json=body, headers=_with_key(insurer.key, "shared")).json()
    # A second key of the same insurer retries: the same quote.
    colleague = issue_key("insurer", insurer_id="INS-A").key
    same = client.post("/v1/quotes", json=body, headers=_with_key(colleague, "shared"))
    assert same.json()["quote_id"] == first["quote_id"]
    # Another insurer's "shared" is its own key space: a new quote, and no 409 either.
    rival = issue_key("insurer", insurer_id="INS-B").key
    theirs = client.post("/v1/quotes", json=body_of(3), headers=_with_key(rival, "shared"))
    assert theirs.status_code == 201
    assert theirs.json()["quote_id"] != first["quote_id"]
    assert _counts(quote_settings.db_url) == (2, 2)


@pytest.mark.parametrize(
    "header", ["", " padded ", "x" * 256, "naïve", "tab\there"], ids=lambda h: repr(h)[:12]
)
def test_an_unusable_key_is_a_422_naming_the_header(
    client: TestClient[Any], insurer: IssuedKey, body_of: Callable[[int], Body],
    quote_settings: Settings, header: str,
) -> None:  # fmt: skip
    response = client.post(
        "/v1/quotes",
        json=body_of(0),
        headers={**bearer(insurer.key), "Idempotency-Key": header.encode()},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert _counts(quote_settings.db_url) == (0, 0)


def test_a_refused_request_records_nothing(
    client: TestClient[Any], insurer: IssuedKey, body_of: Callable[[int], Body],
    quote_settings: Settings,
) -> None:  # fmt: skip
    headers = _with_key(insurer.key, "first-try-was-wrong")
    bad = body_of(0)
    bad["policy"]["term_months"] = 0
    assert client.post("/v1/quotes", json=bad, headers=headers).status_code == 422
    assert _counts(quote_settings.db_url) == (0, 0)
    # The corrected request may use the key: the refusal stored nothing.
    assert client.post("/v1/quotes", json=body_of(0), headers=headers).status_code == 201
    assert _counts(quote_settings.db_url) == (1, 1)


def test_a_batch_retry_answers_the_same_items_and_stores_nothing_new(
    client: TestClient[Any], insurer: IssuedKey, body_of: Callable[[int], Body],
    quote_settings: Settings,
) -> None:  # fmt: skip
    broken = body_of(6)
    broken["months"][0]["worker_hours"] = -1
    body = {"items": [body_of(4), broken, body_of(5)]}
    headers = _with_key(insurer.key, "portfolio-2025")
    first = client.post("/v1/quotes/batch", json=body, headers=headers)
    assert first.status_code == 200
    assert first.json()["priced"] == 2
    for _ in range(3):
        again = client.post("/v1/quotes/batch", json=body, headers=headers)
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
    assert again.json()["items"][1]["error"]["fields"][0]["field"].startswith("items[1].months[0]")
    assert _counts(quote_settings.db_url) == (2, 1)
    body["items"].pop()
    assert client.post("/v1/quotes/batch", json=body, headers=headers).status_code == 409


def _race(
    client: TestClient[Any], n: int, path: str, body: Body, headers: dict[str, str]
) -> list[Any]:
    barrier = threading.Barrier(n)
    answers: list[Any] = [None] * n

    def call(i: int) -> None:
        barrier.wait()
        answers[i] = client.post(path, json=body, headers=headers)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


@pytest.fixture(params=["sqlite", "postgresql"])
def racing_app(
    request: pytest.FixtureRequest, quote_settings: Settings, model_store: ModelStore,
    shared_cache: Any,
) -> Iterator[tuple[TestClient[Any], str, str]]:  # fmt: skip
    """An app on SQLite or on a real PostgreSQL, an insurer key, and the database URL."""
    settings = quote_settings
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        migrate.upgrade(url)
        settings = make_settings(
            quote_settings.home,
            database_url=url,
            mlflow_tracking_uri=model_store.settings.tracking_uri,
            model_cache_dir=shared_cache,
        )
    database = Database(settings.db_url)
    with database.session() as session:
        key = ApiKeyStore(session, settings.key_pepper.get_secret_value()).create(
            KeySpec.parse("insurer", insurer_id="INS-RACE")
        )
    database.dispose()
    app = create_app(settings, model_provider=RegistryModelProvider(settings))
    with TestClient(app) as client:
        yield client, key.key, settings.db_url


def test_concurrent_retries_never_double_book(
    racing_app: tuple[TestClient[Any], str, str], body_of: Callable[[int], Body]
) -> None:
    client, key, url = racing_app
    single = _race(client, 10, "/v1/quotes", body_of(7), _with_key(key, "race-single"))
    assert [a.status_code for a in single] == [201] * 10, [a.text for a in single]
    assert len({a.json()["quote_id"] for a in single}) == 1
    assert _counts(url) == (1, 1)
    batch_body = {"items": [body_of(8), body_of(9)]}
    batch = _race(client, 6, "/v1/quotes/batch", batch_body, _with_key(key, "race-batch"))
    assert [a.status_code for a in batch] == [200] * 6
    ids = {tuple(item["quote"]["quote_id"] for item in a.json()["items"]) for a in batch}
    assert len(ids) == 1
    assert _counts(url) == (3, 2)


def test_the_loser_of_a_race_stores_nothing_and_is_told_so(
    settings: Settings, issue_key: Callable[..., IssuedKey], model_store: ModelStore,
    body_of: Callable[[int], Body],
) -> None:  # fmt: skip
    """Two requests both found no earlier answer, both priced; the second to commit
    must store nothing (the unique key in the database decides)."""
    issued = issue_key("insurer", insurer_id="INS-A")
    assert issued.row.id is not None
    principal = Principal(key_id=issued.row.id, role=Role.insurer, insurer_id="INS-A")
    snapshot = StaticModelProvider(model_store.bundle).current()
    assert snapshot is not None
    body = body_of(10)
    retry = IdempotentRequest.of("same", QUOTE_ENDPOINT, body)
    assert retry is not None

    def priced() -> PricedQuote:
        (outcome,) = QuotePricer().price([read_item(body)], snapshot)
        assert isinstance(outcome, PricedQuote)
        return outcome

    first, second = priced(), priced()
    assert first.response.quote_id != second.response.quote_id
    database = Database(settings.db_url)
    with database.session() as a, database.session() as b:
        assert QuoteStore(a).previous_quote(retry, principal) is None
        assert QuoteStore(b).previous_quote(retry, principal) is None
        QuoteStore(a).save([first], principal, idempotent=retry)
        with pytest.raises(AnsweredMeanwhile):
            QuoteStore(b).save([second], principal, idempotent=retry)
        winner = QuoteStore(b).previous_quote(retry, principal)
    database.dispose()
    assert winner is not None
    assert winner.quote_id == first.response.quote_id
    assert _counts(settings.db_url) == (1, 1)
