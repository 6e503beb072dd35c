"""A synthetic Shanghai smart-site world: sites, site-months, claims and the truth.

Generation is pure (no I/O) and vectorised: site attributes are drawn per site,
then every active site-month is one row of flat numpy arrays. A hidden safety
culture (contractor + site + AR(1) drift, in log space) drives both the
observable metrics and the claims; the ``truth`` table holds the exact expected
claims and loss of each site-month under this model, and the expectation one
could know from the previous month's hidden state. See docs/synthetic-world.md.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.contract import spec
from training.synth import params as P  # noqa: N812 - read as a namespace of constants

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
DateArray = npt.NDArray[np.datetime64]

# How the generator groups the nullable columns into what a platform reports
# together: the sensor/IoT feed, real-name attendance and the hazard-inspection
# system. Their union is exactly the contract's nullable site-month columns.
SENSOR_COLUMNS: tuple[str, ...] = (
    "ai_alerts_ppe",
    "ai_alerts_intrusion",
    "ai_alerts_fire",
    "alert_closure_rate",
    "crane_warnings",
    "structural_alarms",
    "device_online_rate",
)
ATTENDANCE_COLUMNS: tuple[str, ...] = ("new_worker_share", "training_coverage")
HAZARD_COLUMNS: tuple[str, ...] = ("hazards_found", "major_hazards", "hazard_rectification_rate")

TRUTH_COLUMNS: tuple[str, ...] = (
    "site_id",
    "month",
    "expected_loss_cny",
    "expected_claims",
    "expected_loss_prev_state_cny",
)

_BUILDING_TYPES = ("residential", "commercial", "public", "industrial")


@dataclass(frozen=True, slots=True)
class World:
    """The three contract tables, the truth per site-month, and the expected
    claim counts by cause (rows) and severity (columns) over the whole world."""

    sites: pd.DataFrame
    site_months: pd.DataFrame
    claims: pd.DataFrame
    truth: pd.DataFrame
    expected_mix: pd.DataFrame


@dataclass(frozen=True, slots=True)
class _Calendar:
    labels: list[str]
    month_of_year: IntArray  # 1..12
    days: IntArray
    first_abs: int  # months since 1970-01 of the first month


@dataclass(frozen=True, slots=True)
class _Sites:
    n: int
    contractor: IntArray  # contractor label shown in the data
    contractor_effect: FloatArray  # per site: its contractor's culture
    site_effect: FloatArray
    ptype: IntArray
    district: IntArray
    value: FloatArray
    floor_area: FloatArray
    height: FloatArray
    planned: IntArray
    actual: IntArray
    start: IntArray  # start month index relative to the window (may be < 0)
    start_day: IntArray
    hazardous: IntArray
    over_scale: IntArray
    cranes: IntArray
    foundation_end: FloatArray
    structure_end: FloatArray
    workforce: FloatArray
    camera: FloatArray
    device: FloatArray
    sensor_site: FloatArray
    attendance_site: FloatArray
    hazard_site: FloatArray
    sensor_never: BoolArray


def _expit(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _lookup(table: dict[str, float], keys: tuple[str, ...], codes: IntArray) -> FloatArray:
    """Per-row value of ``table`` for rows whose category index is ``codes``."""
    values = np.array([table.get(k, 0.0) for k in keys], dtype=np.float64)
    out: FloatArray = values[codes]
    return out


def _calendar(start: str, months: int) -> _Calendar:
    year, month = (int(part) for part in start.split("-"))
    first_abs = (year - 1970) * 12 + month - 1
    abs_months = first_abs + np.arange(months)
    years = 1970 + abs_months // 12
    moy = abs_months % 12 + 1
    days = np.array(
        [calendar.monthrange(int(y), int(m))[1] for y, m in zip(years, moy, strict=True)],
        dtype=np.int64,
    )
    labels = [f"{int(y):04d}-{int(m):02d}" for y, m in zip(years, moy, strict=True)]
    return _Calendar(labels, moy.astype(np.int64), days, first_abs)


def hidden_sd() -> float:
    """Marginal standard deviation of the hidden log-risk (ignoring the small
    contractor-size shift)."""
    return float(np.sqrt(P.CONTRACTOR_SD**2 + P.SITE_SD**2 + P.DRIFT_SD**2))


def mean_claim_cost() -> dict[str, float]:
    """Exact mean incurred of one claim by severity under the severity model."""
    minor = P.MINOR_MEDIAN_CNY * np.exp(P.MINOR_LOG_SD**2 / 2)
    serious = P.SERIOUS_MEDIAN_CNY * np.exp(P.SERIOUS_LOG_SD**2 / 2)
    per_death = P.DEATH_BENEFIT_FLOOR_CNY + P.DEATH_EXCESS_MEDIAN_CNY * np.exp(
        P.DEATH_EXCESS_LOG_SD**2 / 2
    )
    fatal = (1.0 + P.EXTRA_DEATHS_MEAN) * per_death
    return {
        "minor_injury": float(minor),
        "serious_injury": float(serious),
        "fatality": float(fatal),
    }


# ----------------------------------------------------------------------- sites


def _draw_sites(rng: np.random.Generator, n: int, months: int) -> _Sites:
    n_contractors = max(1, round(n / P.SITES_PER_CONTRACTOR))
    weight = np.arange(1, n_contractors + 1, dtype=np.float64) ** -P.CONTRACTOR_ZIPF
    weight /= weight.sum()
    rank = rng.choice(n_contractors, size=n, p=weight)
    label = rng.permutation(n_contractors)[rank]
    log_size = np.log(weight * n_contractors)
    contractor_mean = P.CONTRACTOR_SIZE_EFFECT * (log_size - float(np.mean(log_size[rank])))
    contractor_draw = contractor_mean + rng.normal(0.0, P.CONTRACTOR_SD, n_contractors)
    contractor_effect = contractor_draw[rank]
    site_effect = rng.normal(0.0, P.SITE_SD, n)

    type_p = np.array([P.PROJECT_TYPE_SHARES[t] for t in spec.PROJECT_TYPES])
    ptype = rng.choice(len(spec.PROJECT_TYPES), size=n, p=type_p / type_p.sum())
    district_p = np.array([P.DISTRICT_WEIGHTS[d] for d in spec.DISTRICTS])
    district = rng.choice(len(spec.DISTRICTS), size=n, p=district_p / district_p.sum())

    median_value = _lookup(P.CONTRACT_VALUE_MEDIAN, spec.PROJECT_TYPES, ptype)
    value = median_value * np.exp(rng.normal(0.0, P.CONTRACT_VALUE_LOG_SD, n))
    value = np.clip(value, P.CONTRACT_VALUE_MIN, P.CONTRACT_VALUE_MAX).round(-3)

    is_building = np.isin(ptype, [spec.PROJECT_TYPES.index(t) for t in _BUILDING_TYPES])
    cost = _lookup(P.COST_PER_M2, spec.PROJECT_TYPES, ptype)
    area_draw = value / np.where(is_building, cost, 1.0)
    area_draw *= np.exp(rng.normal(0.0, P.COST_PER_M2_LOG_SD, n))
    floor_area = np.where(is_building, np.round(area_draw, -1), 0.0)

    height = _lookup(P.HEIGHT_MEDIAN, spec.PROJECT_TYPES, ptype)
    height *= (value / median_value) ** P.HEIGHT_VALUE_ELASTICITY
    height *= np.exp(rng.normal(0.0, P.HEIGHT_LOG_SD, n))
    at_grade_p = _lookup(P.CIVIL_AT_GRADE_SHARE, spec.PROJECT_TYPES, ptype)
    at_grade = rng.random(n) < at_grade_p
    height = np.where(is_building, np.maximum(height, 4.0), np.where(at_grade, 0.0, height))
    height = np.minimum(height, P.HEIGHT_MAX).round(1)

    rail = ptype == spec.PROJECT_TYPES.index("rail_transit")
    duration = P.DURATION_AT_REF * (value / P.DURATION_REF_VALUE) ** P.DURATION_ELASTICITY
    duration *= np.exp(rng.normal(0.0, P.DURATION_LOG_SD, n))
    duration *= np.where(rail, P.RAIL_DURATION_FACTOR, 1.0)
    planned = np.clip(np.round(duration), P.DURATION_MIN, P.DURATION_MAX).astype(np.int64)
    overrun = np.minimum(rng.exponential(P.OVERRUN_MEAN, n), P.OVERRUN_MAX)
    actual = planned + np.round(planned * overrun).astype(np.int64)
    # Every site is active in at least one window month; start months are
    # uniform over the range that allows it, so sites start and finish inside.
    start = rng.integers(-(actual - 1), months).astype(np.int64)
    start_day = rng.integers(1, 29, n).astype(np.int64)

    hw_mean = _lookup(P.HAZARDOUS_WORKS_BASE, spec.PROJECT_TYPES, ptype)
    hazardous = rng.poisson(hw_mean * (value / 1e8) ** P.HAZARDOUS_WORKS_ELASTICITY)
    over_scale = rng.binomial(hazardous, _lookup(P.OVER_SCALE_SHARE, spec.PROJECT_TYPES, ptype))

    m2_per_crane = _lookup(P.M2_PER_TOWER_CRANE, spec.PROJECT_TYPES, ptype)
    crane_mean = np.where(
        is_building,
        floor_area / np.where(is_building, m2_per_crane, 1.0),
        _lookup(P.CIVIL_TOWER_CRANES_MEAN, spec.PROJECT_TYPES, ptype),
    )
    cranes = np.minimum(rng.poisson(crane_mean), P.TOWER_CRANES_MAX)

    foundation_end = rng.uniform(*P.FOUNDATION_END, n)
    structure_end = foundation_end + rng.uniform(*P.STRUCTURE_SPAN, n)

    workforce = P.LABOUR_SHARE * value / (planned * P.MONTHLY_WAGE_CNY)
    workforce *= np.exp(rng.normal(0.0, P.WORKFORCE_SITE_LOG_SD, n))

    return _Sites(
        n=n,
        contractor=label.astype(np.int64),
        contractor_effect=contractor_effect,
        site_effect=site_effect,
        ptype=ptype.astype(np.int64),
        district=district.astype(np.int64),
        value=value,
        floor_area=floor_area,
        height=height,
        planned=planned,
        actual=actual,
        start=start,
        start_day=start_day,
        hazardous=hazardous.astype(np.int64),
        over_scale=over_scale.astype(np.int64),
        cranes=cranes.astype(np.int64),
        foundation_end=foundation_end,
        structure_end=structure_end,
        workforce=workforce,
        camera=rng.normal(0.0, P.CAMERA_SITE_LOG_SD, n),
        device=rng.normal(0.0, P.DEVICE_SITE_LOGIT_SD, n),
        sensor_site=rng.normal(0.0, P.MISSING_SITE_LOGIT_SD, n),
        attendance_site=rng.normal(0.0, P.MISSING_SITE_LOGIT_SD, n),
        hazard_site=rng.normal(0.0, P.MISSING_SITE_LOGIT_SD, n),
        sensor_never=rng.random(n) < P.SENSOR_NEVER_PROB,
    )


def _site_dates(sites: _Sites, cal: _Calendar) -> tuple[DateArray, DateArray]:
    """Start date, and planned end = start + planned months - 1 day."""
    start_month = (cal.first_abs + sites.start).astype("datetime64[M]")
    start_date = start_month.astype("datetime64[D]") + (sites.start_day - 1)
    end_month = (cal.first_abs + sites.start + sites.planned).astype("datetime64[M]")
    planned_end = end_month.astype("datetime64[D]") + (sites.start_day - 2)
    return (
        np.asarray(start_date, dtype="datetime64[s]"),
        np.asarray(planned_end, dtype="datetime64[s]"),
    )


def _hidden_drift(rng: np.random.Generator, n: int, months: int) -> FloatArray:
    """AR(1) drift per site, stationary, for the month before the window
    (column 0) and each window month (columns 1..months)."""
    drift = np.empty((n, months + 1))
    drift[:, 0] = rng.normal(0.0, P.DRIFT_SD, n)
    innovation_sd = P.DRIFT_SD * np.sqrt(1.0 - P.DRIFT_RHO**2)
    shocks = rng.normal(0.0, innovation_sd, (n, months))
    for k in range(1, months + 1):
        drift[:, k] = P.DRIFT_RHO * drift[:, k - 1] + shocks[:, k - 1]
    return drift


def _weather(rng: np.random.Generator, cal: _Calendar) -> IntArray:
    """Severe-weather days per district (rows) and month (columns)."""
    mean = np.array(P.WEATHER_DAYS_MEAN)[cal.month_of_year - 1]
    shape = P.WEATHER_GAMMA_SHAPE
    city = rng.poisson(mean * rng.gamma(shape, 1.0 / shape, mean.size))
    noise = np.exp(rng.normal(0.0, P.WEATHER_DISTRICT_LOG_SD, (len(spec.DISTRICTS), mean.size)))
    days = np.round(city[None, :] * noise)
    out: IntArray = np.clip(days, 0, cal.days[None, :]).astype(np.int64)
    return out


# ------------------------------------------------------------------ site-months


def _stage_codes(progress: FloatArray, sites: _Sites, site: IntArray) -> IntArray:
    civil = spec.STAGES.index("civil")
    foundation = spec.STAGES.index("foundation")
    structure = spec.STAGES.index("structure")
    finishing = spec.STAGES.index("finishing")
    building = np.isin(sites.ptype[site], [spec.PROJECT_TYPES.index(t) for t in _BUILDING_TYPES])
    staged = np.where(
        progress < sites.foundation_end[site],
        foundation,
        np.where(progress < sites.structure_end[site], structure, finishing),
    )
    out: IntArray = np.where(building, staged, civil).astype(np.int64)
    return out


@dataclass(slots=True)
class _Rows:
    site: IntArray
    t: IntArray
    stage: IntArray
    stage_start: BoolArray
    project_start: BoolArray
    workers: FloatArray
    hours: FloatArray
    work_days: FloatArray  # working days this month (fewer in the start month)
    hours_per_day: FloatArray
    weather: IntArray
    z: FloatArray  # current hidden log-risk / its sd
    h: FloatArray  # current hidden log-risk
    h_prev_mean_exp: FloatArray  # E[exp(h) | previous month's hidden state]


def _expand(
    rng: np.random.Generator, sites: _Sites, cal: _Calendar, drift: FloatArray, weather: IntArray
) -> _Rows:
    months = len(cal.labels)
    first = np.maximum(sites.start, 0)
    last = np.minimum(sites.start + sites.actual - 1, months - 1)
    counts = last - first + 1
    site = np.repeat(np.arange(sites.n), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    t = first[site] + (np.arange(site.size) - offsets)

    age = t - sites.start[site]
    progress = (age + 0.5) / sites.actual[site]
    stage = _stage_codes(progress, sites, site)
    prev_stage = _stage_codes((age - 0.5) / sites.actual[site], sites, site)
    project_start = age == 0
    stage_start = project_start | (stage != prev_stage)

    civil = stage == spec.STAGES.index("civil")
    bell = np.sin(np.pi * progress) ** P.WORKFORCE_PROFILE_POWER
    low = np.where(civil, P.WORKFORCE_PROFILE["civil"][0], P.WORKFORCE_PROFILE["building"][0])
    amplitude = np.where(civil, P.WORKFORCE_PROFILE["civil"][1], P.WORKFORCE_PROFILE["building"][1])
    profile = low + amplitude * bell
    workers = sites.workforce[site] * profile
    workers *= np.exp(rng.normal(0.0, P.WORKFORCE_MONTH_LOG_SD, site.size))
    dim = cal.days[t]
    active_share = np.where(project_start, (dim - sites.start_day[site] + 1) / dim, 1.0)
    days = P.WORKING_DAYS * np.array(P.MONTH_WORK_FACTOR)[cal.month_of_year[t] - 1]
    hours_per_day = P.HOURS_PER_DAY * np.exp(rng.normal(0.0, P.HOURS_PER_DAY_LOG_SD, site.size))
    suspended = rng.random(site.size) < P.SUSPENDED_MONTH_PROB
    workers = np.where(suspended, 0.0, np.round(workers, 1))
    hours = np.round(workers * days * active_share * hours_per_day, 1)

    persistent = sites.contractor_effect[site] + sites.site_effect[site]
    h = persistent + drift[site, t + 1]
    prev = drift[site, t]
    innovation_var = P.DRIFT_SD**2 * (1.0 - P.DRIFT_RHO**2)
    h_prev_mean_exp = np.exp(persistent + P.DRIFT_RHO * prev + innovation_var / 2)
    return _Rows(
        site=site,
        t=t,
        stage=stage,
        stage_start=stage_start,
        project_start=project_start,
        workers=workers,
        hours=hours,
        work_days=days * active_share,
        hours_per_day=hours_per_day,
        weather=weather[sites.district[site], t],
        z=h / hidden_sd(),
        h=h,
        h_prev_mean_exp=h_prev_mean_exp,
    )


@dataclass(frozen=True, slots=True)
class _Drivers:
    """True workforce drivers of claims (known from the previous month's state)."""

    new_share: FloatArray
    new_logit: FloatArray
    training: FloatArray
    training_logit: FloatArray


def _drivers(rng: np.random.Generator, rows: _Rows, sites: _Sites, drift: FloatArray) -> _Drivers:
    # Turnover and education respond to last month's culture, so conditioning
    # on them tells nothing about this month's innovation of the hidden state.
    persistent = sites.contractor_effect[rows.site] + sites.site_effect[rows.site]
    z_prev = (persistent + drift[rows.site, rows.t]) / hidden_sd()
    n = rows.site.size
    base = np.array([_logit(P.NEW_WORKER_BASE[s]) for s in spec.STAGES])[rows.stage]
    new_logit = (
        base
        + P.NEW_WORKER_STAGE_START_LOGIT * rows.stage_start
        + P.NEW_WORKER_PROJECT_START_LOGIT * rows.project_start
        + P.NEW_WORKER_CULTURE_LOGIT * z_prev
        + rng.normal(0.0, P.NEW_WORKER_NOISE_LOGIT, n)
    )
    new_share = _expit(new_logit)
    training_logit = (
        _logit(P.TRAINING_BASE)
        + P.TRAINING_CULTURE_LOGIT * z_prev
        + P.TRAINING_NEW_WORKER_LOGIT * (new_share - P.NEW_WORKER_REF)
        + rng.normal(0.0, P.TRAINING_NOISE_LOGIT, n)
    )
    return _Drivers(new_share, new_logit, _expit(training_logit), training_logit)


# --------------------------------------------------------------------- claims


def _claim_rates(
    rows: _Rows, sites: _Sites, drivers: _Drivers, district_effect: FloatArray
) -> FloatArray:
    """Expected claims per row, severity and cause: shape (rows, 3, 7)."""
    site = rows.site
    common = np.exp(rows.h - hidden_sd() ** 2 / 2)
    common *= np.exp(district_effect[sites.district[site]] - P.DISTRICT_EFFECT_SD**2 / 2)
    common *= np.array([P.STAGE_RISK[s] for s in spec.STAGES])[rows.stage]
    common *= _lookup(P.TYPE_RISK, spec.PROJECT_TYPES, sites.ptype[site])
    common *= np.exp(P.WEATHER_RISK_PER_DAY * (rows.weather - P.WEATHER_REF_DAYS))
    common *= np.exp(P.NEW_WORKER_RISK * (drivers.new_share - P.NEW_WORKER_REF))
    common *= np.exp(-P.TRAINING_RISK * (drivers.training - P.TRAINING_REF))
    common *= rows.hours / 1e6

    cause = np.ones((site.size, len(spec.CAUSES)))
    crane_use = sites.cranes[site] * _stage_lookup(P.CRANE_STAGE_USE, rows.stage)
    cause[:, spec.CAUSES.index("lifting")] = (
        (P.LIFTING_CRANE_K + crane_use) / (P.LIFTING_CRANE_K + P.LIFTING_CRANE_REF)
    ) ** P.LIFTING_CRANE_EXP
    cause[:, spec.CAUSES.index("collapse")] = (
        (P.COLLAPSE_EXCAVATION_K + _excavation(rows, sites))
        / (P.COLLAPSE_EXCAVATION_K + P.COLLAPSE_EXCAVATION_REF)
    ) ** P.COLLAPSE_EXCAVATION_EXP
    cause[:, spec.CAUSES.index("fall_from_height")] = (
        (P.FALL_HEIGHT_K + sites.height[site]) / (P.FALL_HEIGHT_K + P.FALL_HEIGHT_REF)
    ) ** P.FALL_HEIGHT_EXP
    for name, by_stage in P.CAUSE_STAGE.items():
        cause[:, spec.CAUSES.index(name)] *= _stage_lookup(by_stage, rows.stage)

    base = np.array(
        [
            [P.FREQUENCY_PER_MILLION_HOURS[sev] * P.CAUSE_SHARES[sev][c] for c in spec.CAUSES]
            for sev in spec.SEVERITIES
        ]
    )
    rates: FloatArray = common[:, None, None] * base[None, :, :] * cause[:, None, :]
    return rates


def _stage_lookup(table: dict[str, float], stage: IntArray) -> FloatArray:
    out: FloatArray = np.array([table[s] for s in spec.STAGES])[stage]
    return out


def _excavation(rows: _Rows, sites: _Sites) -> FloatArray:
    weight = sites.hazardous[rows.site] + P.OVER_SCALE_WEIGHT * sites.over_scale[rows.site]
    out: FloatArray = weight * _stage_lookup(P.EXCAVATION_STAGE_USE, rows.stage)
    return out


def _draw_claims(
    rng: np.random.Generator,
    rates: FloatArray,
    rows: _Rows,
    sites: _Sites,
    cal: _Calendar,
    site_ids: list[str],
) -> pd.DataFrame:
    flat = rates.reshape(rates.shape[0], -1)
    total = flat.sum(axis=1)
    counts = rng.poisson(total)
    row = np.repeat(np.arange(total.size), counts)
    # Poisson splitting: given the count, each claim's (severity, cause) cell is
    # drawn in proportion to the cell's rate.
    cum = np.cumsum(flat[row], axis=1) / total[row, None]
    u = rng.random(row.size)
    cell = np.minimum((cum < u[:, None]).sum(axis=1), flat.shape[1] - 1)
    severity = cell // len(spec.CAUSES)
    cause = cell % len(spec.CAUSES)

    t = rows.t[row]
    dim = cal.days[t]
    low = np.where(rows.project_start[row], sites.start_day[rows.site[row]], 1)
    day = rng.integers(low, dim + 1)

    n = row.size
    minor = P.MINOR_MEDIAN_CNY * np.exp(rng.normal(0.0, P.MINOR_LOG_SD, n))
    serious = P.SERIOUS_MEDIAN_CNY * np.exp(rng.normal(0.0, P.SERIOUS_LOG_SD, n))
    deaths = 1 + rng.poisson(P.EXTRA_DEATHS_MEAN, n)
    excess = P.DEATH_EXCESS_MEDIAN_CNY * np.exp(
        rng.normal(0.0, P.DEATH_EXCESS_LOG_SD, int(deaths.sum()))
    )
    per_claim_excess = np.add.reduceat(excess, np.cumsum(deaths) - deaths) if n else excess
    fatal = deaths * P.DEATH_BENEFIT_FLOOR_CNY + per_claim_excess
    incurred = np.round(np.choose(severity, [minor, serious, fatal]), 2)

    age = (len(cal.labels) - 1 - t) + (dim - day + 1) / dim
    settle = np.array([P.SETTLE_MONTHS[s] for s in spec.SEVERITIES])[severity]
    closed = rng.random(n) < 1.0 - np.exp(-age / settle)
    partial_p = np.array([P.PARTIAL_PAYMENT_PROB[s] for s in spec.SEVERITIES])[severity]
    partial = rng.random(n) < partial_p
    share = rng.uniform(*P.PARTIAL_PAYMENT_SHARE, n)
    paid = np.where(closed, incurred, np.where(partial, np.round(incurred * share, 2), 0.0))
    reserve = np.round(incurred - paid, 2)

    order = np.lexsort((day, row))
    month_start = (cal.first_abs + t).astype("datetime64[M]").astype("datetime64[D]")
    incident = (month_start + (day - 1)).astype("datetime64[s]")
    ids = [f"CL{i:08d}" for i in range(1, n + 1)]
    sid = np.array(site_ids, dtype=object)[rows.site[row]]
    frame = pd.DataFrame(
        {
            "claim_id": pd.array(ids, dtype="str"),
            "site_id": pd.array(sid[order], dtype="str"),
            "incident_date": incident[order],
            "cause": pd.array(np.array(spec.CAUSES, dtype=object)[cause[order]], dtype="str"),
            "severity": pd.array(
                np.array(spec.SEVERITIES, dtype=object)[severity[order]], dtype="str"
            ),
            "paid_cny": paid[order],
            "reserve_cny": reserve[order],
        }
    )
    return frame[[c.name for c in spec.CLAIMS]]


# ---------------------------------------------------------------- observables


def _reported(
    rng: np.random.Generator,
    base: float,
    site_term: FloatArray,
    rows: _Rows,
    sites: _Sites,
    months: int,
) -> BoolArray:
    """Whether a group of columns is reported this site-month."""
    trend = P.MISSING_TREND_LOGIT * (rows.t / max(months - 1, 1) - 0.5)
    size = P.MISSING_SIZE_LOGIT * np.log(sites.value[rows.site] / 1e8)
    logit = _logit(base) + site_term[rows.site] + P.MISSING_CULTURE_LOGIT * rows.z + trend + size
    missing: BoolArray = rng.random(rows.site.size) < _expit(logit)
    return ~missing


def _observe(
    rng: np.random.Generator, rows: _Rows, sites: _Sites, drivers: _Drivers, months: int
) -> dict[str, FloatArray | IntArray | BoolArray]:
    """Observed metrics (before nulls) and the reporting masks."""
    n = rows.site.size
    z = rows.z
    site = rows.site

    online = _expit(
        _logit(P.DEVICE_ONLINE_BASE)
        + P.DEVICE_ONLINE_CULTURE_LOGIT * z
        + sites.device[site]
        + rng.normal(0.0, P.DEVICE_MONTH_LOGIT_SD, n)
    )
    outage = rng.random(n) < P.OUTAGE_PROB
    online = np.where(outage, online * rng.uniform(*P.OUTAGE_FACTOR, n), online).round(4)

    def alerts(rate: FloatArray, loading: float) -> IntArray:
        noise = rng.normal(0.0, P.ALERT_MONTH_LOG_SD, n)
        true_rate = rate * np.exp(loading * z + sites.camera[site] + noise)
        out: IntArray = rng.poisson(true_rate * online * rows.hours / 1000.0)
        return out

    ppe = alerts(np.full(n, P.PPE_RATE), P.PPE_CULTURE)
    intrusion = alerts(
        P.INTRUSION_RATE * _stage_lookup(P.INTRUSION_STAGE, rows.stage), P.INTRUSION_CULTURE
    )
    fire = alerts(P.FIRE_RATE * _stage_lookup(P.FIRE_STAGE, rows.stage), P.FIRE_CULTURE)
    closure = _expit(
        _logit(P.CLOSURE_BASE)
        + P.CLOSURE_CULTURE_LOGIT * z
        + rng.normal(0.0, P.CLOSURE_NOISE_LOGIT, n)
    )

    hazards = rng.poisson(
        P.HAZARDS_BASE
        * np.sqrt(rows.workers)
        * np.exp(P.HAZARDS_CULTURE * z + rng.normal(0.0, P.HAZARDS_MONTH_LOG_SD, n))
    )
    major = rng.binomial(
        hazards, _expit(_logit(P.MAJOR_SHARE_BASE) + P.MAJOR_SHARE_CULTURE_LOGIT * z)
    )
    rectification = _expit(
        _logit(P.RECTIFICATION_BASE)
        + P.RECTIFICATION_CULTURE_LOGIT * z
        + rng.normal(0.0, P.RECTIFICATION_NOISE_LOGIT, n)
    )

    crane_use = sites.cranes[site] * _stage_lookup(P.CRANE_STAGE_USE, rows.stage)
    crane = rng.poisson(
        P.CRANE_WARNING_RATE
        * crane_use
        * np.exp(P.CRANE_CULTURE * z + rng.normal(0.0, P.ALERT_MONTH_LOG_SD, n))
        * (1.0 + P.CRANE_WEATHER * rows.weather)
        * online
    )
    structural = rng.poisson(
        P.STRUCTURAL_ALARM_RATE
        * _excavation(rows, sites)
        * np.exp(P.STRUCTURAL_CULTURE * z + rng.normal(0.0, P.ALERT_MONTH_LOG_SD, n))
        * (1.0 + P.STRUCTURAL_WEATHER * rows.weather)
        * online
    )
    violations = rng.poisson(
        P.VIOLATIONS_BASE
        * (1.0 + np.log1p(rows.workers / P.VIOLATIONS_WORKERS_SCALE))
        * np.exp(P.VIOLATIONS_CULTURE * z + rng.normal(0.0, P.VIOLATIONS_MONTH_LOG_SD, n))
    )
    new_share = _expit(drivers.new_logit + rng.normal(0.0, P.NEW_WORKER_REPORT_NOISE_LOGIT, n))
    training = _expit(drivers.training_logit + rng.normal(0.0, P.TRAINING_REPORT_NOISE_LOGIT, n))

    sensor = _reported(rng, P.SENSOR_MISSING_BASE, sites.sensor_site, rows, sites, months)
    sensor &= ~sites.sensor_never[site]
    attendance = _reported(
        rng, P.ATTENDANCE_MISSING_BASE, sites.attendance_site, rows, sites, months
    )
    # A month without anyone on site has no shares to report.
    attendance &= rows.workers > 0
    hazard = _reported(rng, P.HAZARD_MISSING_BASE, sites.hazard_site, rows, sites, months)

    return {
        "new_worker_share": np.round(new_share, 4),
        "training_coverage": np.round(training, 4),
        "ai_alerts_ppe": ppe,
        "ai_alerts_intrusion": intrusion,
        "ai_alerts_fire": fire,
        "alert_closure_rate": np.round(closure, 4),
        "hazards_found": hazards,
        "major_hazards": major,
        "hazard_rectification_rate": np.round(rectification, 4),
        "crane_warnings": crane,
        "structural_alarms": structural,
        "device_online_rate": online,
        "inspection_violations": violations,
        "_sensor": sensor,
        "_attendance": attendance,
        "_hazard": hazard,
    }


def _site_month_frame(
    rng: np.random.Generator,
    rows: _Rows,
    obs: dict[str, FloatArray | IntArray | BoolArray],
    cal: _Calendar,
    site_ids: list[str],
) -> pd.DataFrame:
    n = rows.site.size
    group_of = dict.fromkeys(SENSOR_COLUMNS, "_sensor")
    group_of.update(dict.fromkeys(ATTENDANCE_COLUMNS, "_attendance"))
    group_of.update(dict.fromkeys(HAZARD_COLUMNS, "_hazard"))
    present: dict[str, BoolArray] = {}
    for name in (*SENSOR_COLUMNS, *ATTENDANCE_COLUMNS, *HAZARD_COLUMNS):
        single_gap = rng.random(n) < P.COLUMN_MISSING_PROB
        present[name] = np.asarray(obs[group_of[name]], dtype=np.bool_) & ~single_gap
    # Without a hazard count there is no major-hazard count to report.
    present["major_hazards"] &= present["hazards_found"]

    def share(columns: tuple[str, ...]) -> FloatArray:
        out: FloatArray = np.mean([present[c] for c in columns], axis=0)
        return out

    w = P.COMPLETENESS_WEIGHTS
    online = np.asarray(obs["device_online_rate"], dtype=np.float64)
    completeness = (
        w["base"]
        + w["attendance"] * share(ATTENDANCE_COLUMNS)
        + w["hazard"] * share(HAZARD_COLUMNS)
        + w["sensor"] * share(SENSOR_COLUMNS) * np.where(present["device_online_rate"], online, 1)
        + rng.normal(0.0, P.COMPLETENESS_NOISE_SD, n)
    )

    data: dict[str, object] = {
        "site_id": pd.array(np.array(site_ids, dtype=object)[rows.site], dtype="str"),
        "month": pd.array(np.array(cal.labels, dtype=object)[rows.t], dtype="str"),
        "stage": pd.array(np.array(spec.STAGES, dtype=object)[rows.stage], dtype="str"),
        "worker_hours": rows.hours,
        "avg_daily_workers": rows.workers,
        "data_completeness": np.round(np.clip(completeness, 0.0, 1.0), 4),
        "inspection_violations": np.asarray(obs["inspection_violations"], dtype=np.int64),
        "severe_weather_days": rows.weather,
    }
    for name, mask in present.items():
        values = obs[name]
        if spec.column("site_months", name).kind == "int":
            data[name] = pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64), ~mask)
        else:
            data[name] = np.where(mask, np.asarray(values, dtype=np.float64), np.nan)
    frame = pd.DataFrame(data)
    return frame[[c.name for c in spec.SITE_MONTHS]]


# ----------------------------------------------------------------------- world


@dataclass(frozen=True, slots=True)
class Simulation:
    """A world with the draws behind it: what :mod:`training.synth.events` needs to
    emit the raw events whose aggregation gives the world's monthly behaviour."""

    world: World
    seed: int
    site_ids: list[str]
    sites: _Sites
    cal: _Calendar
    rows: _Rows
    obs: dict[str, FloatArray | IntArray | BoolArray]
    weather: IntArray  # severe-weather days per district (rows) and month (columns)


def generate_world(n_sites: int, seed: int, months: int = 36, start: str = "2023-01") -> World:
    """Draw a world of ``n_sites`` sites observed for ``months`` months from
    ``start`` (``YYYY-MM``). The same arguments always give the same frames."""
    return simulate(n_sites, seed, months, start).world


def simulate(n_sites: int, seed: int, months: int = 36, start: str = "2023-01") -> Simulation:
    """:func:`generate_world` with the draws behind the world."""
    if n_sites < 1:
        raise ValueError("n_sites must be at least 1")
    if months < 1:
        raise ValueError("months must be at least 1")
    if not re.fullmatch(spec.MONTH_PATTERN, start):
        raise ValueError(f"start must be YYYY-MM, got {start!r}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    rng_sites, rng_hidden, rng_rows, rng_drivers, rng_obs, rng_claims, rng_frame = streams
    cal = _calendar(start, months)

    sites = _draw_sites(rng_sites, n_sites, months)
    width = max(6, len(str(n_sites)))
    site_ids = [f"SH{i:0{width}d}" for i in range(1, n_sites + 1)]
    drift = _hidden_drift(rng_hidden, n_sites, months)
    district_effect = rng_hidden.normal(0.0, P.DISTRICT_EFFECT_SD, len(spec.DISTRICTS))
    weather = _weather(rng_hidden, cal)

    rows = _expand(rng_rows, sites, cal, drift, weather)
    drivers = _drivers(rng_drivers, rows, sites, drift)
    rates = _claim_rates(rows, sites, drivers, district_effect)
    obs = _observe(rng_obs, rows, sites, drivers, months)
    claims = _draw_claims(rng_claims, rates, rows, sites, cal, site_ids)
    site_months = _site_month_frame(rng_frame, rows, obs, cal, site_ids)

    cost = mean_claim_cost()
    by_severity = rates.sum(axis=2)
    expected_loss = by_severity @ np.array([cost[s] for s in spec.SEVERITIES])
    prev_factor = rows.h_prev_mean_exp / np.exp(rows.h)
    truth = pd.DataFrame(
        {
            "site_id": site_months["site_id"],
            "month": site_months["month"],
            "expected_loss_cny": np.round(expected_loss, 4),
            "expected_claims": np.round(by_severity.sum(axis=1), 8),
            "expected_loss_prev_state_cny": np.round(expected_loss * prev_factor, 4),
        }
    )
    mix = pd.DataFrame(
        rates.sum(axis=0).T, index=pd.Index(spec.CAUSES, name="cause"), columns=spec.SEVERITIES
    )

    start_date, planned_end = _site_dates(sites, cal)
    sites_frame = pd.DataFrame(
        {
            "site_id": pd.array(site_ids, dtype="str"),
            "contractor_id": pd.array(
                [f"GC{c + 1:05d}" for c in sites.contractor.tolist()], dtype="str"
            ),
            "district": pd.array(
                np.array(spec.DISTRICTS, dtype=object)[sites.district], dtype="str"
            ),
            "project_type": pd.array(
                np.array(spec.PROJECT_TYPES, dtype=object)[sites.ptype], dtype="str"
            ),
            "contract_value_cny": sites.value,
            "floor_area_m2": sites.floor_area,
            "max_height_m": sites.height,
            "start_date": start_date,
            "planned_end_date": planned_end,
            "hazardous_works": sites.hazardous,
            "over_scale_hazardous_works": sites.over_scale,
            "tower_cranes": sites.cranes,
        }
    )
    world = World(
        sites=sites_frame[[c.name for c in spec.SITES]],
        site_months=site_months,
        claims=claims,
        truth=truth,
        expected_mix=mix,
    )
    return Simulation(world, seed, site_ids, sites, cal, rows, obs, weather)
