"""Rate books: the strict schema, every error at its JSON path, the shipped default equal
to the shipped default rules, the book in force on a day, and diffs."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.pricing import (
    available_versions,
    base_premium,
    load_band,
    load_incentives,
    load_tariff,
    project_premium,
)
from models.pricing.ratebook import (
    RateBookError,
    book_in_force,
    diff_ratebooks,
    load_ratebook,
    parse_ratebook,
    read_ratebook_text,
    tariff_premiums,
)
from models.pricing.rulesets import RuleError


def _default() -> dict[str, Any]:
    return copy.deepcopy(dict(load_ratebook("default-2025.1").document))


def _book(**changes: Any) -> dict[str, Any]:
    doc = _default()
    doc.update({"insurer_id": "acme", "version": "2026.1", "label": "Acme filing 2026"})
    doc.update(changes)
    return doc


def _paths(doc: object) -> list[str]:
    with pytest.raises(RateBookError) as caught:
        parse_ratebook(doc)
    return [p.path for p in caught.value.problems]


# ------------------------------------------------------------------ the shipped default


@pytest.mark.parametrize("name", ["default-2025.1", "default-2026.1"])
def test_the_shipped_default_book_is_the_shipped_default_rules(name: str) -> None:
    # 2026.1 is 2025.1 with the quote's incentive rule set 2026.1 (issue 19): the same
    # tariff and band, whose version stays default-2025.1 as quotes record it
    book = load_ratebook(name)
    tariff, band = load_tariff(), load_band()
    assert tariff.version == band.version == "default-2025.1"
    assert book.name == name
    assert book.insurer_id == "default"
    assert book.tariff() == tariff.__class__(
        version=book.name,
        label=book.label,
        description=book.description,
        currency=tariff.currency,
        method=tariff.method,
        min_months=tariff.min_months,
        bands=tariff.bands,
    )
    assert book.label.upper().startswith("DEFAULT")
    assert (book.band.min_pct, book.band.max_pct) == (band.min_pct, band.max_pct)
    assert book.band.data_quality == band.data_quality
    assert book.incentives == name.removeprefix("default-")
    assert book.prevention == load_ratebook("default-2025.1").prevention
    assert book.prevention_share == Decimal("0.05")
    assert not book.floating.enabled


@pytest.mark.parametrize("value", [1, 9_999_999.99, 10_000_000, 73_456_789.5, 3e9])
def test_the_default_books_tariff_prices_like_the_shipped_tariff(value: float) -> None:
    book, tariff = load_ratebook(), load_tariff()
    assert project_premium(value, book.tariff("rail_transit")) == project_premium(value, tariff)
    assert base_premium(value, 12, 30, book.tariff()) == base_premium(value, 12, 30, tariff)


def test_a_yaml_and_a_json_book_read_alike(tmp_path: Path) -> None:
    doc = _book()
    as_json = read_ratebook_text(json.dumps(doc))
    path = tmp_path / "acme.yaml"
    path.write_text(yaml.safe_dump({**doc, "effective_from": dt.date(2025, 1, 1)}), "utf-8")
    assert load_ratebook(path=path) == as_json
    assert as_json.effective_from == dt.date(2025, 1, 1)


# ------------------------------------------------------------------------- the schema


def test_a_book_with_ten_deliberate_errors_is_refused_with_all_ten_named() -> None:
    doc = _book()
    doc["insurer_id"] = "acme insurer"  # 1: not an id
    doc["effective_from"] = "2026-02-30"  # 2: no such date
    doc["tariff"]["bands"][2]["rate_per_mille"] = -0.55  # 3: negative rate
    doc["tariff"]["bands"][3]["rate_per_mille"] = "0.50"  # 4: a string, not a number
    doc["tariff"]["bands"][1]["up_to"] = 5_000_000  # 5: below the previous band's upper end
    doc["tariff"]["exposure_bases"] = "contract_value"  # 6: unknown key (misspelt)
    doc["band"]["max_pct"] = -5  # 7: a band that cannot hold "no change"
    doc["band"]["data_quality"]["min_months"] = 9  # 8: more than its window of 6
    del doc["floating"]["accidents_pct"]["major"]  # 9: missing
    doc["incentives"] = "2031.9"  # 10: not shipped
    assert sorted(_paths(doc)) == sorted(
        [
            "$.insurer_id",
            "$.effective_from",
            "$.tariff.bands[2].rate_per_mille",
            "$.tariff.bands[3].rate_per_mille",
            "$.tariff.bands[1].up_to",
            "$.tariff.exposure_bases",
            "$.band.max_pct",
            "$.band.data_quality.min_months",
            "$.floating.accidents_pct.major",
            "$.incentives",
        ]
    )


def test_the_error_message_names_the_source_and_every_path() -> None:
    doc = _book(prevention_share=1.5, effective_to="2024-12-31")
    with pytest.raises(RateBookError) as caught:
        parse_ratebook(doc, source="acme.yaml")
    text = str(caught.value)
    assert text.startswith("acme.yaml: 2 problem(s)")
    assert "$.prevention_share: " in text
    assert "$.effective_to: must not be before effective_from 2025-01-01" in text
    assert isinstance(caught.value, RuleError)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["tariff"]["bands"][-1].update(up_to=2e9), "$.tariff.bands[5].up_to"),
        (lambda d: d["tariff"]["bands"][0].update(up_to=None), "$.tariff.bands[0].up_to"),
        (lambda d: d.update(prevention_share=True), "$.prevention_share"),
        (lambda d: d["floating"].update(enabled="yes"), "$.floating.enabled"),
        (lambda d: d["tariff"].update(exposure_base="turnover"), "$.tariff.exposure_base"),
        (
            lambda d: d["tariff"].update(project_types={"bridges": []}),
            "$.tariff.project_types.bridges",
        ),
        (lambda d: d.pop("band"), "$.band"),
        (lambda d: d.update(version="2026 1"), "$.version"),
        (lambda d: d.update(insurer_id="i" * 60, version="2026.1"), "$.version"),
        (lambda d: d["band"].update(min_pct=float("nan")), "$"),
    ],
)  # fmt: skip
def test_each_rule_is_named_at_its_path(change: Any, path: str) -> None:
    doc = _book()
    change(doc)
    assert path in _paths(doc)


def test_the_rate_key_follows_the_exposure_base() -> None:
    doc = _book()
    doc["tariff"]["exposure_base"] = "floor_area"
    paths = _paths(doc)
    # every band names the per-mille rate, which a floor-area book does not use
    assert "$.tariff.bands[0].rate_per_mille" in paths
    assert "$.tariff.bands[0].rate_cny_per_m2" in paths
    doc["tariff"]["bands"] = [
        {"up_to": 10_000, "rate_cny_per_m2": 6.0},
        {"up_to": None, "rate_cny_per_m2": 4.5},
    ]
    book = parse_ratebook(doc)
    assert book.exposure_base == "floor_area"
    assert book.bands[1].lower_cny == Decimal(10_000)


def test_a_floor_area_book_prices_the_project_once_and_the_term_its_share() -> None:
    doc = _book()
    doc["tariff"]["exposure_base"] = "floor_area"
    doc["tariff"]["bands"] = [
        {"up_to": 10_000, "rate_cny_per_m2": 6.0},
        {"up_to": None, "rate_cny_per_m2": 4.5},
    ]
    book = parse_ratebook(doc)
    # 25,000 m²: 10,000 × 6 + 15,000 × 4.5 = 127,500 for the project; 12 of 30 months
    base, project = tariff_premiums("floor_area", 25_000.0, 12, 30, book.tariff("residential"))
    assert project == Decimal("127500.00")
    assert base == Decimal("51000.00")
    # inside the first band only
    assert tariff_premiums("floor_area", 2_000.5, 6, 6, book.tariff())[0] == Decimal("12003.00")


def test_a_headcount_book_prices_each_month_of_cover() -> None:
    doc = _book()
    doc["tariff"]["exposure_base"] = "headcount"
    doc["tariff"]["min_months"] = 3
    doc["tariff"]["bands"] = [
        {"up_to": 50, "rate_cny_per_worker_month": 20.0},
        {"up_to": None, "rate_cny_per_worker_month": 12.5},
    ]
    book = parse_ratebook(doc)
    # 80 workers: 50 × 20 + 30 × 12.5 = 1,375 a month; 12 months; a 24-month project
    assert tariff_premiums("headcount", 80.0, 12, 24, book.tariff()) == (
        Decimal("16500.00"),
        Decimal("33000.00"),
    )
    # a term (and a project) shorter than min_months pays min_months
    assert tariff_premiums("headcount", 80.0, 1, 2, book.tariff()) == (
        Decimal("4125.00"),
        Decimal("4125.00"),
    )
    # the contract value's arithmetic is unchanged: per mille, pro rata over the project
    shipped = load_ratebook()
    assert tariff_premiums("contract_value", 5e7, 12, 24, shipped.tariff()) == (
        base_premium(5e7, 12, 24, shipped.tariff()),
        project_premium(5e7, shipped.tariff()),
    )


def test_a_project_type_has_its_own_bands() -> None:
    doc = _book()
    doc["tariff"]["project_types"] = {"rail_transit": [{"up_to": None, "rate_per_mille": 0.9}]}
    book = parse_ratebook(doc)
    value = 20_000_000
    assert project_premium(value, book.tariff("rail_transit")) == Decimal("18000.00")
    assert project_premium(value, book.tariff("residential")) == project_premium(
        value, load_tariff()
    )


def test_every_shipped_book_loads() -> None:
    assert {"2025.1", "2026.1"} <= set(available_versions("incentives"))
    # the latest default book names the latest incentive rule set; 2025.1 stays shipped
    assert load_ratebook().name == "default-2026.1"
    assert load_ratebook().incentives == load_incentives().version == "2026.1"
    assert load_ratebook("default-2025.1").incentives == "2025.1"
    with pytest.raises(RuleError, match="unknown rate book"):
        load_ratebook("nobody-1")


# ------------------------------------------------------------------- in force, diff


def test_the_book_in_force_on_a_day() -> None:
    old = parse_ratebook(_book(version="2025.1", effective_from="2025-01-01"))
    new = parse_ratebook(_book(version="2026.1", effective_from="2026-07-01"))
    ended = parse_ratebook(
        _book(version="2024.1", effective_from="2024-01-01", effective_to="2024-12-31")
    )
    books = [old, new, ended]
    assert book_in_force(books, dt.date(2026, 6, 30)) is old
    assert book_in_force(books, dt.date(2026, 7, 1)) is new
    assert book_in_force(books, dt.date(2024, 6, 1)) is ended
    assert book_in_force(books, dt.date(2023, 12, 31)) is None


def test_a_diff_lists_every_changed_value_at_its_path() -> None:
    a = parse_ratebook(_book())
    doc = _book(version="2026.2")
    doc["tariff"]["bands"][2]["rate_per_mille"] = 0.58
    doc["tariff"]["bands"].append({"up_to": None, "rate_per_mille": 0.3})
    doc["tariff"]["bands"][5]["up_to"] = 2e9
    b = parse_ratebook(doc)
    assert diff_ratebooks(a, b) == [
        ("$.tariff.bands[2].rate_per_mille", 0.55, 0.58),
        ("$.tariff.bands[5].up_to", None, 2e9),
        ("$.tariff.bands[6]", None, {"up_to": None, "rate_per_mille": 0.3}),
        ("$.version", "2026.1", "2026.2"),
    ]
    assert diff_ratebooks(a, a) == []
