"""Fixtures of the event tests: aggregate hand-written rows (:mod:`events_helpers`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from events_helpers import Rows, write


@pytest.fixture
def aggregate(tmp_path: Path) -> Callable[[Rows], list[dict[str, Any]]]:
    """Write the rows, aggregate them, and give site_months as records."""
    from models.events.aggregate import site_months
    from models.events.load import load_events

    def run(
        rows: Rows, months: tuple[str | None, str | None] | None = None
    ) -> list[dict[str, Any]]:
        folder = write(tmp_path / f"events{len(list(tmp_path.iterdir()))}", rows)
        events = load_events(folder)
        try:
            records: list[dict[str, Any]] = site_months(events, months).to_pylist()
            return records
        finally:
            events.con.close()

    return run
