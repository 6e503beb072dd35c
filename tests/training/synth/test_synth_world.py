"""The synthetic world: deterministic, contract-shaped, and calibrated to the
targets documented in docs/synthetic-world.md."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.contract import spec
from models.contract.load import validate_frames
from training.synth import World, generate_world
from training.synth import params as P  # noqa: N812 - constants namespace
from training.synth.world import (
    ATTENDANCE_COLUMNS,
    HAZARD_COLUMNS,
    SENSOR_COLUMNS,
    TRUTH_COLUMNS,
    mean_claim_cost,
)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(1000, seed=5)


@pytest.fixture(scope="module")
def big() -> World:
    # Enough claims for share tests on the rarer severities.
    return generate_world(4000, seed=21)


@pytest.fixture(scope="module")
def rows(world: World) -> pd.DataFrame:
    frame = world.site_months.merge(world.truth, on=["site_id", "month"], validate="1:1")
    return frame.merge(world.sites, on="site_id", validate="m:1")


def _incurred(claims: pd.DataFrame) -> pd.Series:
    return claims["paid_cny"] + claims["reserve_cny"]


def _claim_second_moment() -> dict[str, float]:
    """E[X²] of one claim's incurred by severity, for the aggregate's variance."""
    minor = P.MINOR_MEDIAN_CNY**2 * np.exp(2 * P.MINOR_LOG_SD**2)
    serious = P.SERIOUS_MEDIAN_CNY**2 * np.exp(2 * P.SERIOUS_LOG_SD**2)
    excess_mean = P.DEATH_EXCESS_MEDIAN_CNY * np.exp(P.DEATH_EXCESS_LOG_SD**2 / 2)
    excess_m2 = P.DEATH_EXCESS_MEDIAN_CNY**2 * np.exp(2 * P.DEATH_EXCESS_LOG_SD**2)
    per_death_mean = P.DEATH_BENEFIT_FLOOR_CNY + excess_mean
    per_death_var = excess_m2 - excess_mean**2
    m = P.EXTRA_DEATHS_MEAN
    deaths_m1, deaths_m2 = 1 + m, m + (1 + m) ** 2
    fatal = deaths_m1 * per_death_var + deaths_m2 * per_death_mean**2
    return {"minor_injury": minor, "serious_injury": serious, "fatality": fatal}


# --------------------------------------------------------------- determinism


def test_same_seed_gives_identical_frames() -> None:
    a, b = generate_world(300, seed=9), generate_world(300, seed=9)
    for name in ("sites", "site_months", "claims", "truth", "expected_mix"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_different_seed_gives_a_different_world() -> None:
    a, b = generate_world(300, seed=9), generate_world(300, seed=10)
    assert not a.sites.equals(b.sites)
    assert not a.claims.equals(b.claims)
    assert not np.allclose(
        a.site_months["worker_hours"].head(100), b.site_months["worker_hours"].head(100)
    )


def test_rejects_an_empty_world() -> None:
    with pytest.raises(ValueError, match="n_sites"):
        generate_world(0, seed=1)


# ------------------------------------------------------------------ contract


def test_world_passes_the_contract_checks(world: World) -> None:
    data = validate_frames(world.sites, world.site_months, world.claims)
    assert len(data.site_months) == len(world.site_months)
    assert len(data.claims) == len(world.claims)
    assert data.warnings == []


def test_tables_have_the_contract_columns_in_order(world: World) -> None:
    for table in spec.TABLES:
        assert list(getattr(world, table).columns) == [c.name for c in spec.columns(table)]
    assert tuple(world.truth.columns) == TRUTH_COLUMNS
    assert world.truth[["site_id", "month"]].equals(world.site_months[["site_id", "month"]])


def test_reporting_groups_are_exactly_the_nullable_columns() -> None:
    nullable = {c.name for c in spec.SITE_MONTHS if c.nullable}
    groups = [*SENSOR_COLUMNS, *ATTENDANCE_COLUMNS, *HAZARD_COLUMNS]
    assert len(groups) == len(set(groups))
    assert set(groups) == nullable


# --------------------------------------------------------------------- sites


def test_sites_look_like_a_shanghai_portfolio(big: World) -> None:
    sites = big.sites
    assert set(sites["project_type"]) == set(spec.PROJECT_TYPES)
    assert set(sites["district"]) == set(spec.DISTRICTS)
    shares = sites["project_type"].value_counts(normalize=True)
    for ptype, target in P.PROJECT_TYPE_SHARES.items():
        assert shares[ptype] == pytest.approx(target, abs=0.03)
    value = sites["contract_value_cny"]
    assert value.between(P.CONTRACT_VALUE_MIN, P.CONTRACT_VALUE_MAX).all()
    # Heavy tail: the top 10 % of projects hold far more than 10 % of the value.
    top = value.sort_values(ascending=False).head(len(value) // 10).sum()
    assert top / value.sum() > 0.35
    civil = sites["project_type"].isin(["municipal", "rail_transit"])
    assert (sites.loc[civil, "floor_area_m2"] == 0).all()
    assert (sites.loc[~civil, "floor_area_m2"] > 0).all()
    planned = (sites["planned_end_date"] - sites["start_date"]).dt.days / 30.44
    assert planned.between(P.DURATION_MIN - 1, P.DURATION_MAX + 1).all()
    # Contractors run several sites each, a few run many.
    per_contractor = sites["contractor_id"].value_counts()
    assert per_contractor.max() >= 10 * per_contractor.median()


def test_sites_start_and_finish_inside_the_window(world: World) -> None:
    span = world.site_months.groupby("site_id")["month"].agg(["min", "max", "size"])
    first, last = world.site_months["month"].min(), world.site_months["month"].max()
    assert (span["min"] > first).mean() > 0.3
    assert (span["max"] < last).mean() > 0.3
    assert ((span["min"] > first) & (span["max"] < last)).any()
    start_month = world.sites.set_index("site_id")["start_date"].dt.strftime("%Y-%m")
    assert (span["min"] >= start_month.loc[span.index]).all()
    # Active months are consecutive.
    months = pd.PeriodIndex(span["max"], freq="M") - pd.PeriodIndex(span["min"], freq="M")
    assert (np.array([m.n for m in months]) + 1 == span["size"].to_numpy()).all()


def test_exposure_is_mostly_positive_and_scales_with_size(rows: pd.DataFrame) -> None:
    assert (rows["worker_hours"] > 0).mean() > 0.97
    per_site = rows.groupby("site_id").agg(
        hours=("worker_hours", "mean"), value=("contract_value_cny", "first")
    )
    assert per_site["hours"].corr(per_site["value"], method="spearman") > 0.6


# --------------------------------------------------------------- observables


def test_nulls_mean_not_reported_and_are_never_zero_filled(world: World) -> None:
    sm = world.site_months
    for name in (*SENSOR_COLUMNS, *ATTENDANCE_COLUMNS, *HAZARD_COLUMNS):
        assert sm[name].isna().any(), name
        assert sm[name].notna().mean() > 0.6, name
    # The sensor feed drops out as a whole: when the online rate is missing the
    # alert counts are mostly missing too (a lone column can drop on its own).
    feed_down = sm[list(SENSOR_COLUMNS)].isna().all(axis=1)
    assert 0.10 < feed_down.mean() < 0.30
    online_missing = sm["device_online_rate"].isna()
    assert sm.loc[online_missing, "ai_alerts_ppe"].isna().mean() > 0.85
    # Zero is a real count, reported by sites whose feed is up.
    assert (sm["ai_alerts_fire"] == 0).any()
    assert sm.loc[feed_down, "ai_alerts_fire"].isna().all()
    # Some sites never report sensor data at all.
    never = sm.groupby("site_id")["device_online_rate"].apply(lambda s: s.isna().all())
    assert never.any()


def test_missing_data_is_not_evidence_of_safety(rows: pd.DataFrame) -> None:
    active = rows[rows["worker_hours"] > 0]
    rate = active["expected_loss_cny"] / active["worker_hours"]
    missing = active["device_online_rate"].isna()
    assert rate[missing].mean() > 1.1 * rate[~missing].mean()
    # Completeness tracks what was reported.
    assert active.loc[missing, "data_completeness"].mean() < (
        active.loc[~missing, "data_completeness"].mean() - 0.2
    )


def test_alerts_shrink_with_device_online_rate(world: World) -> None:
    sm = world.site_months
    ok = sm["device_online_rate"].notna() & (sm["worker_hours"] > 0)
    ok &= sm["ai_alerts_ppe"].notna()
    d = sm[ok]
    y = ((d["ai_alerts_ppe"].astype(float) + 0.5) / d["worker_hours"]).map(np.log)
    x = d["device_online_rate"].clip(lower=0.05).map(np.log)
    # Within a site the hidden state moves slowly, so month-to-month variation in
    # the online rate (outages) shows through the alert counts one to one.
    xd = x - x.groupby(d["site_id"]).transform("mean")
    yd = y - y.groupby(d["site_id"]).transform("mean")
    slope = float((xd * yd).sum() / (xd * xd).sum())
    assert 0.6 < slope < 1.4


def _exposure(rows: pd.DataFrame) -> dict[str, pd.Series]:
    per_online_hour = rows["worker_hours"] * rows["device_online_rate"]
    return {
        "ai_alerts_ppe": per_online_hour,
        "ai_alerts_intrusion": per_online_hour,
        "ai_alerts_fire": per_online_hour,
        "hazards_found": np.sqrt(rows["avg_daily_workers"]),
        "major_hazards": rows["hazards_found"].astype(float).where(rows["hazards_found"] > 0),
        "crane_warnings": rows["tower_cranes"].where(rows["tower_cranes"] > 0)
        * rows["device_online_rate"],
        "structural_alarms": (
            rows["hazardous_works"] + 2 * rows["over_scale_hazardous_works"]
        ).where(rows["hazardous_works"] > 0)
        * rows["device_online_rate"],
        "inspection_violations": 1 + np.log1p(rows["avg_daily_workers"] / 100),
    }


@pytest.mark.parametrize("stage", ["structure", "civil"])
def test_controllable_metrics_signal_risk_in_the_expected_direction(
    rows: pd.DataFrame, stage: str
) -> None:
    d = rows[(rows["stage"] == stage) & (rows["worker_hours"] > 0)]
    rate = d["expected_loss_cny"] / d["worker_hours"]
    scale = _exposure(d)
    for name, direction in spec.controllable().items():
        metric = d[name].astype(float) / scale.get(name, 1.0)
        rho = metric.corr(rate, method="spearman")
        # Informative but noisy: clearly signed, never a perfect proxy.
        floor = 0.1 if name == "ai_alerts_fire" else 0.2
        assert direction * rho > floor, (name, rho)
        assert abs(rho) < 0.95, (name, rho)


def test_mean_device_online_rate_near_target(big: World) -> None:
    assert big.site_months["device_online_rate"].mean() == pytest.approx(0.89, abs=0.03)


def test_weather_follows_shanghai_seasons(big: World) -> None:
    sm = big.site_months
    by_month = sm.groupby(sm["month"].str[5:7].astype(int))["severe_weather_days"].mean()
    assert by_month.loc[[7, 8]].mean() > 5 * by_month.loc[[1, 2, 11, 12]].mean()
    # Plum rains (June) and late typhoons (September) extend the season.
    assert by_month.loc[[6, 9]].mean() > 2 * by_month.loc[[3, 4, 5, 10]].mean()
    assert (sm["severe_weather_days"] <= 31).all()


# -------------------------------------------------------------------- claims


def test_claims_sit_in_active_months_with_consistent_amounts(world: World) -> None:
    claims = world.claims
    assert claims["claim_id"].is_unique
    keys = pd.DataFrame(
        {"site_id": claims["site_id"], "month": claims["incident_date"].dt.strftime("%Y-%m")}
    )
    active = keys.merge(world.site_months[["site_id", "month"]], how="left", indicator=True)
    assert (active["_merge"] == "both").all()
    start = claims["site_id"].map(world.sites.set_index("site_id")["start_date"])
    assert (claims["incident_date"] >= start).all()
    assert (claims[["paid_cny", "reserve_cny"]] >= 0).all().all()
    assert (_incurred(claims) > 0).all()


def test_recent_claims_are_reserved_and_old_ones_paid(big: World) -> None:
    claims = big.claims
    end = pd.Timestamp(big.site_months["month"].max()) + pd.offsets.MonthEnd(0)
    age_days = (end - claims["incident_date"]).dt.days
    open_ = claims["reserve_cny"] > 0
    assert open_[age_days < 183].mean() > 0.5
    assert open_[age_days > 365].mean() < 0.1


def test_frequency_and_severity_mix_match_targets(big: World) -> None:
    hours = big.site_months["worker_hours"].sum()
    per_million = len(big.claims) / hours * 1e6
    target = sum(P.FREQUENCY_PER_MILLION_HOURS.values())
    # Portfolio multipliers (stage, workforce, weather) lift the reference rate a bit.
    assert target * 0.9 < per_million < target * 1.5
    shares = big.claims["severity"].value_counts(normalize=True)
    assert shares["minor_injury"] > 0.9
    assert 0.01 < shares["serious_injury"] < 0.08
    assert 0.0005 < shares["fatality"] < 0.01


def test_severity_sizes_are_heavy_tailed_and_ordered(big: World) -> None:
    incurred = _incurred(big.claims).groupby(big.claims["severity"])
    median = incurred.median()
    assert 1_000 < median["minor_injury"] < 50_000
    assert 100_000 < median["serious_injury"] < 1_000_000
    assert median["fatality"] > 2 * median["serious_injury"]
    minor = _incurred(big.claims)[big.claims["severity"] == "minor_injury"]
    assert minor.mean() > minor.median()  # right-skewed
    assert minor.quantile(0.99) > 5 * minor.median()


def test_fatal_claims_pay_at_least_the_death_benefit_floor(big: World) -> None:
    fatal = _incurred(big.claims)[big.claims["severity"] == "fatality"]
    assert len(fatal) >= 20
    assert (fatal >= P.DEATH_BENEFIT_FLOOR_CNY).all()
    # Deaths per fatal accident (~1.17) show as a multiple of the mean per-death
    # benefit; a fatal claim's mean must sit close to it.
    mean_cost = mean_claim_cost()["fatality"]
    se = fatal.std() / np.sqrt(len(fatal))
    assert abs(fatal.mean() - mean_cost) < 4 * se
    assert mean_cost == pytest.approx(904 / 773 * (mean_cost / (1 + P.EXTRA_DEATHS_MEAN)))


def test_expected_fatal_cause_mix_matches_mohurd_2019(big: World) -> None:
    fatal = big.expected_mix["fatality"]
    shares = fatal / fatal.sum()
    for cause, target in P.FATAL_CAUSE_TARGETS.items():
        assert shares[cause] == pytest.approx(target, abs=0.015), cause


def test_sampled_claims_follow_the_expected_mix(big: World) -> None:
    counts = big.claims.groupby(["cause", "severity"]).size()
    mix = big.expected_mix.loc[list(spec.CAUSES), list(spec.SEVERITIES)].to_numpy()
    for j, severity in enumerate(spec.SEVERITIES):
        for i, cause in enumerate(spec.CAUSES):
            expected = float(mix[i, j])
            got = int(counts.get((cause, severity), 0))
            assert abs(got - expected) < 4.5 * np.sqrt(expected) + 2, (cause, severity)
    fatal = big.claims[big.claims["severity"] == "fatality"]["cause"]
    falls = (fatal == "fall_from_height").mean()
    n = len(fatal)
    target = P.FATAL_CAUSE_TARGETS["fall_from_height"]
    assert abs(falls - target) < 4 * np.sqrt(target * (1 - target) / n)


def test_cause_mix_moves_with_cranes_and_excavation(big: World) -> None:
    claims = big.claims.merge(big.sites, on="site_id")
    lifting = claims["cause"] == "lifting"
    many = claims["tower_cranes"] >= 6
    none = claims["tower_cranes"] == 0
    assert lifting[many].mean() > 1.5 * lifting[none].mean()
    collapse = claims["cause"] == "collapse"
    deep = claims["over_scale_hazardous_works"] >= 4
    shallow = claims["hazardous_works"] <= 3
    assert collapse[deep].mean() > 1.3 * collapse[shallow].mean()


def test_riskier_stages_and_seasons_cost_more(big: World) -> None:
    d = big.site_months.merge(big.truth, on=["site_id", "month"])
    d = d[d["worker_hours"] > 0]
    rate = d["expected_loss_cny"] / d["worker_hours"]
    by_stage = rate.groupby(d["stage"]).mean()
    assert by_stage["foundation"] > 1.2 * by_stage["finishing"]
    assert by_stage["structure"] > 1.2 * by_stage["finishing"]
    by_month = rate.groupby(d["month"].str[5:7].astype(int)).mean()
    assert by_month.loc[[7, 8]].mean() > by_month.loc[[3, 4, 10, 11]].mean()


# --------------------------------------------------------------------- truth


def test_truth_matches_actual_totals_within_noise(big: World) -> None:
    truth, claims = big.truth, big.claims
    n_expected = truth["expected_claims"].sum()
    assert abs(len(claims) - n_expected) < 4 * np.sqrt(n_expected)
    by_sev = big.expected_mix.sum(axis=0)
    m2 = _claim_second_moment()
    variance = sum(by_sev[s] * m2[s] for s in spec.SEVERITIES)
    loss = truth["expected_loss_cny"].sum()
    assert abs(_incurred(claims).sum() - loss) < 4 * np.sqrt(variance)
    cost = mean_claim_cost()
    assert loss == pytest.approx(sum(by_sev[s] * cost[s] for s in spec.SEVERITIES), rel=1e-6)


def test_truth_per_site_tracks_actual_claim_counts(big: World) -> None:
    expected = big.truth.groupby("site_id")["expected_claims"].sum()
    actual = big.claims.groupby("site_id").size().reindex(expected.index, fill_value=0)
    assert expected.corr(actual) > 0.8


def test_previous_state_oracle_is_close_but_not_equal(world: World) -> None:
    truth = world.truth
    active = world.site_months["worker_hours"] > 0
    cur = truth.loc[active, "expected_loss_cny"] / world.site_months.loc[active, "worker_hours"]
    prev = (
        truth.loc[active, "expected_loss_prev_state_cny"]
        / world.site_months.loc[active, "worker_hours"]
    )
    rho = cur.map(np.log).corr(prev.map(np.log))
    assert 0.9 < rho < 0.995
    total_ratio = truth["expected_loss_prev_state_cny"].sum() / truth["expected_loss_cny"].sum()
    assert total_ratio == pytest.approx(1.0, abs=0.05)
