"""docs/data-contract.md says what models/contract/spec.py encodes (issue 18).

Every table and column of the spec is in the page, in its table's section, with the
spec's type, required/optional status and rules (range, allowed values, length, pattern,
uniqueness, references, rules between columns); the page names no column the spec does
not have; and the page's table of metric directions is ``spec.controllable()``,
``spec.reporting()`` and ``spec.DILIGENCE``. A change of either fails here until the
other follows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.contract import spec

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-contract.md"

TYPES = {"str": "string", "float": "float", "int": "integer", "date": "date", "month": "month"}
PATTERNS = {spec.ID_PATTERN: "`[A-Za-z0-9_.-]`", spec.MONTH_PATTERN: "`YYYY-MM`"}
# How the page says what more of a metric does to the price.
DIRECTIONS = {1: "never lowers the price", -1: "never raises the price"}


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    """The text under the ``## heading…`` line, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(heading)}(?:\s.*)?$", text, re.M)
    assert match, f"docs/data-contract.md has no section '## {heading}'"
    rest = text[match.end() :]
    end = re.search(r"^## ", rest, re.M)
    return rest[: end.start()] if end else rest


def _rows(section: str) -> dict[str, list[str]]:
    """The rows of the section's tables whose first cell is a `column`, by that name."""
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) > 1:
            name = cells[0].strip("`")
            assert name not in rows, f"column {name!r} appears twice in one section"
            rows[name] = cells
    return rows


def _columns_table(table: str) -> dict[str, list[str]]:
    """The page's table of ``table``'s columns: column, type, unit, required, rule, meaning."""
    rows = _rows(_section(_text(), table))
    return {name: cells for name, cells in rows.items() if len(cells) == 6}


def _number(value: float) -> str:
    return f"{value:g}"


def _rules(table: str, col: spec.Column) -> list[str]:
    """What the rule cell must say, as the page writes it."""
    rules: list[str] = []
    if col.ge is not None and col.le is not None:
        rules.append(f"{_number(col.ge)}–{_number(col.le)}")
    elif col.ge is not None:
        rules.append(f"≥ {_number(col.ge)}")
    elif col.le is not None:
        rules.append(f"≤ {_number(col.le)}")
    if col.gt is not None:
        rules.append(f"> {_number(col.gt)}")
    if col.min_len is not None and col.max_len is not None:
        rules.append(f"{col.min_len}–{col.max_len} characters")
    elif col.min_len is not None:
        rules.append(f"at least {col.min_len} character")
    if col.pattern is not None:
        rules.append(PATTERNS[col.pattern])
    if col.unique or spec.KEYS[table] == (col.name,):
        rules.append("unique")
    key = spec.KEYS[table]
    if len(key) > 1 and col.name == key[-1]:
        rules.append("unique with " + ", ".join(f"`{k}`" for k in key[:-1]))
    if col.name == "site_id" and table in spec.REFERENCES:
        rules.append("in `sites`")
    if col.choices is not None and col.choices != spec.DISTRICTS:
        rules.extend(f"`{choice}`" for choice in col.choices)
    return rules


@pytest.mark.parametrize("table", list(spec.TABLES))
def test_every_column_is_on_the_page(table: str) -> None:
    page = _columns_table(table)
    expected = [c.name for c in spec.columns(table, optional=True)]
    missing = [name for name in expected if name not in page]
    extra = [name for name in page if name not in expected]
    assert not missing, f"docs/data-contract.md, section {table}: no row for {missing}"
    assert not extra, f"docs/data-contract.md, section {table}: {extra} are not in the spec"
    assert list(page) == expected, "the page lists the columns in the spec's order"


@pytest.mark.parametrize("table", list(spec.TABLES))
def test_every_column_says_what_the_spec_says(table: str) -> None:
    page = _columns_table(table)
    optional = {c.name for c in spec.OPTIONAL[table]}
    for col in spec.columns(table, optional=True):
        where = f"docs/data-contract.md, {table}.{col.name}"
        assert col.name in page, f"{where}: no row"
        _, kind, _unit, required, rule, _meaning = page[col.name]
        assert kind == TYPES[col.kind], f"{where}: type {kind!r}, the spec's is {col.kind}"
        status = (
            "optional column"
            if col.name in optional
            else ("may be empty" if col.nullable else "required")
        )
        assert required == status, f"{where}: {required!r}, the spec says {status!r}"
        if col.name in optional:
            assert "may be empty" in rule, f"{where}: say that a value may be empty"
        for text in _rules(table, col):
            assert text in rule, f"{where}: the rule cell does not say {text!r}: {rule!r}"


def test_rules_between_columns_are_on_the_page() -> None:
    for cross in spec.CROSS_RULES:
        page = _columns_table(cross.table)
        small, large = page[cross.small][4], page[cross.large][4]
        assert f"≤ `{cross.large}`" in small or f"≥ `{cross.small}`" in large, (
            f"docs/data-contract.md, {cross.table}: the rule {cross.name} is not stated"
        )


def test_every_allowed_value_is_on_the_page() -> None:
    text = _text()
    for table in spec.TABLES:
        section = _section(text, table)
        for col in spec.columns(table, optional=True):
            for choice in col.choices or ():
                assert f"`{choice}`" in section, f"{table}.{col.name}: `{choice}` is not listed"
    districts = _rows(_section(text, "sites"))
    for code, (zh, en) in spec.DISTRICT_LABELS.items():
        assert code in districts, f"district {code!r} is not in the table of district codes"
        assert districts[code][1:3] == [zh, en], f"district {code!r}: names differ from spec"
    assert set(spec.DISTRICT_LABELS) == set(spec.DISTRICTS)


def test_metric_directions_are_the_specs() -> None:
    rows = _rows(_section(_text(), "What a model may and may not use"))
    on_page = {name: cells for name, cells in rows.items() if len(cells) == 3}
    expected: dict[str, tuple[str, str]] = {}
    for name, direction in spec.controllable().items():
        expected[name] = (DIRECTIONS[direction], "safety metric")
    for name, direction in spec.reporting().items():
        expected[name] = (DIRECTIONS[direction], "reporting metric")
    assert set(on_page) == set(expected) | set(spec.DILIGENCE)
    for name, (effect, kind) in expected.items():
        assert on_page[name][1:] == [effect, kind], f"{name}: {on_page[name][1:]}"
    for name in spec.DILIGENCE:
        assert on_page[name][2] == "diligence"
        assert spec.column("site_months", name).direction == 0


def test_the_page_names_the_specs_version() -> None:
    title = _text().splitlines()[0]
    assert title.endswith(f"(v{spec.CONTRACT_VERSION})"), title
