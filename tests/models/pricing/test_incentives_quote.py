"""The quote's eligibility section through models.incentives: rule set 2025.1 read as a
RuleSet keeps its meaning, a quote's decoded rows give what the frames give, and what
2025.1 keeps for replay (the model's percentile, claims as given) differs from the
issue-19 rules on purpose."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from models.incentives import MonthRow, SiteClass, evaluate_period, load_rule_set, period_months
from models.incentives.legacy import from_legacy, window_months
from models.pricing import evaluate_incentives, load_incentives
from models.pricing.incentives import quote_incentives

START = "2025-01"
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


def _frame(**override: Any) -> pd.DataFrame:
    columns: dict[str, Any] = {
        "site_id": "s1",
        "month": MONTHS,
        "stage": "structure",
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
    columns.update(override)
    return pd.DataFrame(columns)


def _rows(frame: pd.DataFrame) -> list[SimpleNamespace]:
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [SimpleNamespace(**{str(k): v for k, v in r.items()}) for r in records]


NO_CLAIMS = pd.DataFrame(columns=["claim_id", "site_id", "incident_date", "severity"])


def test_2025_1_read_as_a_rule_set_keeps_its_windows_and_minimum_months() -> None:
    legacy = load_incentives("2025.1")
    rules = from_legacy(legacy)
    assert [t.name for t in rules.tiers] == [t.name for t in legacy.tiers]
    assert [t.means for t in rules.tiers] == [
        "premium_rebate",
        "civilised_site_priority",
        "safety_standard_points",
        "merit_competition_points",
    ]
    assert rules.breaches == ()
    first = {c.name: c for c in rules.tiers[0].criteria}
    # six months, at least three reported: at most three missing
    assert first["hazard_rectification"].max_missing_months == 3
    assert first["hazard_rectification"].window_months == 6
    assert first["low_risk"].metric == "model_percentile"
    merit = {c.name: c for c in rules.tiers[3].criteria}
    assert merit["data_completeness_every_month"].max_missing_months == 0  # 6 of 6
    assert window_months(legacy) == 12


def test_a_quotes_rows_give_what_the_frames_give() -> None:
    legacy = load_incentives("2025.1")
    frame = _frame(
        device_online_rate=[0.9, None, 0.95, 0.97, 0.8, 0.9, None, 0.92, 0.99, 0.9, 0.7, 0.91],
        major_hazards=[0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0],
    )
    claims = [SimpleNamespace(incident_date=dt.date(2024, 6, 3), severity="serious_injury")]
    claims_frame = pd.DataFrame(
        {"claim_id": ["c1"], "site_id": "s1", "incident_date": ["2024-06-03"],
         "severity": ["serious_injury"]}
    )  # fmt: skip
    by_rows = quote_incentives(legacy, _rows(frame), claims, START, 12.5)
    by_frame = evaluate_incentives(legacy, frame, claims_frame, START, 12.5)
    assert by_rows == by_frame
    serious = by_rows.tiers[0].criteria[0]
    assert (serious.name, serious.actual, serious.met) == ("no_serious_claims", 1.0, False)
    online = {c.name: c for c in by_rows.tiers[0].criteria}["device_online"]
    # July-December: None, 0.92, 0.99, 0.90, 0.70, 0.91 -> five reported, 4.42 / 5 = 0.884
    assert online.months_reported == 5
    assert online.actual == pytest.approx(0.884)


def test_2025_1_still_counts_no_claims_as_none_and_the_sample_rules_do_not() -> None:
    # Kept for the quotes priced with 2025.1 (replay gives their answers); the
    # issue-19 rule sets need the feed's claims data before "no serious claims" is met.
    legacy = evaluate_incentives(load_incentives("2025.1"), _frame(), NO_CLAIMS, START, 10.0)
    assert legacy.tiers[0].criteria[0].met
    assert legacy.eligible == tuple(t.name for t in load_incentives("2025.1").tiers)

    sample = load_rule_set("sample-plan-2026.1")
    frame = _frame()
    rows = [MonthRow(r.month, r.stage, 1, vars(r)) for r in _rows(frame)]
    ev = evaluate_period(
        sample,
        SiteClass("residential", "structure"),
        period_months("2024-01", "2024-12"),
        rows,
        (),
        (),
        claims_data=False,
    )
    first = {c.name: c for c in ev.tiers[0].criteria}
    assert first["no_serious_claims"].outcome == "not_evaluable"
    assert first["no_serious_claims"].reason == "no_claims_data"
    # and no class peers were given: the class percentile is not evaluable either
    assert first["major_hazards_in_class"].reason == "too_few_peers"
    assert ev.tiers[0].outcome == "not_evaluable"


def test_without_the_models_percentile_its_2025_1_criterion_is_not_met() -> None:
    result = evaluate_incentives(load_incentives("2025.1"), _frame(), NO_CLAIMS, START, None)
    low_risk = {c.name: c for c in result.tiers[0].criteria}["low_risk"]
    assert (low_risk.actual, low_risk.met, low_risk.months_reported) == (None, False, None)
    assert "premium_rebate" not in result.eligible
    assert "civilised_site_priority" in result.eligible  # it reads no percentile
