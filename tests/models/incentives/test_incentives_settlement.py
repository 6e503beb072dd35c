"""Agreement terms and settlement, worked by hand: which lines are due, shares of the
contract sum rounded half-up to the cent, what not evaluable means for the money, and
the statement's canonical bytes and hash."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from models.incentives import (
    AgreementTerms,
    Amount,
    MonthRow,
    PeriodEvaluation,
    RuleSet,
    RuleSetError,
    SiteClass,
    evaluate_period,
    load_rule_set,
    parse_rule_set,
    period_months,
    settle,
    terms_from_json,
    terms_to_json,
    validate_terms,
)

PERIOD = period_months("2026-01", "2026-04")


def _c(name: str, metric: str, operator: str, threshold: float, **more: Any) -> dict[str, Any]:
    return {"name": name, "zh": name, "en": name, "metric": metric, "operator": operator,
            "threshold": threshold, **more}  # fmt: skip


DC = {"column": "data_completeness", "max_missing_months": 0}
RULES: RuleSet = parse_rule_set(
    {
        "schema": "incentive-rules/2",
        "version": "test-2",
        "label": "test",
        "sample": False,
        "tiers": [
            {"name": "bonus", "zh": "奖金", "en": "Bonus", "means": "contract_money",
             "criteria": [_c("dc", "months_mean", ">=", 0.9, **DC)]},
            {"name": "civilised", "zh": "文明", "en": "Civilised",
             "means": "civilised_site_priority",
             "criteria": [_c("iv", "per_10k_worker_hours", "<=", 0.5,
                             column="inspection_violations", max_missing_months=0)]},
            {"name": "points", "zh": "加分", "en": "Points", "means": "safety_standard_points",
             "points": 5,
             "criteria": [_c("fatal", "claims_count", "<=", 0, severities=["fatality"])]},
        ],
        "breaches": [
            {"name": "open_hazards", "zh": "隐患", "en": "Open hazards",
             "criterion": _c("open", "unrectified_hazards_per_10k_worker_hours", "<=", 0.3,
                             max_missing_months=0)},
            {"name": "fatal_claim", "zh": "死亡", "en": "Fatal",
             "criterion": _c("fatal", "claims_count", "<=", 0, severities=["fatality"])},
            {"name": "no_data", "zh": "数据", "en": "Data",
             "criterion": _c("dc", "months_mean", ">=", 0.7, **DC)},
        ],
    }
)  # fmt: skip


def _evaluation() -> PeriodEvaluation:
    # four months of 10,000 h: completeness 0.92 on average, 3 findings (0.75 per 10k),
    # 10 hazards found in January with 80 % rectified (2 open: 0.5 per 10k)
    rows = [
        MonthRow(m, "structure", revision=i + 1, values={
            "worker_hours": 10_000.0, "data_completeness": dc, "inspection_violations": iv,
            "hazards_found": found, "hazard_rectification_rate": 0.8 if found else None,
        })
        for i, (m, dc, iv, found) in enumerate(
            zip(PERIOD, (0.9, 0.95, 0.93, 0.9), (1, 0, 2, 0), (10, 0, 0, 0), strict=True)
        )
    ]  # fmt: skip
    return evaluate_period(
        RULES, SiteClass("residential", "structure"), PERIOD, rows, [], [], claims_data=False
    )


def _terms(**changes: Any) -> AgreementTerms:
    raw: dict[str, Any] = {
        "rule_set_version": "test-2",
        "contract_sum_cny": "12345678.90",
        "rewards": {
            "bonus": {"kind": "share_of_contract_sum", "value": "0.001"},
            "civilised": {"kind": "cny", "value": "20000"},
            "points": {"kind": "cny", "value": 5000},
        },
        "penalties": {
            "open_hazards": {"kind": "share_of_contract_sum", "value": "0.0005"},
            "fatal_claim": {"kind": "cny", "value": "100000.00"},
            "no_data": {"kind": "cny", "value": 3000.5},
        },
    }
    raw.update(changes)
    return terms_from_json(raw)


def test_the_outcomes_the_statement_settles() -> None:
    ev = _evaluation()
    assert [t.outcome for t in ev.tiers] == ["met", "not_met", "not_evaluable"]
    assert [b.outcome for b in ev.breaches] == ["breached", "not_evaluable", "kept"]


def test_only_what_is_met_or_breached_is_due_and_shares_round_half_up_to_the_cent() -> None:
    st = settle(_terms(), _evaluation())
    due = {line.name: line.amount_cny for line in st.lines}
    # 0.001 x 12,345,678.90 = 12,345.6789 -> 12,345.68; 0.0005 x it = 6,172.83945 -> 6,172.84
    assert due == {
        "bonus": Decimal("12345.68"),
        "civilised": Decimal("0.00"),  # not met
        "points": Decimal("0.00"),  # not evaluable: missing data never earns a reward
        "open_hazards": Decimal("6172.84"),
        "fatal_claim": Decimal("0.00"),  # not evaluable, waived (the default)
        "no_data": Decimal("0.00"),  # kept
    }
    assert (st.reward_cny, st.penalty_cny, st.net_cny) == (
        Decimal("12345.68"), Decimal("6172.84"), Decimal("6172.84"),
    )  # fmt: skip
    assert st.lines[2].points == 5.0
    assert st.lines[2].means == "safety_standard_points"
    assert st.revisions == {"2026-01": 1, "2026-02": 2, "2026-03": 3, "2026-04": 4}


def test_the_terms_say_whether_a_clause_that_cannot_be_evaluated_is_applied() -> None:
    st = settle(_terms(penalty_when_not_evaluable="apply"), _evaluation())
    assert st.penalty_cny == Decimal("106172.84")
    assert st.net_cny == Decimal("-93827.16")
    # rewards stay unpaid either way
    assert st.reward_cny == Decimal("12345.68")


def test_half_up_not_half_even() -> None:
    terms = _terms(
        contract_sum_cny="100.50",
        rewards={"bonus": {"kind": "share_of_contract_sum", "value": "0.05"}},
        penalties={},
    )
    st = settle(terms, _evaluation())
    assert st.reward_cny == Decimal("5.03")  # 5.025: half-even would give 5.02
    assert st.penalty_cny == Decimal("0.00")
    assert [line.amount for line in st.lines][1:] == [None] * 5  # no money attached


def test_the_statement_replays_byte_for_byte_and_its_hash_covers_the_evidence() -> None:
    first = settle(_terms(), _evaluation())
    again = settle(terms_from_json(terms_to_json(_terms())), _evaluation())
    assert first.canonical_json() == again.canonical_json()
    assert first.content_hash == again.content_hash
    assert first.content_hash.startswith("sha256:")
    assert len(first.content_hash) == len("sha256:") + 64
    doc = json.loads(first.canonical_json())
    assert doc == first.document()
    assert doc["net_cny"] == "6172.84"
    assert doc["period"] == {"first_month": "2026-01", "last_month": "2026-04"}
    assert doc["lines"][0]["amount"] == {"kind": "share_of_contract_sum", "value": "0.001"}
    assert doc["lines"][0]["criteria"][0]["value"] == pytest.approx(0.92)
    assert "奖金" in first.canonical_json().decode("utf-8")  # UTF-8 as is, not \\u escapes
    assert b", " not in first.canonical_json()
    # another revision of one row is other evidence: another hash, even with equal money
    ev = _evaluation()
    moved = PeriodEvaluation(**{**{f: getattr(ev, f) for f in ev.__slots__},
                                "revisions": {**ev.revisions, "2026-02": 7}})  # fmt: skip
    assert settle(_terms(), moved).content_hash != first.content_hash


def test_terms_that_do_not_fit_the_evaluation_are_refused() -> None:
    with pytest.raises(ValueError, match="rule set 'other-1'"):
        settle(_terms(rule_set_version="other-1"), _evaluation())
    with pytest.raises(ValueError, match="lacks"):
        settle(_terms(rewards={"jackpot": {"kind": "cny", "value": 1}}), _evaluation())
    with pytest.raises(ValueError, match="contract sum"):
        settle(_terms(contract_sum_cny=None), _evaluation())


def test_every_problem_of_the_terms_is_named_at_its_path() -> None:
    with pytest.raises(RuleSetError) as raised:
        terms_from_json(
            {
                "rule_set_version": "test-2",
                "currency": "USD",
                "penalty_when_not_evaluable": "maybe",
                "contract_sum_cny": "lots",
                "rewards": {"bonus": {"kind": "gold", "value": 1, "when": "now"}},
                "penalties": {"fatal_claim": {"kind": "cny"}},
                "bonus": 1,
            }
        )
    assert {p.path for p in raised.value.problems} == {
        "$.bonus",
        "$.currency",
        "$.penalty_when_not_evaluable",
        "$.contract_sum_cny",
        "$.rewards.bonus.kind",
        "$.rewards.bonus.when",
        "$.penalties.fatal_claim.value",
    }
    terms = AgreementTerms(
        rule_set_version="test-1",
        rewards={
            "bonus": Amount("cny", Decimal("0.001")),
            "jackpot": Amount("cny", Decimal(5)),
        },
        penalties={"no_data": Amount("share_of_contract_sum", Decimal("1.5"))},
    )
    found = {p.path: p.message for p in validate_terms(terms, RULES)}
    assert set(found) == {
        "$.rule_set_version",
        "$.rewards.bonus.value",
        "$.rewards.jackpot",
        "$.penalties.no_data.value",
        "$.contract_sum_cny",
    }
    assert "two decimals" in found["$.rewards.bonus.value"]
    assert "(0, 1]" in found["$.penalties.no_data.value"]
    assert validate_terms(_terms(), RULES) == []


def test_a_shipped_sample_settles() -> None:
    rules = load_rule_set("sample-money-2026.1")
    terms = terms_from_json(
        {
            "rule_set_version": "sample-money-2026.1",
            "rewards": {"quarter_bonus": {"kind": "cny", "value": "8000"}},
            "penalties": {"fatal_claim": {"kind": "cny", "value": "50000"}},
        }
    )
    assert validate_terms(terms, rules) == []
    rows = [
        MonthRow(m, "structure", 1, {"worker_hours": 8_000.0, "data_completeness": 0.95,
                                     "hazards_found": 3, "hazard_rectification_rate": 1.0})
        for m in PERIOD
    ]  # fmt: skip
    ev = evaluate_period(rules, SiteClass("municipal", "structure"), PERIOD, rows, [], [],
                         claims_data=True)  # fmt: skip
    st = settle(terms, ev)
    assert st.net_cny == Decimal("8000.00")
    blind = settle(terms, evaluate_period(rules, SiteClass("municipal", "structure"), PERIOD,
                                          rows, [], [], claims_data=False))  # fmt: skip
    assert blind.net_cny == Decimal("0.00")  # no claims data: no bonus, the fatal clause waived
