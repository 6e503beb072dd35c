"""Every calibration constant of the synthetic smart-site world, in one place.

Each constant says where it comes from: a public figure (with the source), or
``assumption`` when no public number exists and the value is a judgement call
chosen to look plausible for Shanghai and to keep the world learnable. The
mechanisms that use them are described in ``docs/synthetic-world.md``.
"""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------- sites

# Sites per general contractor. Assumption: Shanghai has a few thousand
# registered general contractors for tens of thousands of active projects.
SITES_PER_CONTRACTOR: Final = 6.0
# Zipf exponent of contractor size (number of sites). Assumption: a handful of
# large state-owned groups (e.g. Shanghai Construction Group) run many sites each.
CONTRACTOR_ZIPF: Final = 0.8

# Project-type mix. Assumption, loosely after the Shanghai Statistical Yearbook's
# split of construction output (housing dominates, then public and commercial
# buildings, factories, roads/bridges/pipes, metro lines).
PROJECT_TYPE_SHARES: Final[dict[str, float]] = {
    "residential": 0.40,
    "commercial": 0.15,
    "public": 0.14,
    "industrial": 0.15,
    "municipal": 0.11,
    "rail_transit": 0.05,
}

# Relative weight of each district in new construction. Assumption: the outer
# districts with land to build on (Pudong first) carry most new sites; the
# central districts (Huangpu, Jing'an, ...) few.
DISTRICT_WEIGHTS: Final[dict[str, float]] = {
    "huangpu": 2.0, "xuhui": 3.5, "changning": 2.0, "jingan": 2.5, "putuo": 3.0,
    "hongkou": 2.0, "yangpu": 3.0, "minhang": 8.5, "baoshan": 7.0, "jiading": 8.0,
    "pudong": 20.0, "jinshan": 4.0, "songjiang": 8.0, "qingpu": 7.0, "fengxian": 6.5,
    "chongming": 3.0,
}  # fmt: skip
# Spread of a district's latent supervision effect on claims (log scale).
# Assumption: districts differ a little in enforcement; a model can learn it.
DISTRICT_EFFECT_SD: Final = 0.08

# Contract value (CNY): lognormal median and log-sd by type, then clipped to
# [CONTRACT_VALUE_MIN, CONTRACT_VALUE_MAX]. Assumption: typical Shanghai tender
# sizes (housing blocks a few hundred million, metro sections billions).
CONTRACT_VALUE_MEDIAN: Final[dict[str, float]] = {
    "residential": 2.5e8,
    "commercial": 3.5e8,
    "public": 1.8e8,
    "industrial": 1.2e8,
    "municipal": 2.0e8,
    "rail_transit": 1.5e9,
}
CONTRACT_VALUE_LOG_SD: Final = 1.0
CONTRACT_VALUE_MIN: Final = 5.0e6
CONTRACT_VALUE_MAX: Final = 5.0e9

# Building cost per m² of gross floor area (CNY), lognormal median by type.
# Assumption, in line with published Shanghai construction-cost indices
# (建安造价 roughly 3,000–7,000 CNY/m²). Civil works have no floor area.
COST_PER_M2: Final[dict[str, float]] = {
    "residential": 4500.0,
    "commercial": 6500.0,
    "public": 6000.0,
    "industrial": 3000.0,
}
COST_PER_M2_LOG_SD: Final = 0.25

# Highest structure (m): lognormal median and log-sd by type, scaled by
# (contract value / type median) ** HEIGHT_VALUE_ELASTICITY. Assumption.
HEIGHT_MEDIAN: Final[dict[str, float]] = {
    "residential": 55.0,
    "commercial": 45.0,
    "public": 24.0,
    "industrial": 18.0,
    "municipal": 12.0,
    "rail_transit": 15.0,
}
HEIGHT_LOG_SD: Final = 0.45
HEIGHT_VALUE_ELASTICITY: Final = 0.25
HEIGHT_MAX: Final = 350.0
# Share of civil works with no structure above ground (roads, pipes, tunnels).
# Assumption: most municipal works are at grade; most metro works underground.
CIVIL_AT_GRADE_SHARE: Final[dict[str, float]] = {"municipal": 0.35, "rail_transit": 0.6}

# Planned duration (months) = DURATION_AT_REF * (value / DURATION_REF_VALUE) **
# DURATION_ELASTICITY * lognormal noise, clipped to [12, 48]. Assumption: a
# CNY 300M housing project takes about two years.
DURATION_AT_REF: Final = 24.0
DURATION_REF_VALUE: Final = 3.0e8
DURATION_ELASTICITY: Final = 0.2
DURATION_LOG_SD: Final = 0.2
DURATION_MIN: Final = 12
DURATION_MAX: Final = 48
RAIL_DURATION_FACTOR: Final = 1.3
# Overrun of the actual over the planned duration: exponential share with this
# mean, capped. Assumption: delays of a few months are common.
OVERRUN_MEAN: Final = 0.08
OVERRUN_MAX: Final = 0.4

# 危大工程 count: Poisson with mean base[type] * (value / 1e8) ** 0.35.
# Assumption: every building project has a few (deep pit, high formwork,
# scaffolding, cranes); metro sections many.
HAZARDOUS_WORKS_BASE: Final[dict[str, float]] = {
    "residential": 4.0,
    "commercial": 5.0,
    "public": 4.0,
    "industrial": 3.0,
    "municipal": 5.0,
    "rail_transit": 8.0,
}
HAZARDOUS_WORKS_ELASTICITY: Final = 0.35
# Probability that a 危大工程 is 超过一定规模 (over-scale). Assumption.
OVER_SCALE_SHARE: Final[dict[str, float]] = {
    "residential": 0.25,
    "commercial": 0.3,
    "public": 0.25,
    "industrial": 0.15,
    "municipal": 0.35,
    "rail_transit": 0.5,
}

# Tower cranes: Poisson with mean floor area / M2_PER_TOWER_CRANE[type] for
# buildings, a flat mean for civil works. Assumption: one crane per ~2-3 ha GFA.
M2_PER_TOWER_CRANE: Final[dict[str, float]] = {
    "residential": 22000.0,
    "commercial": 20000.0,
    "public": 22000.0,
    "industrial": 45000.0,
}
CIVIL_TOWER_CRANES_MEAN: Final[dict[str, float]] = {"municipal": 0.3, "rail_transit": 0.8}
TOWER_CRANES_MAX: Final = 30

# ------------------------------------------------------------------ stages, labour

# Progress breakpoints of building stages: foundation ends at U(a, b) of the
# duration, structure lasts a further U(c, d). Assumption from usual schedules.
FOUNDATION_END: Final = (0.15, 0.30)
STRUCTURE_SPAN: Final = (0.30, 0.45)

# Average daily workers over the project = LABOUR_SHARE * value /
# (planned months * MONTHLY_WAGE_CNY). Labour share: assumption (人工费 is
# roughly 20-25 % of 建安工程费). Wage: Shanghai construction labour at roughly
# CNY 400-500/day (assumption after published 人工价格 guidance).
LABOUR_SHARE: Final = 0.22
MONTHLY_WAGE_CNY: Final = 11000.0
WORKFORCE_SITE_LOG_SD: Final = 0.25
WORKFORCE_MONTH_LOG_SD: Final = 0.12
# Monthly workforce over progress p in [0, 1): low + amplitude * sin(pi p) ** power,
# i.e. ramp-up, peak mid-project, run-down. Civil works are flatter. Assumption.
WORKFORCE_PROFILE: Final[dict[str, tuple[float, float]]] = {
    "building": (0.3, 1.1),
    "civil": (0.55, 0.6),
}
WORKFORCE_PROFILE_POWER: Final = 0.8
# Attended days per calendar month before the seasonal factor, and hours per day.
WORKING_DAYS: Final = 25.0
HOURS_PER_DAY: Final = 9.0
HOURS_PER_DAY_LOG_SD: Final = 0.05
# Seasonal factor on attended days by calendar month (Jan..Dec). Spring Festival
# empties sites in late Jan / Feb; Shanghai's high-temperature rules stop outdoor
# work at midday on >35 °C days in Jul–Aug. Assumption on the sizes.
MONTH_WORK_FACTOR: Final = (0.85, 0.55, 1.0, 1.0, 1.0, 0.97, 0.92, 0.92, 1.0, 0.97, 1.0, 1.0)
# Chance a site-month is suspended (stop-work order, dispute): no attendance.
SUSPENDED_MONTH_PROB: Final = 0.01

# ---------------------------------------------------------------------- weather

# Mean severe-weather days (typhoon, rainstorm or heat warning) by calendar
# month in Shanghai. After the Shanghai Meteorological Service climate normals:
# plum rains (梅雨) mid-June to early July, heat (>35 °C) mostly July–August,
# typhoons July–September. Sizes are an assumption.
WEATHER_DAYS_MEAN: Final = (0.3, 0.3, 0.8, 1.2, 1.8, 6.0, 12.0, 11.0, 4.5, 1.2, 0.5, 0.3)
# City-wide month noise is gamma-Poisson with this shape; districts deviate
# lognormally around the city value.
WEATHER_GAMMA_SHAPE: Final = 4.0
WEATHER_DISTRICT_LOG_SD: Final = 0.15

# -------------------------------------------------------------- hidden culture

# Log-risk of a site-month h = contractor + site + drift, drift AR(1).
# Assumption chosen so the prev-month oracle keeps ~95 % of the current-month
# oracle's ranking power while contractor and site effects dominate.
CONTRACTOR_SD: Final = 0.38
SITE_SD: Final = 0.30
DRIFT_SD: Final = 0.25
DRIFT_RHO: Final = 0.85
# Larger contractors are somewhat safer: contractor mean shifts by this much
# per unit log-size above the average. Assumption (state-owned groups run
# stricter safety systems).
CONTRACTOR_SIZE_EFFECT: Final = -0.06

# ----------------------------------------------------------- observable signals
# Loadings are per standard deviation of h (z = h / sd(h)).

# Share of workers new to the site: logit-normal by stage, plus a bump in the
# first month of a stage (new trades arrive) and the project's first month.
NEW_WORKER_BASE: Final[dict[str, float]] = {
    "foundation": 0.14,
    "structure": 0.10,
    "finishing": 0.16,
    "civil": 0.10,
}
NEW_WORKER_STAGE_START_LOGIT: Final = 0.9
NEW_WORKER_PROJECT_START_LOGIT: Final = 2.5
NEW_WORKER_CULTURE_LOGIT: Final = 0.35  # worse culture, more turnover
NEW_WORKER_NOISE_LOGIT: Final = 0.35
NEW_WORKER_REPORT_NOISE_LOGIT: Final = 0.05

# Training coverage: logit-normal around TRAINING_BASE, lower with worse culture
# and more new workers (education lags arrival). Assumption.
TRAINING_BASE: Final = 0.88
TRAINING_CULTURE_LOGIT: Final = -0.55
TRAINING_NEW_WORKER_LOGIT: Final = -2.0
TRAINING_NOISE_LOGIT: Final = 0.35
TRAINING_REPORT_NOISE_LOGIT: Final = 0.15

# AI-video alert rates per 1,000 worker-hours at z = 0, by stage where relevant.
# Assumption: AI cameras flag a few alerts per hundred worker-days.
PPE_RATE: Final = 1.5
INTRUSION_RATE: Final = 0.4
INTRUSION_STAGE: Final[dict[str, float]] = {
    "foundation": 1.5,
    "structure": 1.0,
    "finishing": 0.6,
    "civil": 1.3,
}
FIRE_RATE: Final = 0.05
FIRE_STAGE: Final[dict[str, float]] = {
    "foundation": 0.5,
    "structure": 1.2,
    "finishing": 2.0,
    "civil": 0.8,
}
PPE_CULTURE: Final = 0.75
INTRUSION_CULTURE: Final = 0.6
FIRE_CULTURE: Final = 0.25
# Persistent per-site camera density/sensitivity, and month-level noise (log).
CAMERA_SITE_LOG_SD: Final = 0.3
ALERT_MONTH_LOG_SD: Final = 0.25

# 24-h alert closure and hazard rectification: logit-normal, worse culture lower.
CLOSURE_BASE: Final = 0.85
CLOSURE_CULTURE_LOGIT: Final = -0.7
CLOSURE_NOISE_LOGIT: Final = 0.4
RECTIFICATION_BASE: Final = 0.92
RECTIFICATION_CULTURE_LOGIT: Final = -0.7
RECTIFICATION_NOISE_LOGIT: Final = 0.4

# Hazards found per month = HAZARDS_BASE * sqrt(avg daily workers) * exp(...);
# the share that is major is logit-normal. Assumption.
HAZARDS_BASE: Final = 0.8
HAZARDS_CULTURE: Final = 0.55
HAZARDS_MONTH_LOG_SD: Final = 0.3
MAJOR_SHARE_BASE: Final = 0.04
MAJOR_SHARE_CULTURE_LOGIT: Final = 0.6

# Tower-crane warnings per crane-month at z = 0 and the stage's crane use;
# each severe-weather day (wind) adds CRANE_WEATHER to the rate factor.
CRANE_WARNING_RATE: Final = 3.0
CRANE_CULTURE: Final = 0.5
CRANE_WEATHER: Final = 0.05
# How much of the month cranes are working, by stage. Assumption.
CRANE_STAGE_USE: Final[dict[str, float]] = {
    "foundation": 0.4,
    "structure": 1.0,
    "finishing": 0.3,
    "civil": 0.6,
}
# Weight of an over-scale 危大工程 relative to an ordinary one, in the
# excavation exposure behind collapse risk and monitoring alarms. Assumption.
OVER_SCALE_WEIGHT: Final = 2.0
# Excavation / high-formwork monitoring alarms per (危大 + 2 × over-scale)
# per month at z = 0, by stage. Assumption.
STRUCTURAL_ALARM_RATE: Final = 0.35
STRUCTURAL_CULTURE: Final = 0.5
STRUCTURAL_WEATHER: Final = 0.05
EXCAVATION_STAGE_USE: Final[dict[str, float]] = {
    "foundation": 1.0,
    "structure": 0.3,
    "finishing": 0.05,
    "civil": 0.8,
}

# Government inspection findings per month: VIOLATIONS_BASE * (1 + log1p(
# workers / 100)) * exp(...). Assumption: district 督查 visits most sites monthly.
VIOLATIONS_BASE: Final = 0.9
VIOLATIONS_WORKERS_SCALE: Final = 100.0
VIOLATIONS_CULTURE: Final = 0.6
VIOLATIONS_MONTH_LOG_SD: Final = 0.3

# Device online rate: logit-normal around DEVICE_ONLINE_BASE with a persistent
# site device-quality term, worse culture slightly lower, plus outage months.
# Assumption: platforms expect 90 %+ online; outages happen.
DEVICE_ONLINE_BASE: Final = 0.93
DEVICE_ONLINE_CULTURE_LOGIT: Final = -0.35
DEVICE_SITE_LOGIT_SD: Final = 0.5
DEVICE_MONTH_LOGIT_SD: Final = 0.4
OUTAGE_PROB: Final = 0.05
OUTAGE_FACTOR: Final = (0.2, 0.7)

# ------------------------------------------------------------------ reporting
# Each group of columns is reported or not per site-month (null = not
# reported). Logit of "missing": a base, a persistent site term, worse culture
# more missing, small sites more missing, and a trend as the city platform
# rolls out (the 2024–2026 action plan extends coverage). Assumption.
SENSOR_MISSING_BASE: Final = 0.12
# Share of sites never linked to the platform's sensor feed (legacy sites).
SENSOR_NEVER_PROB: Final = 0.03
ATTENDANCE_MISSING_BASE: Final = 0.05
HAZARD_MISSING_BASE: Final = 0.08
MISSING_SITE_LOGIT_SD: Final = 1.0
MISSING_CULTURE_LOGIT: Final = 0.5
MISSING_SIZE_LOGIT: Final = -0.25  # per log(value / 1e8)
MISSING_TREND_LOGIT: Final = -0.8  # over the whole window, first to last month
# Within a reported group, a single column can still be missing.
COLUMN_MISSING_PROB: Final = 0.02
# Weights of the data-item groups in the 数据测评 completeness score; the sensor
# part scales with the device online rate.
COMPLETENESS_WEIGHTS: Final[dict[str, float]] = {
    "base": 0.15,
    "attendance": 0.2,
    "hazard": 0.15,
    "sensor": 0.5,
}
COMPLETENESS_NOISE_SD: Final = 0.03

# ---------------------------------------------------------------------- claims

# Claim frequency per million worker-hours at reference conditions, by
# severity. Fatal: China's 房屋市政 works had 773 fatal accidents / 904 deaths in
# 2019 (MOHURD, 2019年房屋市政工程生产安全事故情况通报) for a workforce of
# tens of millions, i.e. roughly 0.01 fatal accidents per million hours.
# Serious and minor follow a Heinrich-like pyramid (1 : ~12 : ~330) of claims
# an 安责险 policy actually pays for. The non-fatal sizes are an assumption.
FREQUENCY_PER_MILLION_HOURS: Final[dict[str, float]] = {
    "minor_injury": 2.6,
    "serious_injury": 0.10,
    "fatality": 0.0080,
}

# Cause shares by severity at reference conditions (rows: severity). Fatal:
# MOHURD 2019 report — falls 53.69 %, struck by objects 15.91 %, earth/pit
# collapse 8.93 %, lifting machinery 5.43 %, construction machinery 2.98 %,
# other (electrocution, vehicles, ...) 13.07 %; we split "other" into
# electrocution 4 % (assumption) and other 9.07 %. The reference shares are
# set so the exposure-weighted portfolio lands on those figures after the
# cause multipliers below. Non-fatal mixes: assumption (falls and struck-by
# dominate injuries too; machinery cuts and crushes are frequent but rarely fatal).
FATAL_CAUSE_TARGETS: Final[dict[str, float]] = {
    "fall_from_height": 0.537,
    "struck_by_object": 0.159,
    "lifting": 0.054,
    "collapse": 0.089,
    "machinery": 0.030,
    "electrocution": 0.040,
    "other": 0.091,
}
CAUSE_SHARES: Final[dict[str, dict[str, float]]] = {
    "minor_injury": {
        "fall_from_height": 0.30,
        "struck_by_object": 0.28,
        "lifting": 0.04,
        "collapse": 0.03,
        "machinery": 0.17,
        "electrocution": 0.02,
        "other": 0.16,
    },
    "serious_injury": {
        "fall_from_height": 0.44,
        "struck_by_object": 0.20,
        "lifting": 0.07,
        "collapse": 0.07,
        "machinery": 0.09,
        "electrocution": 0.03,
        "other": 0.10,
    },
    "fatality": {
        "fall_from_height": 0.537,
        "struck_by_object": 0.159,
        "lifting": 0.054,
        "collapse": 0.089,
        "machinery": 0.030,
        "electrocution": 0.040,
        "other": 0.091,
    },
}

# Frequency multipliers (all causes) by stage and project type. Assumption
# after the MOHURD reports' emphasis on foundation pits and structure works.
STAGE_RISK: Final[dict[str, float]] = {
    "foundation": 1.25,
    "structure": 1.2,
    "finishing": 0.75,
    "civil": 1.1,
}
TYPE_RISK: Final[dict[str, float]] = {
    "residential": 1.0,
    "commercial": 1.0,
    "public": 0.95,
    "industrial": 0.9,
    "municipal": 1.05,
    "rail_transit": 1.1,
}
# Per severe-weather day, log-frequency rises by this much, relative to
# WEATHER_REF_DAYS. Assumption (wet surfaces, wind, heat fatigue).
WEATHER_RISK_PER_DAY: Final = 0.02
WEATHER_REF_DAYS: Final = 3.0
# New workers and missing safety education raise frequency (log-linear in the
# true shares, relative to the reference). Assumption, in line with the
# common finding that first-month workers have several times the injury rate.
NEW_WORKER_RISK: Final = 1.2
NEW_WORKER_REF: Final = 0.15
TRAINING_RISK: Final = 1.5
TRAINING_REF: Final = 0.85

# Cause-specific exposure multipliers: lifting scales with crane use
# (cranes × stage use), collapse with excavation exposure ((危大 + 2 ×
# over-scale) × stage use), falls with height. Form: ((k + x) / (k + ref)) ** e,
# ref chosen so the multiplier's claim-weighted portfolio mean is ~1 (calibrated
# on a 20,000-site world), keeping the portfolio cause mix on CAUSE_SHARES.
LIFTING_CRANE_K: Final = 0.3
LIFTING_CRANE_REF: Final = 3.8
LIFTING_CRANE_EXP: Final = 0.8
COLLAPSE_EXCAVATION_K: Final = 1.0
COLLAPSE_EXCAVATION_REF: Final = 10.0
COLLAPSE_EXCAVATION_EXP: Final = 0.7
FALL_HEIGHT_K: Final = 20.0
FALL_HEIGHT_REF: Final = 44.0
FALL_HEIGHT_EXP: Final = 0.4
# Stage tilt of a cause's share (machinery on civil works, electrocution in
# finishing, struck-by in structure). Assumption.
CAUSE_STAGE: Final[dict[str, dict[str, float]]] = {
    "machinery": {"foundation": 1.2, "structure": 0.8, "finishing": 0.75, "civil": 1.4},
    "electrocution": {"foundation": 0.8, "structure": 0.9, "finishing": 1.4, "civil": 1.0},
    "struck_by_object": {"foundation": 1.0, "structure": 1.15, "finishing": 0.8, "civil": 1.0},
}

# Severity of one claim (CNY). Minor: lognormal, median 6k (medical bills and
# lost-wage compensation, thousands to tens of thousands). Serious: lognormal,
# median 220k (disability grades; 100k–1M). Assumption on both.
MINOR_MEDIAN_CNY: Final = 6000.0
MINOR_LOG_SD: Final = 0.9
SERIOUS_MEDIAN_CNY: Final = 220000.0
SERIOUS_LOG_SD: Final = 0.6
# Fatal: deaths per fatal accident = 1 + Poisson(EXTRA_DEATHS_MEAN); 904 deaths
# in 773 fatal accidents in 2019 (MOHURD) gives 1.169 per accident.
EXTRA_DEATHS_MEAN: Final = 904 / 773 - 1
# Per death: the national floor plus a lognormal excess. Floor: the 2025
# 《安全生产责任保险实施办法》 (应急〔2025〕27号, art. 15) sets at least CNY
# 400,000 per person for death or disability. Excess: assumption so the mean
# per death (~CNY 975k) sits near Shanghai's higher local limits and the 2025
# one-off work-death benefit (20 × national urban disposable income ≈ 1.08M).
DEATH_BENEFIT_FLOOR_CNY: Final = 400000.0
DEATH_EXCESS_MEDIAN_CNY: Final = 550000.0
DEATH_EXCESS_LOG_SD: Final = 0.3

# Settlement: a claim is closed at the valuation date with probability
# 1 - exp(-age_months / SETTLE_MONTHS[severity]); an open claim may have a
# partial payment. Assumption (serious injuries wait for disability grading).
SETTLE_MONTHS: Final[dict[str, float]] = {
    "minor_injury": 5.0,
    "serious_injury": 10.0,
    "fatality": 8.0,
}
# Open claims: chance of a partial payment and its share of incurred (uniform range).
PARTIAL_PAYMENT_PROB: Final[dict[str, float]] = {
    "minor_injury": 0.3,
    "serious_injury": 0.5,
    "fatality": 0.4,
}
PARTIAL_PAYMENT_SHARE: Final = (0.1, 0.6)
