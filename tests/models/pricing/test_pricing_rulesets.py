"""Loading the versioned YAML rules, and the errors a broken file gives."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from models.contract import spec
from models.pricing import (
    Band,
    IncentiveRuleSet,
    RuleError,
    Tariff,
    available_versions,
    load_band,
    load_incentives,
    load_tariff,
    rulesets,
)

RULES = Path(rulesets.__file__).parent / "rules"


def _write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _shipped(name: str) -> dict[str, object]:
    data = yaml.safe_load((RULES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# --------------------------------------------------------------------- shipped rules


@pytest.mark.parametrize("kind", ["tariff", "band", "incentives"])
def test_every_shipped_file_loads_and_names_its_version(kind: str) -> None:
    versions = available_versions(kind)  # type: ignore[arg-type]
    assert versions
    loaders: dict[str, Callable[..., Tariff | Band | IncentiveRuleSet]] = {
        "tariff": load_tariff, "band": load_band, "incentives": load_incentives,
    }  # fmt: skip
    for version in versions:
        rules = loaders[kind](version)
        assert rules.version == version
        assert rules.label
    assert loaders[kind]().version == versions[-1]


def test_default_tariff_is_labelled_as_a_default_with_falling_marginal_rates() -> None:
    tariff = load_tariff()
    assert "DEFAULT" in tariff.label
    assert tariff.method == "marginal"
    rates = [b.rate_per_mille for b in tariff.bands]
    assert rates[0] == Decimal("0.65")
    assert rates[-1] == Decimal("0.4")
    assert rates == sorted(rates, reverse=True)
    assert tariff.bands[-1].upper_cny is None
    for lower, upper in zip(tariff.bands, tariff.bands[1:], strict=False):
        assert upper.lower_cny == lower.upper_cny


def test_default_band_and_data_quality_rule() -> None:
    band = load_band()
    assert (band.min_pct, band.max_pct) == (-30.0, 30.0)
    assert (band.lower, band.upper) == pytest.approx((-0.3, 0.3))
    assert band.data_quality.min_device_online_rate == pytest.approx(0.8)
    assert band.data_quality.min_data_completeness == pytest.approx(0.85)


def test_incentive_tiers_follow_the_action_plan_rewards() -> None:
    rules = load_incentives()
    names = [t.name for t in rules.tiers]
    assert {"premium_rebate", "civilised_site_priority", "safety_standard_points"} <= set(names)
    for tier in rules.tiers:
        assert tier.zh
        assert tier.en
        assert tier.criteria
        for c in tier.criteria:
            assert c.zh
            assert c.en
            if c.column is not None:
                assert spec.column("site_months", c.column)


def test_rules_load_without_the_web_stack() -> None:
    code = (
        "import sys, models.pricing as p; p.load_tariff(); p.load_band(); p.load_incentives();"
        "bad = [m for m in ('litestar', 'lightgbm', 'mlflow', 'sqlmodel', 'sqlalchemy')"
        " if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])


# ------------------------------------------------------------------ explicit paths


def test_load_from_an_explicit_path_takes_the_files_own_version(tmp_path: Path) -> None:
    data = _shipped("band-default-2025.1.yaml")
    data["version"] = "acme-2026.2"
    data["min_pct"] = -10
    data["data_quality"] = {**data["data_quality"], "min_device_online_rate": 0.9}  # type: ignore[dict-item]
    band = load_band(path=_write(tmp_path, "any-name.yaml", data))
    assert band.version == "acme-2026.2"
    assert band.min_pct == -10.0
    assert band.data_quality.min_device_online_rate == pytest.approx(0.9)


def test_unknown_version_lists_the_shipped_ones() -> None:
    with pytest.raises(RuleError, match=r"unknown tariff version 'nope'; shipped: default-2025\.1"):
        load_tariff("nope")


def test_version_and_path_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="not both"):
        load_band("default-2025.1", path=tmp_path / "x.yaml")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"missing\.yaml: cannot read tariff rules"):
        load_tariff(path=tmp_path / "missing.yaml")


def test_invalid_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: [unclosed\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"broken\.yaml: not valid YAML"):
        load_band(path=path)


def test_file_name_and_version_inside_must_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _shipped("band-default-2025.1.yaml")
    path = _write(tmp_path, "band-default-2025.2.yaml", data)
    monkeypatch.setattr(rulesets, "_shipped", lambda kind: {"default-2025.2": path})
    with pytest.raises(RuleError, match=r"band-default-2025\.2\.yaml: version: .*file name"):
        load_band()


# ------------------------------------------------------------------ broken content


def _tariff_error(tmp_path: Path, change: dict[str, object]) -> str:
    data = {**_shipped("tariff-default-2025.1.yaml"), **change}
    with pytest.raises(RuleError) as info:
        load_tariff(path=_write(tmp_path, "t.yaml", data))
    return str(info.value)


def test_tariff_errors_name_file_and_key(tmp_path: Path) -> None:
    bands = _shipped("tariff-default-2025.1.yaml")["bands"]
    assert isinstance(bands, list)
    swapped = [bands[1], bands[0], *bands[2:]]
    assert "t.yaml: bands[1].up_to_cny: must exceed" in _tariff_error(tmp_path, {"bands": swapped})
    open_early = [{"up_to_cny": None, "rate_per_mille": 0.6}, *bands]
    assert "bands[0].up_to_cny: only the last band" in _tariff_error(
        tmp_path, {"bands": open_early}
    )
    closed = [*bands[:-1], {"up_to_cny": 2e9, "rate_per_mille": 0.4}]
    assert "must be open" in _tariff_error(tmp_path, {"bands": closed})
    negative = [{"up_to_cny": 1e7, "rate_per_mille": -0.1}, *bands[1:]]
    assert "bands[0].rate_per_mille: must be > 0.0" in _tariff_error(tmp_path, {"bands": negative})
    assert "method: only 'marginal'" in _tariff_error(tmp_path, {"method": "flat"})
    assert "version: expected a non-empty string (quote it)" in _tariff_error(
        tmp_path, {"version": 2025.1}
    )
    assert "t.yaml: rates: unknown key" in _tariff_error(tmp_path, {"rates": []})
    assert "bands: expected a non-empty list" in _tariff_error(tmp_path, {"bands": []})


def test_missing_key_is_named(tmp_path: Path) -> None:
    data = _shipped("band-default-2025.1.yaml")
    del data["label"]
    with pytest.raises(RuleError, match=r"b\.yaml: label: missing"):
        load_band(path=_write(tmp_path, "b.yaml", data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_pct": 5}, "min_pct: must be <= 0.0"),
        ({"min_pct": -100}, "min_pct: must be > -100.0"),
        ({"max_pct": -1}, "max_pct: must be >= 0.0"),
        ({"max_pct": "30%"}, "max_pct: expected a number"),
        ({"data_quality": {"window_months": 6, "min_device_online_rate": 80,
                           "min_data_completeness": 0.85}},
         "data_quality.min_device_online_rate: must be <= 1.0"),
        ({"data_quality": {"window_months": 3, "min_months": 4, "min_device_online_rate": 0.8,
                           "min_data_completeness": 0.85}},
         "data_quality.min_months: must be <= window_months"),
        ({"data_quality": {"window_months": 6, "min_device_online": 0.8,
                           "min_data_completeness": 0.85}},
         "data_quality.min_device_online: unknown key"),
    ],
)  # fmt: skip
def test_band_errors(tmp_path: Path, change: dict[str, object], message: str) -> None:
    data = {**_shipped("band-default-2025.1.yaml"), **change}
    with pytest.raises(RuleError, match=r"b\.yaml: ") as info:
        load_band(path=_write(tmp_path, "b.yaml", data))
    assert message in str(info.value)


def _incentive_error(tmp_path: Path, criterion: dict[str, object]) -> str:
    data = {
        "version": "t-1", "label": "t", "description": "t",
        "tiers": [{"name": "tier", "zh": "档", "en": "Tier", "criteria": [criterion]}],
    }  # fmt: skip
    with pytest.raises(RuleError) as info:
        load_incentives(path=_write(tmp_path, "i.yaml", data))
    return str(info.value)


GOOD = {
    "name": "rect", "zh": "整改率", "en": "Rectification", "metric": "months_mean",
    "column": "hazard_rectification_rate", "operator": ">=", "threshold": 0.9,
    "window_months": 6,
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metric": "months_median"}, "metric: unknown metric 'months_median'"),
        ({"operator": ">"}, "operator: must be one of >=, <="),
        ({"column": "rectification"}, "column: 'rectification' is not a site_months column"),
        ({"threshold": 95}, "threshold: must be <= 1.0, got 95"),
        ({"column": "stage"}, "column: metric months_mean needs a column of kind float or int"),
        ({"metric": "per_10k_worker_hours"}, "per_10k_worker_hours needs a column of kind int"),
        ({"window_months": 0}, "window_months: must be >= 1"),
        ({"min_months": 7}, "min_months: must be <= window_months"),
        ({"treshold": 1}, "treshold: unknown key"),
        (
            {"metric": "risk_percentile", "column": None},
            "column: not used by metric risk_percentile",
        ),
        ({"metric": "claims_count", "column": None}, "column: not used by metric claims_count"),
    ],
)
def test_criterion_errors(tmp_path: Path, change: dict[str, object], message: str) -> None:
    criterion = {**GOOD, **change}
    text = _incentive_error(tmp_path, criterion)
    assert text.startswith(f"{tmp_path / 'i.yaml'}: tiers[0].criteria[0].")
    assert message in text


def test_claims_and_percentile_criteria(tmp_path: Path) -> None:
    claims = {"name": "c", "zh": "c", "en": "c", "metric": "claims_count", "operator": "<=",
              "threshold": 0, "window_months": 12}  # fmt: skip
    assert "severities: missing" in _incentive_error(tmp_path, claims)
    assert "severities: unknown 'death'" in _incentive_error(
        tmp_path, {**claims, "severities": ["death"]}
    )
    pct = {"name": "p", "zh": "p", "en": "p", "metric": "risk_percentile", "operator": "<=",
           "threshold": 130}  # fmt: skip
    assert "threshold: must be <= 100.0" in _incentive_error(tmp_path, pct)
    data = {
        "version": "t-1", "label": "t", "description": "t",
        "tiers": [{"name": "tier", "zh": "档", "en": "Tier",
                   "criteria": [{**claims, "severities": ["fatality"]}, {**pct, "threshold": 30}]}],
    }  # fmt: skip
    rules = load_incentives(path=_write(tmp_path, "ok.yaml", data))
    first, second = rules.tiers[0].criteria
    assert first.severities == ("fatality",)
    assert second.window_months is None


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    tier = {"name": "tier", "zh": "档", "en": "Tier", "criteria": [GOOD]}
    data = {"version": "t-1", "label": "t", "description": "t", "tiers": [tier, tier]}
    with pytest.raises(RuleError, match=r"tiers\[1\]\.name: duplicate name 'tier'"):
        load_incentives(path=_write(tmp_path, "i.yaml", data))
    twice = {**tier, "criteria": [GOOD, GOOD]}
    data = {"version": "t-1", "label": "t", "description": "t", "tiers": [twice]}
    with pytest.raises(RuleError, match=r"tiers\[0\]\.criteria\[1\]\.name: duplicate"):
        load_incentives(path=_write(tmp_path, "i.yaml", data))


def test_incentive_rules_2_load_as_a_quote_s_tiers_or_name_each_problem(tmp_path: Path) -> None:
    rules = load_incentives("2026.1")
    assert rules.rules is not None
    assert rules.rules.version == rules.version == "2026.1"
    assert [t.name for t in rules.tiers] == [t.name for t in load_incentives("2025.1").tiers]
    assert "SAMPLE" in rules.label
    assert rules.label.startswith("DEFAULT")
    # the 2025.1 view: min_months = window - max_missing_months, for what lists thresholds
    every = {c.name: c for t in rules.tiers for c in t.criteria}
    assert every["data_completeness_every_month"].min_months == 6
    assert every["device_online"].min_months == 3
    data = _shipped("incentives-2026.1.yaml")
    data["tiers"][0]["criteria"][2]["threshold"] = 90  # type: ignore[index]
    data["tiers"][1]["criteria"][0]["window_months"] = 0  # type: ignore[index]
    with pytest.raises(RuleError) as caught:
        load_incentives(path=_write(tmp_path, "bad.yaml", data))
    message = str(caught.value)
    assert "$.tiers[0].criteria[2].threshold: must be <= 1" in message
    assert "$.tiers[1].criteria[0].window_months" in message
