"""service.ratebooks.impact without a model: which quotes are the last 12 months, and
an activation with too few quotes to balance a book over keeps the model's factor
without loading a model."""

from __future__ import annotations

import datetime as dt

import pytest
from ratebook_helpers import book_document

from models.pricing.ratebook import parse_ratebook
from models.settings import Settings
from service.db.engine import Database
from service.model_provider import ModelSnapshot
from service.ratebooks.impact import off_balance_finder, since
from service.ratebooks.store import RateBookStore

UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (dt.datetime(2026, 12, 5, 9, 30, tzinfo=UTC), dt.datetime(2025, 12, 5, 9, 30, tzinfo=UTC)),
        (dt.datetime(2026, 3, 31, tzinfo=UTC), dt.datetime(2025, 3, 31, tzinfo=UTC)),
        # no 29 February a year before: its month's last day
        (dt.datetime(2024, 2, 29, 12, tzinfo=UTC), dt.datetime(2023, 2, 28, 12, tzinfo=UTC)),
        (dt.datetime(2026, 1, 15, tzinfo=UTC), dt.datetime(2025, 1, 15, tzinfo=UTC)),
    ],
)
def test_the_last_twelve_months_start_the_same_day_a_year_before(
    now: dt.datetime, start: dt.datetime
) -> None:
    assert since(now) == start


def test_a_shorter_window_clips_the_day_to_its_month() -> None:
    assert since(dt.datetime(2026, 3, 31, tzinfo=UTC), 1) == dt.datetime(2026, 2, 28, tzinfo=UTC)


def test_too_few_quotes_keep_the_models_factor_and_load_no_model(settings: Settings) -> None:
    def no_model() -> ModelSnapshot:
        raise AssertionError("the model was loaded for an insurer without quotes")

    database = Database(settings.db_url)
    try:
        with database.session() as session:
            store = RateBookStore(session)
            store.import_book(parse_ratebook(book_document("acme", "2026.1")), by="ops")
            finder = off_balance_finder(session, no_model)
            row = store.activate("acme", "2026.1", by="ops", off_balance=finder)
            assert (row.off_balance_method, row.off_balance_factor) == ("model", None)
            assert row.off_balance_quotes == 0
    finally:
        database.dispose()
