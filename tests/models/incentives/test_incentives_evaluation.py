"""evaluate_period, worked by hand: month figures and cumulative figures, missing months
against the rule's allowance, claims with and without claims data, hazards paired with
rectification, percentiles within the site's class only, tiers and breaches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from models.incentives import (
    CriterionEvaluation,
    MonthRow,
    PeerRow,
    PeriodEvaluation,
    RuleSet,
    SiteClaim,
    SiteClass,
    evaluate_period,
    load_rule_set,
    parse_rule_set,
    period_months,
)

PERIOD = period_months("2026-01", "2026-06")
CLASS = SiteClass("residential", "structure")


def _criterion(
    name: str, metric: str, operator: str, threshold: float, **more: Any
) -> dict[str, Any]:
    return {"name": name, "zh": name, "en": name, "metric": metric, "operator": operator,
            "threshold": threshold, **more}  # fmt: skip


def _rules(criteria: list[dict[str, Any]], breaches: list[dict[str, Any]] | None = None) -> RuleSet:
    return parse_rule_set(
        {
            "schema": "incentive-rules/2",
            "version": "test-1",
            "label": "test",
            "sample": False,
            "tiers": [
                {
                    "name": "bonus",
                    "zh": "奖",
                    "en": "Bonus",
                    "means": "contract_money",
                    "criteria": criteria,
                }
            ],
            "breaches": breaches or [],
        }
    )


# The site's months: April has no row; hours 10,000 a month.
_VALUES: dict[str, dict[str, float | None]] = {
    "2026-01": {"data_completeness": 0.90, "hazards_found": 10, "hazard_rectification_rate": 0.9,
                "major_hazards": 0, "inspection_violations": 1},
    "2026-02": {"data_completeness": 0.95, "hazards_found": 0, "hazard_rectification_rate": None,
                "major_hazards": 0, "inspection_violations": 0},
    "2026-03": {"data_completeness": 1.00, "hazards_found": 4, "hazard_rectification_rate": 1.0,
                "major_hazards": 0, "inspection_violations": 0},
    "2026-05": {"data_completeness": 0.85, "hazards_found": 5, "hazard_rectification_rate": 0.8,
                "major_hazards": 1, "inspection_violations": 2},
    "2026-06": {"data_completeness": 0.90, "hazards_found": 2, "hazard_rectification_rate": None,
                "major_hazards": 1, "inspection_violations": 0},
}  # fmt: skip


def _rows(override: Mapping[str, Mapping[str, float | None]] | None = None) -> list[MonthRow]:
    out = []
    for i, (month, values) in enumerate(sorted(_VALUES.items())):
        merged = {"worker_hours": 10_000.0, **values, **(override or {}).get(month, {})}
        out.append(MonthRow(month, "structure", revision=10 + i, values=merged))
    return out


def _evaluate(rules: RuleSet, **kw: Any) -> PeriodEvaluation:
    args: dict[str, Any] = {"rows": _rows(), "peers": [], "claims": [], "claims_data": True}
    args.update(kw)
    return evaluate_period(rules, CLASS, PERIOD, **args)


def _only(ev: PeriodEvaluation) -> CriterionEvaluation:
    (criterion,) = ev.tiers[0].criteria
    return criterion


def test_a_mean_month_by_month_and_cumulatively_with_the_missing_month_named() -> None:
    rules = _rules([_criterion("dc", "months_mean", ">=", 0.90, column="data_completeness",
                               max_missing_months=1)])  # fmt: skip
    c = _only(_evaluate(rules))
    # (0.90 + 0.95 + 1.00 + 0.85 + 0.90) / 5 = 0.92
    assert c.value == pytest.approx(0.92)
    assert c.outcome == "met"
    assert c.months == PERIOD
    assert c.missing_months == ("2026-04",)
    assert c.months_used == ("2026-01", "2026-02", "2026-03", "2026-05", "2026-06")
    assert c.revisions == {
        "2026-01": 10,
        "2026-02": 11,
        "2026-03": 12,
        "2026-05": 13,
        "2026-06": 14,
    }
    assert [m.value for m in c.by_month] == [0.90, 0.95, 1.00, None, 0.85, 0.90]
    assert [m.cumulative for m in c.by_month] == pytest.approx(
        [0.90, 0.925, 0.95, 0.95, 0.925, 0.92]
    )
    assert [m.status for m in c.by_month] == [
        "met", "met", "met", "not_reported", "not_met", "met",
    ]  # fmt: skip
    assert [m.revision for m in c.by_month] == [10, 11, 12, None, 13, 14]


def test_more_missing_months_than_allowed_is_never_met() -> None:
    rules = _rules([_criterion("dc", "months_mean", ">=", 0.50, column="data_completeness",
                               max_missing_months=0)])  # fmt: skip
    ev = _evaluate(rules)
    c = _only(ev)
    assert c.value == pytest.approx(0.92)  # far above the threshold, and still
    assert c.outcome == "not_evaluable"
    assert c.reason == "too_many_missing_months"
    assert ev.tiers[0].outcome == "not_evaluable"
    # a null in the column is a missing month too
    rows = _rows()
    rows.append(
        MonthRow("2026-04", "structure", 99, {"worker_hours": 1.0, "data_completeness": 1.0})
    )
    assert _only(_evaluate(rules, rows=rows)).outcome == "met"
    rows[0] = MonthRow("2026-01", "structure", 10, {"worker_hours": 1.0, "data_completeness": None})
    assert _only(_evaluate(rules, rows=rows)).reason == "too_many_missing_months"


def test_nothing_reported_is_not_evaluable_even_when_missing_months_are_allowed() -> None:
    rules = _rules([_criterion("dc", "months_min", ">=", 0.0, column="data_completeness",
                               max_missing_months=6)])  # fmt: skip
    c = _only(_evaluate(rules, rows=[]))
    assert (c.outcome, c.reason, c.value) == ("not_evaluable", "nothing_reported", None)


def test_a_window_reads_the_last_months_of_the_period() -> None:
    rules = _rules([_criterion("dc", "months_min", ">=", 0.90, column="data_completeness",
                               max_missing_months=0, window_months=2)])  # fmt: skip
    c = _only(_evaluate(rules))
    assert c.months == ("2026-05", "2026-06")
    assert c.value == 0.85  # the lower of May's 0.85 and June's 0.90
    assert c.outcome == "not_met"


def test_a_rate_per_10k_worker_hours() -> None:
    rules = _rules([_criterion("iv", "per_10k_worker_hours", "<=", 0.5,
                               column="inspection_violations", max_missing_months=1)])  # fmt: skip
    c = _only(_evaluate(rules))
    # 3 findings over 50,000 worker-hours = 0.6 per 10k
    assert c.value == pytest.approx(0.6)
    assert c.outcome == "not_met"
    assert [m.value for m in c.by_month] == [1.0, 0.0, 0.0, None, 2.0, 0.0]
    # a reported month without worker-hours has no rate of its own but stays reported
    rows = _rows({"2026-02": {"worker_hours": 0.0}})
    c = _only(_evaluate(rules, rows=rows))
    assert c.by_month[1].status == "no_exposure"
    assert c.value == pytest.approx(3 / 40_000 * 1e4)


def test_unrectified_hazards_pair_discovery_with_rectification() -> None:
    rules = _rules([_criterion("open", "unrectified_hazards_per_10k_worker_hours", "<=", 0.3,
                               max_missing_months=1)])  # fmt: skip
    c = _only(_evaluate(rules))
    # Jan 10 x (1 - 0.9) = 1, Feb none found, Mar all rectified, May 5 x 0.2 = 1,
    # June 2 found with none due yet (null share) = 0: 2 over 50,000 h = 0.4 per 10k
    assert c.value == pytest.approx(0.4)
    assert [m.value for m in c.by_month] == pytest.approx([1.0, 0.0, 0.0, None, 1.0, 0.0])
    assert c.outcome == "not_met"
    # finding ten times as many hazards in March, all rectified, changes nothing
    more = _only(_evaluate(rules, rows=_rows({"2026-03": {"hazards_found": 40}})))
    assert more.value == c.value
    assert more.outcome == c.outcome
    # rectifying January's fully meets it: 1 over 50,000 h = 0.2
    better = _only(_evaluate(rules, rows=_rows({"2026-01": {"hazard_rectification_rate": 1.0}})))
    assert better.value == pytest.approx(0.2)
    assert better.outcome == "met"


def test_claims_are_counted_by_severity_and_without_claims_data_never_met() -> None:
    rules = _rules([_criterion("no_serious", "claims_count", "<=", 0,
                               severities=["serious_injury", "fatality"])])  # fmt: skip
    assert _only(_evaluate(rules)).outcome == "met"  # claims data, and none on the site
    blind = _only(_evaluate(rules, claims_data=False))
    assert (blind.outcome, blind.reason, blind.value) == ("not_evaluable", "no_claims_data", None)
    assert {m.status for m in blind.by_month} == {"not_reported"}
    claims = [
        SiteClaim(dt.date(2026, 3, 14), "minor_injury"),  # not a listed severity
        SiteClaim(dt.date(2025, 12, 31), "fatality"),  # before the period
        SiteClaim(dt.date(2026, 5, 2), "serious_injury"),
    ]
    c = _only(_evaluate(rules, claims=claims))
    assert c.value == 1.0
    assert c.outcome == "not_met"
    assert [m.value for m in c.by_month] == [0, 0, 0, 0, 1, 0]
    assert [m.cumulative for m in c.by_month] == [0, 0, 0, 0, 1, 1]
    assert c.by_month[4].status == "not_met"
    with pytest.raises(ValueError, match="severity"):
        _evaluate(rules, claims=[SiteClaim(dt.date(2026, 1, 1), "bruise")])


def _peer(site: str, month: str, major: int, hours: float, stage: str = "structure",
          project_type: str = "residential") -> PeerRow:  # fmt: skip
    return PeerRow(
        site, month, project_type, stage, {"worker_hours": hours, "major_hazards": major}
    )


def _peers() -> list[PeerRow]:
    out = []
    # rates per 10k in May and June: p1 0, p2 0.5, p3 1.0 (a tie), p4 2, p5 3, p6 4
    ranked = [("p1", 0, 10_000), ("p2", 1, 20_000), ("p3", 1, 10_000), ("p4", 2, 10_000),
              ("p5", 3, 10_000), ("p6", 4, 10_000)]  # fmt: skip
    for site, major, hours in ranked:
        out += [_peer(site, m, major, hours) for m in ("2026-05", "2026-06")]
    # safer sites of other classes, which must not count
    for site in ("f1", "f2", "f3"):
        out += [_peer(site, m, 0, 10_000, stage="finishing") for m in ("2026-05", "2026-06")]
    out += [_peer("c1", m, 0, 10_000, project_type="commercial") for m in ("2026-05", "2026-06")]
    return out


def _percentile_rules(min_peers: int = 5) -> RuleSet:
    return _rules([_criterion("major_in_class", "class_percentile", "<=", 50, window_months=2,
                               max_missing_months=0,
                               ranking={"metric": "per_10k_worker_hours", "column": "major_hazards",
                                        "safer": "lower", "min_peers": min_peers})])  # fmt: skip


def test_percentiles_rank_only_among_the_sites_own_class() -> None:
    c = _only(_evaluate(_percentile_rules(), peers=_peers()))
    # the site: 1 major hazard over 10,000 h in May and in June, 1.0 per 10k. Of its six
    # class peers two are safer (p1, p2) and one ties (p3): (2 + 0.5) / 6 = 41.67 %.
    # Ranked among all ten sites, the four safer finishing and commercial ones would make
    # it (6 + 0.5) / 10 = 65 %, not met.
    assert c.value == pytest.approx(250 / 6)
    assert c.outcome == "met"
    assert [m.value for m in c.by_month] == pytest.approx([250 / 6, 250 / 6])
    assert [m.peers for m in c.by_month] == [6, 6]
    assert c.revisions == {"2026-05": 13, "2026-06": 14}


def test_a_percentile_with_too_few_class_peers_is_not_evaluable() -> None:
    c = _only(_evaluate(_percentile_rules(min_peers=7), peers=_peers()))
    assert (c.outcome, c.reason) == ("not_evaluable", "too_few_peers")
    assert {m.status for m in c.by_month} == {"too_few_peers"}


def test_tiers_need_every_criterion_and_breaches_are_the_unmet_conditions() -> None:
    met = _criterion(
        "dc", "months_mean", ">=", 0.9, column="data_completeness", max_missing_months=1
    )
    unmet = _criterion("iv", "per_10k_worker_hours", "<=", 0.5, column="inspection_violations",
                       max_missing_months=1)  # fmt: skip
    blind = _criterion("fatal", "claims_count", "<=", 0, severities=["fatality"])
    breaches = [
        {"name": "b_kept", "zh": "b", "en": "b", "criterion": met},
        {"name": "b_breached", "zh": "b", "en": "b", "criterion": unmet},
        {"name": "b_blind", "zh": "b", "en": "b", "criterion": blind},
    ]
    ev = _evaluate(_rules([met, unmet, blind], breaches), claims_data=False)
    assert ev.tiers[0].outcome == "not_met"  # one not met outweighs one not evaluable
    assert [b.outcome for b in ev.breaches] == ["kept", "breached", "not_evaluable"]
    assert _evaluate(_rules([met, blind]), claims_data=False).tiers[0].outcome == "not_evaluable"
    assert _evaluate(_rules([met, blind]), claims_data=True).tiers[0].outcome == "met"
    assert ev.months_used == ("2026-01", "2026-02", "2026-03", "2026-05", "2026-06")
    assert ev.missing_months == ("2026-04",)
    assert ev.revisions["2026-06"] == 14


def test_bad_inputs_fail_loudly() -> None:
    rules = _rules([_criterion("dc", "months_mean", ">=", 0.9, column="data_completeness",
                               max_missing_months=1)])  # fmt: skip
    with pytest.raises(ValueError, match="consecutive"):
        evaluate_period(rules, CLASS, ["2026-01", "2026-03"], [], [], [], claims_data=True)
    with pytest.raises(ValueError, match="two site_months rows"):
        _evaluate(rules, rows=[*_rows(), _rows()[0]])
    with pytest.raises(ValueError, match="stage"):
        evaluate_period(
            rules, SiteClass("residential", "roof"), PERIOD, [], [], [], claims_data=True
        )
    with pytest.raises(ValueError, match="before it starts"):
        period_months("2026-02", "2026-01")
    assert period_months("2025-11", "2026-02") == ("2025-11", "2025-12", "2026-01", "2026-02")


def test_without_monthly_detail_the_figures_and_outcomes_are_the_same() -> None:
    rules = load_rule_set("sample-plan-2026.1")
    kw: dict[str, Any] = {"rows": _rows(), "peers": _peers(), "claims": [], "claims_data": True}
    full = evaluate_period(rules, CLASS, PERIOD, **kw)
    quick = evaluate_period(rules, CLASS, PERIOD, **kw, monthly=False)
    assert [t.outcome for t in full.tiers] == [t.outcome for t in quick.tiers]
    assert [b.outcome for b in full.breaches] == [b.outcome for b in quick.breaches]
    pairs = [
        (x, y)
        for t, u in zip(full.tiers, quick.tiers, strict=True)
        for x, y in zip(t.criteria, u.criteria, strict=True)
    ]
    assert all(x.value == y.value for x, y in pairs)
    assert all(x.by_month for x, _ in pairs)
    assert not any(y.by_month for _, y in pairs)


def test_an_unknown_class_ranks_nobody() -> None:
    c = _only(evaluate_period(_percentile_rules(), None, PERIOD, _rows(), _peers(), [],
                              claims_data=True))  # fmt: skip
    assert (c.outcome, c.reason, c.value) == ("not_evaluable", "no_class", None)


def test_the_model_s_class_percentile_is_given_and_unknown_is_never_met() -> None:
    rules = _rules([_criterion("low_risk", "model_class_percentile", "<=", 30)])
    met = _only(_evaluate(rules, model_class_percentile=12.5))
    assert (met.outcome, met.value, met.reason) == ("met", 12.5, None)
    assert _only(_evaluate(rules, model_class_percentile=30.5)).outcome == "not_met"
    for unknown in (None, float("nan")):
        c = _only(_evaluate(rules, model_class_percentile=unknown))
        assert (c.outcome, c.value, c.reason) == ("not_evaluable", None, "no_class_percentile")
    # the all-peers percentile (rule set 2025.1's) is not read in its place
    fallback = _only(_evaluate(rules, model_percentile=5.0))
    assert fallback.outcome == "not_evaluable"
