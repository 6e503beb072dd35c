"""aggregate_folder: sites and claims passed through, site_months from the SQL, and a
folder the monthly contract's loader accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from events_helpers import baseline, days, write

from models.contract import ContractError, load_folder
from models.events.aggregate import aggregate_folder, parse_months, site_months_sql


def test_the_folder_validates_with_the_monthly_contract(tmp_path: Path) -> None:
    rows = baseline()
    rows["attendance"] += days("S1", "W2", "2025-04-01", "2025-04-30")
    rows["claims"] = [
        {"claim_id": "K1", "site_id": "S1", "incident_date": "2025-04-03",
         "cause": "fall_from_height", "severity": "minor_injury", "paid_cny": 1000.0,
         "reserve_cny": 0.0},
    ]  # fmt: skip
    events = write(tmp_path / "events", rows)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "site_months.csv").write_text("stale")  # replaced, never left beside
    done = aggregate_folder(events, out)
    assert done.rows == 2
    assert done.months == ("2025-03", "2025-04")
    assert sorted(p.name for p in out.iterdir()) == [
        "claims.csv",
        "site_months.parquet",
        "sites.csv",
    ]
    assert (out / "sites.csv").read_bytes() == (events / "sites.csv").read_bytes()
    data = load_folder(out)
    assert list(data.site_months["month"]) == ["2025-03", "2025-04"]
    assert list(data.claims["claim_id"]) == ["K1"]
    only = aggregate_folder(events, out, months=parse_months("2025-04.."))
    assert only.months == ("2025-04",)


def test_bad_events_write_nothing(tmp_path: Path) -> None:
    rows = baseline()
    rows["attendance"][3]["hours"] = -1
    with pytest.raises(ContractError, match=r"attendance.csv row 4 .* hours"):
        aggregate_folder(write(tmp_path / "events", rows), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_months_are_parsed_strictly() -> None:
    assert parse_months("2025-01..2025-06") == ("2025-01", "2025-06")
    assert parse_months("2025-01") == ("2025-01", "2025-01")
    assert parse_months("..2025-06") == (None, "2025-06")
    for bad in ("2025-13..2025-14", "2025-06..2025-01", "..", "2025-1"):
        with pytest.raises(ValueError, match=r"month|first month"):
            parse_months(bad)


def test_the_definition_is_one_sql_text() -> None:
    sql = site_months_sql()
    assert "FROM attendance" in sql
    assert "data_completeness" in sql
