"""Incentive rule sets: the shipped samples load and say they are samples, and a document
with several deliberate errors gets every one of them named at its JSON path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.incentives import (
    RuleSetError,
    available_rule_sets,
    load_rule_set,
    parse_rule_set,
    validate_rule_set,
)
from models.pricing.rulesets import RuleError


def _sample() -> dict[str, Any]:
    return copy.deepcopy(dict(load_rule_set("sample-plan-2026.1").document))


def _paths(doc: object) -> dict[str, str]:
    return {p.path: p.message for p in validate_rule_set(doc)}


def test_the_shipped_samples_load_and_are_labelled_samples() -> None:
    assert set(available_rule_sets()) >= {"sample-plan-2026.1", "sample-money-2026.1"}
    for version in available_rule_sets():
        rules = load_rule_set(version)
        assert rules.version == version
        assert rules.sample
        assert "SAMPLE" in rules.label
        assert validate_rule_set(dict(rules.document)) == []


def test_the_plan_sample_mirrors_the_plans_reward_means_and_has_penalties() -> None:
    rules = load_rule_set("sample-plan-2026.1")
    assert [t.means for t in rules.tiers] == [
        "contract_money",
        "civilised_site_priority",
        "safety_standard_points",
        "merit_competition_points",
    ]
    assert [t.points for t in rules.tiers] == [None, None, 5.0, 3.0]
    assert {b.name for b in rules.breaches} >= {"fatal_claim", "hazards_left_open"}
    # hazards are read only as those left unrectified (contract v1.1)
    columns = {c.column for c in rules.criteria()} | {
        c.ranking.column for c in rules.criteria() if c.ranking is not None
    }
    assert not columns & {"hazards_found", "hazard_rectification_rate"}


def test_the_latest_sample_is_the_default() -> None:
    assert load_rule_set().version == available_rule_sets()[-1]


def test_several_deliberate_errors_are_all_named_at_their_paths() -> None:
    doc = _sample()
    doc["shape"] = 1  # unknown key
    tier0 = doc["tiers"][0]["criteria"]
    tier0[1]["threshold"] = "0.05"  # a string for a number
    tier0[3]["threshold"] = 90  # 90 written for 0.90 on a 0-1 rate
    tier0[4]["column"] = "hazards_found"  # finding hazards would be penalised
    tier0[5].pop("max_missing_months")  # how many months may be missing: unsaid
    doc["tiers"][1]["criteria"][2]["metric"] = "per_month"  # unknown metric
    doc["tiers"][1]["points"] = 2  # the civilised-site review gives priority, not points
    doc["tiers"][3]["name"] = doc["tiers"][2]["name"]  # duplicate tier
    doc["breaches"][0]["criterion"]["column"] = "major_hazards"  # claims read no column
    doc["breaches"][2]["criterion"]["window_months"] = 2  # 2 missing of a 2-month window
    doc["breaches"][3]["criterion"].pop("ranking")  # a percentile of what?

    found = _paths(doc)

    assert set(found) == {
        "$.shape",
        "$.tiers[0].criteria[1].threshold",
        "$.tiers[0].criteria[3].threshold",
        "$.tiers[0].criteria[4].column",
        "$.tiers[0].criteria[5].max_missing_months",
        "$.tiers[1].criteria[2].metric",
        "$.tiers[1].points",
        "$.tiers[3].name",
        "$.breaches[0].criterion.column",
        "$.breaches[2].criterion.max_missing_months",
        "$.breaches[3].criterion.ranking",
    }
    assert found["$.shape"] == "unknown key"
    assert "<= 1" in found["$.tiers[0].criteria[3].threshold"]
    assert "never penalised" in found["$.tiers[0].criteria[4].column"]
    assert "duplicate tier name" in found["$.tiers[3].name"]
    with pytest.raises(RuleSetError) as raised:
        parse_rule_set(doc, source="bad.yaml")
    assert len(raised.value.problems) == len(found)
    assert str(raised.value).startswith("bad.yaml: 11 problem(s)")


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda d: d.update(sample=True, label="Agreed figures"), "$.label", "SAMPLE"),
        (lambda d: d.update(schema="incentive-rules/1"), "$.schema", "incentive-rules/2"),
        (lambda d: d.update(tiers=[], breaches=[]), "$.tiers", "at least one"),
        (
            lambda d: d["breaches"][1].update(name=d["tiers"][0]["name"]),
            "$.breaches[1].name",
            "also a tier",
        ),
        (
            lambda d: d["tiers"][0]["criteria"][0].pop("severities"),
            "$.tiers[0].criteria[0].severities",
            "missing",
        ),
        (
            lambda d: d["tiers"][0]["criteria"][0].update(severities=["broken_leg"]),
            "$.tiers[0].criteria[0].severities[0]",
            "minor_injury",
        ),
        (
            lambda d: d["tiers"][0]["criteria"][2]["ranking"].update(column="worker_hours"),
            "$.tiers[0].criteria[2].ranking.column",
            "kind int",
        ),
        (
            lambda d: d["tiers"][0]["criteria"][2].update(threshold=101),
            "$.tiers[0].criteria[2].threshold",
            "<= 100",
        ),
        (
            lambda d: d["tiers"][0]["criteria"][3].update(column="alert_rate"),
            "$.tiers[0].criteria[3].column",
            "not a site_months column",
        ),
        (
            lambda d: d["tiers"][0]["criteria"][3].update(column="hazard_rectification_rate"),
            "$.tiers[0].criteria[3].column",
            "unrectified_hazards_per_10k_worker_hours",
        ),
        (
            lambda d: d["tiers"][0]["criteria"].append(dict(d["tiers"][0]["criteria"][0])),
            "$.tiers[0].criteria[6].name",
            "duplicate criterion",
        ),
        (
            lambda d: d["tiers"][0]["criteria"][3].update(name="Alert Closure"),
            "$.tiers[0].criteria[3].name",
            "pattern",
        ),
    ],
)
def test_each_rule_is_named_at_its_path(change: Any, path: str, words: str) -> None:
    doc = _sample()
    change(doc)
    found = _paths(doc)
    assert path in found, found
    assert words in found[path]


def test_a_file_is_read_and_a_bad_one_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "mine.yaml"
    good.write_text(yaml.safe_dump(_sample(), allow_unicode=True), encoding="utf-8")
    assert load_rule_set(path=good).version == "sample-plan-2026.1"
    doc = _sample()
    doc["tiers"][0]["criteria"][5]["threshold"] = 95
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(
        RuleSetError, match=r"(?s)bad\.yaml.*\$\.tiers\[0\]\.criteria\[5\]\.threshold"
    ):
        load_rule_set(path=bad)
    with pytest.raises(RuleError, match="cannot read"):
        load_rule_set(path=tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("tiers: [", encoding="utf-8")
    with pytest.raises(RuleSetError, match="not valid YAML"):
        load_rule_set(path=tmp_path / "broken.yaml")


def test_an_unknown_version_lists_the_shipped_ones() -> None:
    with pytest.raises(RuleError, match=r"sample-plan-2026\.1"):
        load_rule_set("acme-2027.1")
    with pytest.raises(RuleError, match="not both"):
        load_rule_set("sample-plan-2026.1", path="x.yaml")


def test_the_model_s_class_percentile_takes_a_threshold_and_nothing_else() -> None:
    doc = _sample()
    doc["tiers"][0]["criteria"] = [
        {"name": "low_risk", "zh": "低", "en": "Low", "metric": "model_class_percentile",
         "operator": "<=", "threshold": 30},
    ]  # fmt: skip
    assert validate_rule_set(doc) == []
    doc["tiers"][0]["criteria"][0].update(
        threshold=130, window_months=6, max_missing_months=1, column="training_coverage"
    )
    found = _paths(doc)
    at = "$.tiers[0].criteria[0]"
    assert found[f"{at}.threshold"] == "must be <= 100, got 130"
    for key in ("window_months", "max_missing_months", "column"):
        assert found[f"{at}.{key}"] == "not used by metric model_class_percentile"
