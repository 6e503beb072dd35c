"""Incentive tiers and the data-quality gate on hand-made site histories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from models.pricing import (
    Band,
    CriterionResult,
    DataQualityRule,
    IncentiveResult,
    IncentiveRuleSet,
    check_data_quality,
    evaluate_incentives,
    load_band,
    load_incentives,
)
from models.pricing.history import claims_window, months_window
from models.pricing.incentives import QuoteEvidence
from models.pricing.rulesets import available_versions

START = "2025-01"
NA = None


def _months() -> pd.DataFrame:
    # 2024-07 … 2024-12 are the six months before START; 2024-06 and 2025-01 lie
    # outside and carry values that would break every criterion if they were read.
    months = [
        "2024-06",
        "2024-07",
        "2024-08",
        "2024-09",
        "2024-10",
        "2024-11",
        "2024-12",
        "2025-01",
    ]
    return pd.DataFrame(
        {
            "site_id": "s1",
            "month": months,
            "worker_hours": [1.0, 10000.0, 10000.0, 10000.0, 10000.0, 10000.0, 10000.0, 1.0],
            "hazard_rectification_rate": pd.array(
                [0.0, 0.90, NA, 1.00, 0.95, NA, 0.85, 0.0], dtype="Float64"
            ),
            "major_hazards": pd.array([50, 0, NA, 1, NA, 0, 1, 50], dtype="Int64"),
            "inspection_violations": [99, 1, 2, 0, 1, 0, 2, 99],
            "data_completeness": [0.0, 0.90, 0.80, 0.95, 0.90, 0.90, 0.95, 0.0],
            "device_online_rate": [0.0, 0.90, 0.90, NA, 0.85, 0.80, 0.75, 0.0],
            "alert_closure_rate": [NA] * 8,
        }
    )


def _claims() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "claim_id": ["c1", "c2", "c3", "c4"],
            "site_id": "s1",
            "incident_date": ["2023-12-31", "2024-03-10", "2024-12-31", "2025-01-01"],
            "cause": "other",
            "severity": ["fatality", "serious_injury", "minor_injury", "fatality"],
            "paid_cny": 0.0,
            "reserve_cny": 0.0,
        }
    )


def _criterion(
    name: str, metric: str, operator: str, threshold: float, **extra: object
) -> dict[str, object]:
    return {"name": name, "zh": name, "en": name, "metric": metric, "operator": operator,
            "threshold": threshold, **extra}  # fmt: skip


_RECT = {"column": "hazard_rectification_rate", "window_months": 6}
_SIX = {"window_months": 6}
CRITERIA = [
    _criterion("rect_95", "months_mean", ">=", 0.95, **_RECT),
    _criterion("rect_90", "months_mean", ">=", 0.90, **_RECT),
    _criterion("rect_5_months", "months_mean", ">=", 0.5, **_RECT, min_months=5),
    _criterion("major_rate", "per_10k_worker_hours", "<=", 0.4, column="major_hazards", **_SIX),
    _criterion("violation_rate", "per_10k_worker_hours", "<=", 1.0,
               column="inspection_violations", **_SIX),
    _criterion("violation_sum", "months_sum", "<=", 5, column="inspection_violations", **_SIX),
    _criterion("completeness_min", "months_min", ">=", 0.85, column="data_completeness", **_SIX),
    _criterion("closure", "months_mean", ">=", 0.5, column="alert_closure_rate", **_SIX),
    _criterion("training", "months_mean", ">=", 0.5, column="training_coverage", **_SIX),
    _criterion("serious_12m", "claims_count", "<=", 0, severities=["serious_injury", "fatality"],
               window_months=12),
    _criterion("fatal_12m", "claims_count", "<=", 0, severities=["fatality"], window_months=12),
    _criterion("low_risk", "risk_percentile", "<=", 30),
]  # fmt: skip


@pytest.fixture
def rule_set(tmp_path: Path) -> IncentiveRuleSet:
    tiers = [
        {"name": "all", "zh": "全部", "en": "All", "criteria": CRITERIA},
        {"name": "reachable", "zh": "可达", "en": "Reachable",
         "criteria": [CRITERIA[1], CRITERIA[4], CRITERIA[10]]},
    ]  # fmt: skip
    data = {"version": "test-1", "label": "test", "description": "test", "tiers": tiers}
    path = tmp_path / "incentives.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_incentives(path=path)


def test_every_criterion_reports_actual_threshold_met_and_gap(rule_set: IncentiveRuleSet) -> None:
    result = evaluate_incentives(rule_set, _months(), _claims(), START, risk_percentile=None)
    got = {c.name: c for c in result.tiers[0].criteria}
    # rectification reported in 4 of 6 months: (0.90 + 1.00 + 0.95 + 0.85) / 4 = 0.925
    assert got["rect_95"].actual == pytest.approx(0.925)
    assert not got["rect_95"].met
    assert got["rect_95"].gap == pytest.approx(0.025)
    assert got["rect_95"].months_reported == 4
    assert got["rect_90"].met
    assert got["rect_90"].gap == 0.0
    # fewer reported months than min_months is "not reported"
    assert got["rect_5_months"].actual is None
    assert not got["rect_5_months"].met
    assert got["rect_5_months"].gap is None
    # major hazards 0+1+0+1 over the 4 reporting months' 40,000 hours = 0.5 per 10k
    assert got["major_rate"].actual == pytest.approx(0.5)
    assert got["major_rate"].gap == pytest.approx(0.1)
    # violations 1+2+0+1+0+2 = 6 over 60,000 hours = 1.0 per 10k: exactly at the threshold
    assert got["violation_rate"].actual == pytest.approx(1.0)
    assert got["violation_rate"].met
    assert got["violation_sum"].actual == 6.0
    assert got["violation_sum"].gap == pytest.approx(1.0)
    assert got["completeness_min"].actual == pytest.approx(0.80)
    assert got["completeness_min"].gap == pytest.approx(0.05)
    # all-null column and a column the frame lacks are both not reported
    for name in ("closure", "training"):
        assert got[name].actual is None
        assert not got[name].met
        assert got[name].months_reported == 0
    # claims from 2024-01 to 2024-12: c2 (serious) and c3 (minor); c1 is too old, c4 too new
    assert got["serious_12m"].actual == 1.0
    assert got["serious_12m"].gap == 1.0
    assert got["fatal_12m"].actual == 0.0
    assert got["fatal_12m"].met
    assert got["low_risk"].actual is None
    assert not got["low_risk"].met
    assert not result.tiers[0].eligible
    assert result.tiers[1].eligible
    assert result.eligible == ("reachable",)
    assert result.version == "test-1"
    assert "rect_95" in result.tiers[0].unmet


def test_risk_percentile_decides_its_criterion(rule_set: IncentiveRuleSet) -> None:
    low = evaluate_incentives(rule_set, _months(), _claims(), START, risk_percentile=12.5)
    high = evaluate_incentives(rule_set, _months(), _claims(), START, risk_percentile=55.0)

    def pick(r: IncentiveResult) -> CriterionResult:
        return next(c for c in r.tiers[0].criteria if c.name == "low_risk")

    assert pick(low).met
    assert pick(low).actual == 12.5
    assert not pick(high).met
    assert pick(high).gap == pytest.approx(25.0)


def test_an_empty_history_meets_nothing_but_claim_free_criteria(rule_set: IncentiveRuleSet) -> None:
    empty_claims = _claims().iloc[0:0]
    result = evaluate_incentives(rule_set, _months().iloc[0:0], empty_claims, START, None)
    met = {c.name for c in result.tiers[0].criteria if c.met}
    assert met == {"serious_12m", "fatal_12m"}
    # a claims frame with no columns at all also means "no claims"
    assert evaluate_incentives(rule_set, _months(), pd.DataFrame(), START, None).tiers[1].eligible


@pytest.mark.parametrize("version", available_versions("incentives"))
def test_a_good_site_earns_every_shipped_tier_and_a_poor_one_none(version: str) -> None:
    rules = load_incentives(version)
    # 2025.1 reads the all-peers percentile, incentive-rules/2 the class percentile
    evidence = QuoteEvidence(claims_known=True, class_percentile=10.0)
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    good = pd.DataFrame(
        {
            "site_id": "s1",
            "month": months,
            "worker_hours": 40000.0,
            "training_coverage": 0.98,
            "alert_closure_rate": 0.97,
            "hazard_rectification_rate": 0.99,
            "major_hazards": 0,
            "hazards_found": 5,
            "inspection_violations": 0,
            "device_online_rate": 0.96,
            "data_completeness": 0.97,
        }
    )
    no_claims = pd.DataFrame(columns=["claim_id", "site_id", "incident_date", "severity"])
    result = evaluate_incentives(rules, good, no_claims, "2025-01", 10.0, evidence)
    assert result.eligible == tuple(t.name for t in rules.tiers)
    assert result.version == rules.version
    poor = good.assign(device_online_rate=None, data_completeness=0.5)
    assert evaluate_incentives(rules, poor, no_claims, "2025-01", 10.0, evidence).eligible == ()


def test_rows_of_several_sites_and_bad_months_are_refused(rule_set: IncentiveRuleSet) -> None:
    two = pd.concat([_months(), _months().assign(site_id="s2")])
    with pytest.raises(ValueError, match="several sites"):
        evaluate_incentives(rule_set, two, _claims(), START, None)
    with pytest.raises(ValueError, match="YYYY-MM"):
        evaluate_incentives(rule_set, _months(), _claims(), "2025-13", None)
    with pytest.raises(ValueError, match="YYYY-MM"):
        evaluate_incentives(rule_set, _months().assign(month="2024/07"), _claims(), START, None)


def test_windows_take_the_calendar_months_before_the_start() -> None:
    months = _months()
    assert list(months_window(months, START, 6)["month"]) == months["month"][1:7].tolist()
    assert list(months_window(months, START, 1)["month"]) == ["2024-12"]
    # a year boundary in the middle of the window
    assert list(months_window(months, "2024-08", 2)["month"]) == ["2024-06", "2024-07"]
    assert list(claims_window(_claims(), START, 12)["claim_id"]) == ["c2", "c3"]


# ------------------------------------------------------------------ data quality gate


def _band(window: int = 6, min_months: int = 3) -> Band:
    return Band("dq-test", "t", "", -30.0, 30.0, DataQualityRule(window, min_months, 0.8, 0.85))


def test_data_quality_passes_on_means_over_the_window() -> None:
    check = check_data_quality(_band(), _months(), START)
    # device: (0.90 + 0.90 + 0.85 + 0.80 + 0.75) / 5 = 0.84; completeness mean 0.9
    assert check.passed
    assert check.device_online_rate == pytest.approx(0.84)
    assert check.data_completeness == pytest.approx(0.9)
    assert check.months == 6
    assert check.band_version == "dq-test"


def test_data_quality_fails_low_missing_or_short_histories() -> None:
    months = _months()
    low = check_data_quality(
        _band(window=2, min_months=2), months, START
    )  # 2024-11, 2024-12: device 0.775
    assert not low.passed
    assert low.reasons == ("device_online_rate_low",)
    gone = months.assign(device_online_rate=np.nan)
    assert check_data_quality(_band(), gone, START).reasons == ("device_online_rate_not_reported",)
    short = check_data_quality(_band(), months, "2024-08")  # only 2024-06, 2024-07 before it
    assert "too_few_months" in short.reasons
    assert not short.passed
    poor = months.assign(data_completeness=0.6)
    assert check_data_quality(_band(), poor, START).reasons == ("data_completeness_low",)


def test_shipped_band_gate_uses_its_configured_thresholds() -> None:
    band = load_band()
    months = _months().assign(device_online_rate=band.data_quality.min_device_online_rate)
    assert check_data_quality(band, months, START).passed
    months = months.assign(device_online_rate=band.data_quality.min_device_online_rate - 0.01)
    assert not check_data_quality(band, months, START).passed
