"""Rate books in the database: imported once, activated with who and when, the book in
force for an insurer on a day, and the migration's table."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from ratebook_helpers import book_document, with_rates
from sqlalchemy import event
from sqlmodel import select

from models.pricing.ratebook import parse_ratebook
from models.settings import Settings
from service.db.engine import Database
from service.db.tables import RateBookRow
from service.errors import ConflictError, InvalidInputError, NotFoundError
from service.ratebooks import store as store_module
from service.ratebooks.store import RateBookStore, book_of

DOCUMENT_COLUMN = re.compile(r"rate_book\.document\b(?!_)")


@pytest.fixture
def store(settings: Settings) -> Iterator[RateBookStore]:
    database = Database(settings.db_url)
    with database.session() as session:
        yield RateBookStore(session)
    database.dispose()


def test_a_book_is_stored_once_and_a_changed_one_needs_a_new_version(
    store: RateBookStore,
) -> None:
    book = parse_ratebook(book_document("acme", "2026.1"))
    first = store.import_book(book, by="ops")
    assert first.created
    assert first.row.imported_by == "ops"
    assert first.row.activated_at is None
    again = store.import_book(parse_ratebook(book_document("acme", "2026.1")), by="other")
    assert not again.created
    assert again.row.id == first.row.id
    changed = parse_ratebook(with_rates(book_document("acme", "2026.1"), 1.1))
    with pytest.raises(ConflictError, match="needs a new version"):
        store.import_book(changed, by="ops")
    assert book_of(store.get("acme", "2026.1")) == book
    assert len(store.session.exec(select(RateBookRow)).all()) == 1


def test_the_shipped_defaults_insurer_id_is_reserved(store: RateBookStore) -> None:
    with pytest.raises(InvalidInputError) as caught:
        store.import_book(parse_ratebook(book_document("default", "2030.1")), by="ops")
    assert [f.field for f in caught.value.fields] == ["$.insurer_id"]


def test_activation_records_who_and_when_and_only_active_books_are_in_force(
    store: RateBookStore,
) -> None:
    day = dt.date(2026, 3, 1)
    store.import_book(parse_ratebook(book_document("acme", "2026.1")), by="ops")
    assert store.in_force("acme", day) is None  # imported, not active
    when = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    row = store.activate("acme", "2026.1", by="key 7 (ops)", now=when)
    assert (row.activated_at, row.activated_by) == (when, "key 7 (ops)")
    # activating again changes nothing
    later = store.activate("acme", "2026.1", by="someone else")
    assert (later.activated_at, later.activated_by) == (when, "key 7 (ops)")
    found = store.in_force("acme", day)
    assert found is not None
    assert found.name == "acme-2026.1"
    assert store.in_force("zenith", day) is None
    with pytest.raises(NotFoundError):
        store.activate("zenith", "2026.1", by="ops")


def test_a_future_book_does_not_price_today(store: RateBookStore) -> None:
    store.import_book(parse_ratebook(book_document("acme", "2025.1")), by="ops")
    future = book_document("acme", "2027.1", effective_from="2027-01-01")
    store.import_book(parse_ratebook(with_rates(future, 1.2)), by="ops")
    store.activate("acme", "2025.1", by="ops")
    store.activate("acme", "2027.1", by="ops")
    today = store.in_force("acme", dt.date(2026, 12, 5))
    assert today is not None
    assert today.version == "2025.1"
    then = store.in_force("acme", dt.date(2027, 1, 1))
    assert then is not None
    assert then.version == "2027.1"


def test_a_diff_of_two_stored_books(store: RateBookStore) -> None:
    store.import_book(parse_ratebook(book_document("acme", "2025.1")), by="ops")
    store.import_book(parse_ratebook(with_rates(book_document("acme", "2026.1"), 2)), by="ops")
    changes = {p: (a, b) for p, a, b in store.diff("acme", "2026.1", "2025.1")}
    assert changes["$.tariff.bands[0].rate_per_mille"] == (0.65, 1.3)
    assert changes["$.version"] == ("2025.1", "2026.1")


def test_a_book_on_another_exposure_base_is_activated_and_priced_on_it(
    store: RateBookStore,
) -> None:
    doc = book_document("acme", "2026.1")
    doc["tariff"]["exposure_base"] = "floor_area"
    doc["tariff"]["bands"] = [{"up_to": None, "rate_cny_per_m2": 5.0}]
    store.import_book(parse_ratebook(doc), by="ops")
    row = store.activate("acme", "2026.1", by="ops")
    assert row.activated_at is not None
    # no quote to balance it over: it keeps the model's off-balance factor
    assert (row.off_balance_method, row.off_balance_factor) == ("model", None)
    found = store.in_force("acme", dt.date(2026, 3, 1))
    assert found is not None
    assert found.exposure_base == "floor_area"
    assert found.off_balance is not None
    assert found.off_balance.method == "model"


def test_two_imports_of_one_version_at_once_store_it_once(
    store: RateBookStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser of the unique index answers as if it had come second."""
    book = parse_ratebook(book_document("acme", "2026.1"))
    store.import_book(book, by="first")
    real = RateBookStore.find
    calls = []

    def not_yet(self: RateBookStore, insurer_id: str, version: str) -> RateBookRow | None:
        calls.append(version)
        return None if len(calls) == 1 else real(self, insurer_id, version)

    monkeypatch.setattr(RateBookStore, "find", not_yet)
    again = store.import_book(book, by="second")
    assert not again.created
    assert again.row.imported_by == "first"
    changed = parse_ratebook(with_rates(book_document("acme", "2026.1"), 1.1))
    calls.clear()
    with pytest.raises(ConflictError):
        store.import_book(changed, by="second")
    assert len(store.books("acme")) == 1


def test_the_book_in_force_reads_its_document_only_until_it_is_parsed(
    store: RateBookStore,
) -> None:
    store.import_book(parse_ratebook(with_rates(book_document("acme", "2026.1"), 1.1)), by="ops")
    store.activate("acme", "2026.1", by="ops")
    store_module._cache.clear()  # as in a worker that has not priced with it yet
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    def reads_documents() -> bool:  # the column itself, not document_hash
        return any(DOCUMENT_COLUMN.search(s) for s in statements)

    engine = store.session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        day = dt.date(2026, 3, 1)
        first = store.in_force("acme", day)
        read_first = reads_documents()
        statements.clear()
        second = store.in_force("acme", day)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    row = store.find("acme", "2026.1")
    assert row is not None
    assert first is not None
    assert first == second == book_of(row)
    assert first.document["tariff"] == row.document["tariff"]
    assert read_first  # not parsed yet: read from its row
    assert statements  # the database is still asked which book is in force
    assert not reads_documents()  # but the parsed book is found by its hash
