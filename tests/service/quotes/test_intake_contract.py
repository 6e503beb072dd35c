"""The quote's fast checks against the data contract itself.

A quote is checked by strict decoding (msgspec, with the contract's single-column rules
as metadata), the API's own rules and :func:`contract_problems` (the cross-column
rules), never by building frames. Here arbitrary request rows, most of them breaking
some rule, go both ways: through that fast path, and as frames straight through
:func:`models.contract.validate_frames` (pandera and all). Both must refuse the same
requests; the field the fast path names must be one the contract names; and once
decoding has passed, the two must name exactly the same fields with the same words.
"""

from __future__ import annotations

import string
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models.contract import ContractError, spec, validate_frames
from service.errors import InvalidInputError
from service.quotes.intake import (
    TABLE_FIELDS,
    Item,
    api_problems,
    contract_problems,
    read_item,
    validate_items,
)
from service.quotes.schemas import MAX_WHOLE

SITE: dict[str, Any] = {
    "site_id": "S-1", "contractor_id": "C.1", "district": "pudong",
    "project_type": "residential", "contract_value_cny": 5e7, "floor_area_m2": 2e4,
    "max_height_m": 60.0, "start_date": "2023-07-01", "planned_end_date": "2025-07-01",
    "hazardous_works": 3, "over_scale_hazardous_works": 1, "tower_cranes": 2,
}  # fmt: skip
MONTH: dict[str, Any] = {
    "site_id": "S-1", "stage": "structure", "worker_hours": 1000.0, "avg_daily_workers": 10.0,
    "new_worker_share": 0.1, "training_coverage": 0.9, "ai_alerts_ppe": 2,
    "ai_alerts_intrusion": 0, "ai_alerts_fire": 0, "alert_closure_rate": 0.8,
    "hazards_found": 4, "major_hazards": 1, "hazard_rectification_rate": 0.9,
    "crane_warnings": 0, "structural_alarms": 0, "device_online_rate": 0.95,
    "data_completeness": 0.9, "inspection_violations": 0, "severe_weather_days": 2,
}  # fmt: skip
CLAIM: dict[str, Any] = {
    "site_id": "S-1", "incident_date": "2024-02-10", "cause": "other",
    "severity": "minor_injury", "paid_cny": 100.0, "reserve_cny": 0.0,
}  # fmt: skip
# Keys and dates the API's own rules are about stay valid: this is about the contract.
FIXED = {"site_id", "month", "claim_id", "incident_date"}
START = "2024-07"
MONTHS = ("2024-04", "2024-05", "2024-06")

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6) | st.text(
    string.ascii_letters + string.digits + "_.-", min_size=0, max_size=70
)


def _values(col: spec.Column) -> st.SearchStrategy[Any]:
    """Valid, boundary and invalid values of the column's JSON type, and null."""
    if col.kind == "float":
        lo = col.ge if col.ge is not None else col.gt if col.gt is not None else -1e3
        hi = col.le if col.le is not None else 1e9
        edges = [b for b in (col.ge, col.gt, col.le) if b is not None]
        return st.one_of(
            st.floats(lo, hi, allow_nan=False),
            st.sampled_from([*edges, *(e - 1e-9 for e in edges), *(e + 1e-9 for e in edges)]),
            st.floats(-1e12, 1e12, allow_nan=False),
            st.integers(-3, 5),
            st.none(),
        )
    if col.kind == "int":
        return st.one_of(
            st.integers(-3, 40),
            st.integers(-MAX_WHOLE, MAX_WHOLE),
            st.sampled_from([0, -1, MAX_WHOLE]),
            st.none(),
        )
    if col.kind == "date":
        return st.one_of(
            st.dates(pd.Timestamp("2015-01-01").date(), pd.Timestamp("2030-12-31").date()).map(
                lambda d: d.isoformat()
            ),
            st.sampled_from(["2024-02-30", "2024-1-05", "20240105", "2024-13-01", ""]),
            st.none(),
        )
    if col.choices is not None:
        wrong = [c.upper() for c in col.choices] + [f" {col.choices[0]}", ""]
        return st.one_of(st.sampled_from(col.choices), st.sampled_from(wrong), _TEXT, st.none())
    return st.one_of(_TEXT, st.none())


@st.composite
def _row(draw: st.DrawFn, table: str, base: dict[str, Any]) -> dict[str, Any]:
    row = dict(base)
    columns = [c for c in spec.columns(table) if c.name not in FIXED and c.name in base]
    for col in draw(st.lists(st.sampled_from(columns), max_size=3, unique_by=lambda c: c.name)):
        row[col.name] = draw(_values(col))
    # counts and dates near each other, so cross-column rules break often
    if draw(st.booleans()):
        for small, large in (("over_scale_hazardous_works", "hazardous_works"),
                             ("major_hazards", "hazards_found")):  # fmt: skip
            if small in row:
                row[small], row[large] = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        if "start_date" in row:
            row["start_date"], row["planned_end_date"] = draw(st.sampled_from(
                [("2024-01-01", "2023-12-31"), ("2024-01-01", "2024-01-01"),
                 ("2024-03-05", "2024-03-06")]))  # fmt: skip
    return row


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    months = [{**draw(_row("site_months", MONTH)), "month": m} for m in MONTHS[len(MONTHS) - n :]]
    claims = [
        {**draw(_row("claims", CLAIM)), "claim_id": f"K{j}"} for j in range(draw(st.integers(0, 2)))
    ]
    return {
        "site": draw(_row("sites", SITE)),
        "months": months,
        "claims": claims,
        "policy": {"start_month": START, "term_months": 12},
    }


def _frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    names = [c.name for c in spec.columns(table)]
    return pd.DataFrame.from_records([tuple(r.get(n) for n in names) for r in rows], columns=names)


def _contract_fields(body: dict[str, Any]) -> dict[str, str]:
    """What the contract says of the rows, as request fields: {field: message}."""
    try:
        validate_frames(
            _frame("sites", [body["site"]]),
            _frame("site_months", body["months"]),
            _frame("claims", body["claims"]),
            names=TABLE_FIELDS,
            max_problems=10_000,
        )
    except ContractError as err:
        out = {}
        for p in err.report.problems:
            assert p.row is not None, p  # whole-table problems cannot arise from these rows
            path = "site" if p.file == "site" else f"{p.file}[{p.row - 1}]"
            out[f"{path}.{p.column}" if p.column and "," not in p.column else path] = p.message
        return out
    return {}


def _fast_fields(body: dict[str, Any]) -> tuple[dict[str, str], Item | None]:
    try:
        item = read_item(body)
    except InvalidInputError as err:
        return {f.field: f.message for f in err.fields}, None
    assert api_problems(item) == []  # the rows above keep the API's own rules
    return {f.field: f.message for f in contract_problems(item)}, item


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_fast_checks_refuse_what_the_contract_refuses(body: dict[str, Any]) -> None:
    contract = _contract_fields(body)
    fast, item = _fast_fields(body)
    event("accepted" if not fast else "refused decoding" if item is None else "refused cross")
    assert bool(fast) == bool(contract), (fast, contract)
    assert set(fast) <= set(contract)
    if item is not None:
        # decoded: what is left is the contract's cross-column rules, word for word
        assert fast == contract
        # and the contract run on the decoded item (the reference path) agrees
        _, found = validate_items([item])
        assert {f.field: f.message for f in found.get(0, [])} == fast


def test_whole_numbers_past_float_precision_are_refused_naming_the_field() -> None:
    body = {
        "site": {**SITE, "tower_cranes": MAX_WHOLE + 1},
        "months": [{**MONTH, "month": "2024-06"}],
        "policy": {"start_month": START, "term_months": 12},
    }
    with pytest.raises(InvalidInputError) as err:
        read_item(body)
    assert [f.field for f in err.value.fields] == ["site.tower_cranes"]
    body["site"]["tower_cranes"] = MAX_WHOLE
    assert contract_problems(read_item(body)) == []


def test_cross_column_problems_name_each_row_in_a_batch() -> None:
    months = [{**MONTH, "month": m} for m in MONTHS]
    months[1] = {**months[1], "major_hazards": 5, "hazards_found": 2}
    body = {
        "site": {**SITE, "start_date": "2025-01-01", "planned_end_date": "2024-01-01"},
        "months": months,
        "policy": {"start_month": START, "term_months": 12},
    }
    found = contract_problems(read_item(body, 7, "items[7]."))
    assert [(f.field, f.message) for f in found] == [
        ("items[7].site.start_date", "start_date 2025-01-01 is after planned_end_date 2024-01-01"),
        ("items[7].months[1].major_hazards", "major_hazards 5 is greater than hazards_found 2"),
    ]
