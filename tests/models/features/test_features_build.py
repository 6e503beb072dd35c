"""Feature values on small hand-made sites, checked against sums done by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.contract import spec
from models.contract.spec import Group
from models.features import (
    CATEGORIES,
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    FEATURES,
    build_features,
    categorical_indices,
    group_of,
    monotone_constraints,
    to_matrix,
)
from models.features.build import contractor_records
from models.features.definition import (
    MONTH_DAYS,
    RECIPES,
    REPORTING_GROUPS,
    reads,
    source_columns,
)

_DTYPES = {
    "str": "str",
    "month": "str",
    "float": "float64",
    "int": "Int64",
    "date": "datetime64[ns]",
}


def _frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame typed as the contract loader types it (nullable ints, NaN floats)."""
    cols = spec.columns(table)
    data = {c.name: pd.Series([r.get(c.name) for r in rows], dtype=_DTYPES[c.kind]) for c in cols}
    return pd.DataFrame(data)


def _site(site_id: str, contractor: str = "C1", **kw: Any) -> dict[str, Any]:
    row = {
        "site_id": site_id, "contractor_id": contractor, "district": "pudong",
        "project_type": "residential", "contract_value_cny": 5e7, "floor_area_m2": 2e4,
        "max_height_m": 60.0, "start_date": "2023-07-01", "planned_end_date": "2025-07-01",
        "hazardous_works": 3, "over_scale_hazardous_works": 1, "tower_cranes": 2,
    }  # fmt: skip
    row.update(kw)
    return row


def _month(site_id: str, month: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "site_id": site_id, "month": month, "stage": "structure", "worker_hours": 1000.0,
        "avg_daily_workers": 10.0, "data_completeness": 0.9, "inspection_violations": 0,
        "severe_weather_days": 0,
    }  # fmt: skip
    row.update(kw)
    return row


def _claim(claim_id: str, site_id: str, date: str, **kw: Any) -> dict[str, Any]:
    row = {
        "claim_id": claim_id, "site_id": site_id, "incident_date": date, "cause": "other",
        "severity": "minor_injury", "paid_cny": 100.0, "reserve_cny": 0.0,
    }  # fmt: skip
    row.update(kw)
    return row


def _targets(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"site_id": [p[0] for p in pairs], "month": [p[1] for p in pairs]})


def _one(frame: pd.DataFrame, site_id: str, month: str) -> pd.Series:
    hit = frame[(frame["site_id"] == site_id) & (frame["month"] == month)]
    assert len(hit) == 1
    return hit.iloc[0]


# Site S1: March missing entirely; nulls in several months.
_S1 = [
    _month("S1", "2024-01", worker_hours=1000.0, ai_alerts_ppe=2, training_coverage=0.5,
           device_online_rate=0.8, stage="foundation", avg_daily_workers=5.0),
    _month("S1", "2024-02", worker_hours=2000.0, training_coverage=0.7, ai_alerts_fire=0),
    _month("S1", "2024-04", worker_hours=3000.0, ai_alerts_ppe=4, device_online_rate=0.5,
           severe_weather_days=3),
    _month("S1", "2024-05", worker_hours=1000.0, ai_alerts_ppe=6, training_coverage=0.9,
           device_online_rate=1.0, avg_daily_workers=20.0),
    _month("S1", "2024-06", worker_hours=5000.0, ai_alerts_ppe=1, training_coverage=0.8,
           stage="finishing", avg_daily_workers=30.0, severe_weather_days=6),
]  # fmt: skip
# S2 shares the months with very different values; it must not bleed into S1.
_S2 = [
    _month("S2", m, worker_hours=7.0, ai_alerts_ppe=999, training_coverage=0.01,
           device_online_rate=0.01, stage="civil")
    for m in ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06")
]  # fmt: skip


def _windows_world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sites = _frame("sites", [_site("S1", project_type="rail_transit", district="chongming"),
                             _site("S2", contractor="C2")])  # fmt: skip
    return sites, _frame("site_months", _S1 + _S2), _frame("claims", [])


def test_trailing_windows_of_a_quote_month_follow_hand_sums() -> None:
    sites, sm, claims = _windows_world()
    f = build_features(sites, sm, claims, _targets(("S1", "2024-07"), ("S2", "2024-07")))
    r = _one(f, "S1", "2024-07")
    assert math.isnan(r["exposure"])
    # counts: sum over reported months / their worker-hours; Feb's null is not a zero
    assert r["ai_alerts_ppe_per_10kwh_3m"] == pytest.approx((4 + 6 + 1) / 9000 * 1e4)
    assert r["ai_alerts_ppe_per_10kwh_6m"] == pytest.approx(13 / 10000 * 1e4)
    # per online worker-hour: only months with both alerts and online rate
    assert r["ai_alerts_ppe_per_10k_online_wh_3m"] == pytest.approx(10 / (1500 + 1000) * 1e4)
    assert r["ai_alerts_ppe_per_10k_online_wh_6m"] == pytest.approx(12 / (800 + 1500 + 1000) * 1e4)
    # fire alerts reported only in Feb (a zero), outside the 3-month window
    assert math.isnan(r["ai_alerts_fire_per_10kwh_3m"])
    assert r["ai_alerts_fire_per_10kwh_6m"] == 0.0
    assert math.isnan(r["crane_warnings_per_10kwh_6m"])
    # rates: mean of reported values
    assert r["training_coverage_1m"] == pytest.approx(0.8)
    assert r["training_coverage_3m"] == pytest.approx((0.9 + 0.8) / 2)
    assert r["training_coverage_6m"] == pytest.approx((0.5 + 0.7 + 0.9 + 0.8) / 4)
    assert r["device_online_rate_6m"] == pytest.approx((0.8 + 0.5 + 1.0) / 3)
    assert r["data_completeness_6m"] == pytest.approx(0.9)
    assert math.isnan(r["alert_closure_rate_6m"])
    # data quality: the missing March counts as not reported
    assert r["reported_ai_video_6m"] == pytest.approx(5 / 6)  # Jan, Feb (fire), Apr-Jun
    assert r["reported_training_6m"] == pytest.approx(4 / 6)
    assert r["reported_devices_6m"] == pytest.approx(3 / 6)
    assert r["reported_crane_6m"] == 0.0
    assert r["months_of_history"] == 5
    assert r["months_since_last_data"] == 1
    # exposure scale and stage
    assert r["worker_hours_3m"] == pytest.approx(3000.0)
    assert r["avg_daily_workers_3m"] == pytest.approx((10 + 20 + 30) / 3)
    assert r["severe_weather_days_3m"] == pytest.approx(3.0)
    assert r["stage_last"] == spec.STAGES.index("finishing")
    assert r["project_type"] == spec.PROJECT_TYPES.index("rail_transit")
    assert r["district"] == spec.DISTRICTS.index("chongming")


def test_windows_reach_across_gaps_and_stop_at_the_first_month() -> None:
    sites, sm, claims = _windows_world()
    t = _targets(("S1", "2024-05"), ("S1", "2024-04"), ("S1", "2024-01"), ("S1", "2024-12"))
    f = build_features(sites, sm, claims, t)

    may = _one(f, "S1", "2024-05")
    assert may["exposure"] == 1000.0
    # Feb null, Mar missing, Apr 4 alerts in 3000 hours
    assert may["ai_alerts_ppe_per_10kwh_3m"] == pytest.approx(4 / 3000 * 1e4)
    assert math.isnan(may["training_coverage_1m"])  # April null
    assert may["training_coverage_3m"] == pytest.approx(0.7)
    assert may["months_since_last_data"] == 1
    assert may["stage_last"] == spec.STAGES.index("structure")

    apr = _one(f, "S1", "2024-04")
    assert math.isnan(apr["training_coverage_1m"])  # no March row at all
    assert apr["months_of_history"] == 2
    assert apr["months_since_last_data"] == 2
    assert apr["worker_hours_3m"] == pytest.approx(1500.0)

    jan = _one(f, "S1", "2024-01")
    assert jan["months_of_history"] == 0
    assert math.isnan(jan["months_since_last_data"])
    assert math.isnan(jan["stage_last"])
    assert jan["reported_ai_video_6m"] == 0.0
    assert math.isnan(jan["ai_alerts_ppe_per_10kwh_6m"])
    assert jan["claims_count_all"] == 0.0

    dec = _one(f, "S1", "2024-12")  # six months after the last row
    assert math.isnan(dec["ai_alerts_ppe_per_10kwh_3m"])
    assert dec["ai_alerts_ppe_per_10kwh_6m"] == pytest.approx(1 / 5000 * 1e4)
    assert dec["months_since_last_data"] == 6
    assert dec["stage_last"] == spec.STAGES.index("finishing")


def test_site_attributes_and_project_timing() -> None:
    sites, sm, claims = _windows_world()
    f = build_features(sites, sm, claims, _targets(("S1", "2024-07")))
    r = f.iloc[0]
    start, end, day = (pd.Timestamp(d) for d in ("2023-07-01", "2025-07-01", "2024-07-01"))
    assert r["log_contract_value_cny"] == pytest.approx(math.log(5e7))
    assert r["floor_area_m2"] == 2e4
    assert r["max_height_m"] == 60.0
    assert r["hazardous_works"] == 3
    assert r["over_scale_hazardous_works"] == 1
    assert r["tower_cranes"] == 2
    assert r["project_age_months"] == pytest.approx((day - start).days / MONTH_DAYS)
    assert r["planned_duration_months"] == pytest.approx((end - start).days / MONTH_DAYS)
    assert r["planned_elapsed_share"] == pytest.approx((day - start) / (end - start))
    assert r["months_to_planned_end"] == pytest.approx((end - day).days / MONTH_DAYS)


def test_unknown_categories_and_unknown_sites_are_missing() -> None:
    sites = _frame("sites", [_site("S1", district="atlantis")])
    sm = _frame("site_months", [_month("S1", "2024-01", stage="moon"), _month("S9", "2024-01")])
    f = build_features(
        sites, sm, _frame("claims", []), _targets(("S1", "2024-02"), ("S9", "2024-02"))
    )
    s1, s9 = _one(f, "S1", "2024-02"), _one(f, "S9", "2024-02")
    assert math.isnan(s1["district"])
    assert math.isnan(s1["stage_last"])
    assert s1["project_type"] == spec.PROJECT_TYPES.index("residential")
    # S9 has data but no sites row: attributes and contractor history unknown
    for name in ("district", "log_contract_value_cny", "project_age_months",
                 "contractor_other_sites", "contractor_other_claims_per_10kwh"):  # fmt: skip
        assert math.isnan(s9[name]), name
    assert s9["months_of_history"] == 1
    alone = build_features(sites, sm, _frame("claims", []), _targets(("S9", "2024-02")))
    np.testing.assert_array_equal(to_matrix(alone)[0], to_matrix(f)[1])


def _claims_world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sites = _frame("sites", [_site("S1", "C1"), _site("S2", "C1"), _site("S3", "C2"),
                             _site("S4", "C1")])  # fmt: skip
    months = ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06")
    hours = {"S1": 1000.0, "S2": 2000.0, "S3": 500.0}
    rows = [_month(s, m, worker_hours=h) for s, h in hours.items() for m in months]
    rows.append(_month("S4", "2024-08", worker_hours=9e9))  # C1's site starting later
    claims = _frame(
        "claims",
        [
            _claim("a", "S1", "2024-02-10", severity="serious_injury", paid_cny=100.0,
                   reserve_cny=50.0),
            _claim("b", "S1", "2024-06-30T23:00", paid_cny=10.0),
            _claim("c", "S1", "2024-07-01", severity="fatality", paid_cny=1e6),
            _claim("d", "S2", "2024-03-15", paid_cny=20.0, reserve_cny=5.0),
            _claim("e", "S3", "2024-01-05", paid_cny=7.0),
            _claim("f", "S4", "2024-05-01", paid_cny=3.0),  # before S4 reports anything
        ],
    )  # fmt: skip
    return sites, _frame("site_months", rows), claims


def test_own_claims_are_strictly_before_the_month() -> None:
    sites, sm, claims = _claims_world()
    f = build_features(sites, sm, claims, _targets(("S1", "2024-07"), ("S1", "2024-02")))
    jul = _one(f, "S1", "2024-07")
    assert jul["claims_count_all"] == 2  # the claim on 1 July is not known yet
    assert jul["serious_claims_count_all"] == 1
    assert jul["claims_per_10kwh_all"] == pytest.approx(2 / 6000 * 1e4)
    # counts only: the serious injury of February, none of the amounts
    assert jul["serious_claims_per_10kwh_all"] == pytest.approx(1 / 6000 * 1e4)
    feb = _one(f, "S1", "2024-02")
    assert feb["claims_count_all"] == 0
    assert feb["serious_claims_per_10kwh_all"] == 0.0


def test_contractor_history_excludes_the_site_itself_and_the_future() -> None:
    sites, sm, claims = _claims_world()
    t = _targets(("S1", "2024-07"), ("S2", "2024-07"), ("S2", "2024-03"), ("S3", "2024-07"),
                 ("S2", "2024-01"))  # fmt: skip
    f = build_features(sites, sm, claims, t)
    s1 = _one(f, "S1", "2024-07")
    # C1's other sites: S2 (1 claim, 25 CNY, 12000 h) and S4 (a claim, no hours yet)
    assert s1["contractor_other_sites"] == 1
    assert s1["contractor_other_claims_per_10kwh"] == pytest.approx(2 / 12000 * 1e4)
    assert s1["contractor_other_serious_per_10kwh"] == 0.0  # both minor
    s2 = _one(f, "S2", "2024-07")
    assert s2["contractor_other_sites"] == 1
    assert s2["contractor_other_claims_per_10kwh"] == pytest.approx(3 / 6000 * 1e4)
    # S1's serious injury of February (its fatality on 1 July is not known yet)
    assert s2["contractor_other_serious_per_10kwh"] == pytest.approx(1 / 6000 * 1e4)
    records = contractor_records(sites, sm, claims, t).set_index(["site_id", "month"])
    assert records.loc[("S2", "2024-07")].tolist() == [1.0, 6000.0, 3.0, 1.0]
    assert records.loc[("S1", "2024-07")].tolist() == [1.0, 12000.0, 2.0, 0.0]
    march = _one(f, "S2", "2024-03")
    assert march["contractor_other_claims_per_10kwh"] == pytest.approx(1 / 2000 * 1e4)
    first = _one(f, "S2", "2024-01")
    assert first["contractor_other_sites"] == 0
    assert math.isnan(first["contractor_other_claims_per_10kwh"])
    s3 = _one(f, "S3", "2024-07")  # alone at C2
    assert s3["contractor_other_sites"] == 0
    assert math.isnan(s3["contractor_other_claims_per_10kwh"])
    assert s3["claims_count_all"] == 1


def test_quote_for_a_new_site_with_no_data() -> None:
    sites = _frame("sites", [_site("NEW", start_date="2024-09-01")])
    f = build_features(sites, _frame("site_months", []), _frame("claims", []),
                       _targets(("NEW", "2024-09")))  # fmt: skip
    r = f.iloc[0]
    assert r["months_of_history"] == 0
    assert r["claims_count_all"] == 0
    assert r["project_age_months"] == 0
    assert math.isnan(r["ai_alerts_ppe_per_10kwh_6m"])
    assert math.isnan(r["exposure"])
    assert r["log_contract_value_cny"] == pytest.approx(math.log(5e7))


def test_rows_follow_targets_order_and_default_targets_are_site_months() -> None:
    sites, sm, claims = _claims_world()
    default = build_features(sites, sm, claims)
    assert list(default["site_id"]) == list(sm["site_id"])
    assert list(default["month"]) == list(sm["month"])
    np.testing.assert_array_equal(default["exposure"].to_numpy(), sm["worker_hours"].to_numpy())

    pairs = [*zip(sm["site_id"], sm["month"], strict=True), ("S1", "2024-09"), ("S3", "2023-12")]
    order = np.random.default_rng(3).permutation(len(pairs))
    shuffled = [pairs[i] for i in order] + [pairs[order[0]]]  # a duplicate too
    f = build_features(sites, sm, claims, _targets(*shuffled))
    assert list(zip(f["site_id"], f["month"], strict=True)) == shuffled
    base = build_features(sites, sm, claims, _targets(*pairs))
    expected = to_matrix(base)[np.append(order, order[0])]
    np.testing.assert_array_equal(to_matrix(f), expected)
    assert list(f.columns) == ["site_id", "month", "exposure", *FEATURE_NAMES]
    assert all(f[n].dtype == np.float64 for n in FEATURE_NAMES)


def test_to_matrix_shape_dtype_and_order() -> None:
    sites, sm, claims = _claims_world()
    f = build_features(sites, sm, claims)
    x = to_matrix(f)
    assert x.shape == (len(f), len(FEATURES))
    assert x.dtype == np.float64
    shuffled = f[["exposure", *reversed(FEATURE_NAMES), "site_id", "month"]]
    np.testing.assert_array_equal(to_matrix(shuffled), x)
    np.testing.assert_array_equal(x[:, 5], f[FEATURE_NAMES[5]].to_numpy())


def test_definition_is_consistent() -> None:
    assert FEATURE_SET_VERSION
    assert len(set(FEATURE_NAMES)) == len(FEATURES)
    assert 40 <= len(FEATURES) <= 70
    assert monotone_constraints() == [f.direction for f in FEATURES]
    cats = categorical_indices()
    assert [FEATURE_NAMES[i] for i in cats] == list(CATEGORIES)
    assert all(FEATURES[i].direction == 0 for i in cats)
    assert group_of("training_coverage_3m") is Group.training
    assert group_of("claims_count_all") is Group.claims_history
    with pytest.raises(KeyError):
        group_of("site_id")
    known = {c.name for t in spec.TABLES.values() for c in t}
    identifiers = {"site_id", "claim_id"}
    for f in FEATURES:
        assert f.zh, f.name
        assert f.en, f.name
        assert set(source_columns(f.name)) <= known, f.name
        assert not set(source_columns(f.name)) & identifiers, f.name


def test_every_nullable_column_belongs_to_one_reporting_group() -> None:
    grouped = [c for cols in REPORTING_GROUPS.values() for c in cols]
    nullable = [c.name for c in spec.SITE_MONTHS if c.nullable]
    assert sorted(grouped) == sorted(nullable)


def test_controllable_columns_only_enter_features_of_their_direction() -> None:
    raw = spec.monotone()
    assert set(spec.controllable()) | set(spec.reporting()) == set(raw)
    seen = set()
    for f in FEATURES:
        signs = reads(f.name)
        for column in set(source_columns(f.name)) & set(raw):
            seen.add(column)
            # every column with a direction enters in a known way
            assert column in signs, f.name
            if signs[column] == 0:
                # only whether the column was reported, never its value; reporting
                # more never raises the price
                assert RECIPES[f.name].kind == "reported_share", f.name
                assert f.direction == -1, f.name
            else:
                assert f.direction == signs[column] * raw[column], f.name
    assert seen == set(raw)


def test_hazards_found_enters_only_the_unrectified_count() -> None:
    """Finding hazards is diligence: no feature reads hazards_found but through
    hazards_found x (1 - rectification rate) and whether inspections reported."""
    assert spec.column("site_months", "hazards_found").direction == 0
    assert "hazards_found" not in spec.monotone()
    assert spec.DILIGENCE == ("hazards_found",)
    readers = {f.name for f in FEATURES if "hazards_found" in source_columns(f.name)}
    assert readers == {
        "unrectified_hazards_per_10kwh_3m",
        "unrectified_hazards_per_10kwh_6m",
        "reported_hazard_inspection_6m",
    }
    for k in (3, 6):
        f = FEATURES[FEATURE_NAMES.index(f"unrectified_hazards_per_10kwh_{k}m")]
        assert f.direction == 1
        assert f.group is Group.hazard_inspection
        assert f.zh == f"近{k}月未整改隐患(每万工时)"
        assert RECIPES[f.name].kind == "unrectified_rate"
        assert reads(f.name) == {"hazards_found": 1, "hazard_rectification_rate": -1}
    assert {"major_hazards_per_10kwh_3m", "major_hazards_per_10kwh_6m"} <= set(FEATURE_NAMES)
    assert not any(n.startswith("hazards_found") for n in FEATURE_NAMES)


def test_reporting_metrics_and_shares_never_raise_the_price() -> None:
    assert spec.reporting() == {"device_online_rate": -1, "data_completeness": -1}
    assert not set(spec.reporting()) & set(spec.controllable())
    by_name = {f.name: f for f in FEATURES}
    assert by_name["device_online_rate_6m"].direction == -1
    assert by_name["data_completeness_6m"].direction == -1
    shares = [f for f in FEATURES if RECIPES[f.name].kind == "reported_share"]
    assert len(shares) == len(REPORTING_GROUPS)
    assert all(f.direction == -1 for f in shares)


def test_unrectified_hazards_follow_hand_sums() -> None:
    """found x (1 - rate) over the months that report it; a month with nothing found
    counts as nothing unrectified even without a rate; a month with hazards found but
    no rate (or no count) is not reported and counts neither hours nor hazards."""
    rows = [
        _month("S1", "2024-01", worker_hours=1000.0, hazards_found=10,
               hazard_rectification_rate=0.8),  # 2 unrectified
        _month("S1", "2024-02", worker_hours=2000.0, hazards_found=4),  # no rate: skipped
        _month("S1", "2024-03", worker_hours=4000.0, hazards_found=0),  # none: 0, counted
        _month("S1", "2024-04", worker_hours=8000.0, hazard_rectification_rate=0.5),  # skipped
        _month("S1", "2024-05", worker_hours=500.0, hazards_found=6,
               hazard_rectification_rate=0.5, major_hazards=1),  # 3 unrectified
    ]  # fmt: skip
    sites = _frame("sites", [_site("S1")])
    sm = _frame("site_months", rows)
    f = build_features(sites, sm, _frame("claims", []), _targets(("S1", "2024-06")))
    r = _one(f, "S1", "2024-06")
    assert r["unrectified_hazards_per_10kwh_3m"] == pytest.approx(3 / 4500 * 1e4)
    assert r["unrectified_hazards_per_10kwh_6m"] == pytest.approx(5 / 5500 * 1e4)
    assert r["major_hazards_per_10kwh_6m"] == pytest.approx(1 / 500 * 1e4)
    # the rectification rate's own mean is unchanged by the recipe
    assert r["hazard_rectification_rate_6m"] == pytest.approx((0.8 + 0.5 + 0.5) / 3)
    # nothing reported in the window: no value, not a zero
    early = build_features(sites, sm, _frame("claims", []), _targets(("S1", "2024-03")))
    assert _one(early, "S1", "2024-03")["unrectified_hazards_per_10kwh_3m"] == pytest.approx(
        2 / 1000 * 1e4
    )
    only_feb = _frame("site_months", [rows[1]])
    g = build_features(sites, only_feb, _frame("claims", []), _targets(("S1", "2024-03")))
    assert math.isnan(_one(g, "S1", "2024-03")["unrectified_hazards_per_10kwh_3m"])


def test_no_targets_give_an_empty_frame() -> None:
    sites, sm, claims = _claims_world()
    f = build_features(sites, sm, claims, _targets())
    assert list(f.columns) == ["site_id", "month", "exposure", *FEATURE_NAMES]
    assert to_matrix(f).shape == (0, len(FEATURES))


def test_missing_column_is_named() -> None:
    sites, sm, claims = _claims_world()
    with pytest.raises(KeyError, match="crane_warnings"):
        build_features(sites, sm.drop(columns="crane_warnings"), claims)
