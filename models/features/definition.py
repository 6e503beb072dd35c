"""The feature set as data: what each model input means and how it is derived.

One list serves training, serving and explanations. Each entry pairs the public
:class:`Feature` (name, group, monotone direction, labels, unit) with a
:class:`Recipe` that ``build.py`` follows to compute it. Raw column names, groups
and directions come from the contract in ``models.contract.spec``.

Values with unit ``"%"`` are stored as fractions in [0, 1] (as the contract
stores them); a display multiplies by 100.

Direction rule: a raw value with a direction (``spec.monotone()``: the controllable
safety metrics and the reporting metrics) only ever enters features that move with it
in one direction: sums and means over past months, never a difference or trend.
:func:`reads` says which way each feature moves with each column it reads; a
feature's constraint is then that sign times the column's direction (its own
direction for sums and means; the opposite for ``device_online_rate``, which enters
the online-hours denominators of the alert rates, so more devices online never raise
the price). Every other feature that reads such a column reads only whether it was
reported, never its value, and reporting more never raises the price either: the
``reported_*`` shares have direction -1.

``hazards_found`` has no direction (finding hazards is diligence, not risk) and
enters one feature only: the unrectified count ``hazards_found x (1 -
hazard_rectification_rate)`` per 10k worker-hours. With that count and
``major_hazards`` held fixed, more hazards found raise the rectification rate, which
never raises the price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from models.contract import spec
from models.contract.spec import Group

# Bump on any change of what a feature means or how it is computed.
FEATURE_SET_VERSION: Final = "3"

Direction = Literal[-1, 0, 1]
RecipeKind = Literal[
    "count_rate",  # sum(count) / sum(worker_hours) * 1e4 over reported months of a window
    "count_rate_online",  # sum(count) / sum(worker_hours * device_online_rate) * 1e4
    "unrectified_rate",  # sum(found * (1 - rectification)) / sum(worker_hours) * 1e4
    "mean",  # mean of reported values over a window
    "reported_share",  # share of the window's calendar months with any column reported
    "months_of_history",  # site_months rows before the target month
    "months_since_data",  # months back to the latest site_months row
    "last",  # latest reported value (categorical)
    "site",  # a sites column as is
    "log_site",  # natural log of a positive sites column
    "calendar",  # project timing from start_date / planned_end_date
    "own_claims",  # the site's claims before the target month
    "contractor_claims",  # the contractor's claims on its other sites before the month
]


@dataclass(frozen=True)
class Feature:
    """One model input. ``direction`` is LightGBM's monotone constraint for it."""

    name: str
    group: Group
    direction: Direction
    categorical: bool
    source: str  # raw column(s) it derives from, comma separated
    zh: str
    en: str
    unit: str


@dataclass(frozen=True)
class Recipe:
    """How ``build.py`` computes one feature."""

    kind: RecipeKind
    columns: tuple[str, ...] = ()
    window: int | None = None  # trailing calendar months before the target month
    stat: str = ""  # which statistic, for kinds that offer several


PER_10K: Final = 1e4
MONTH_DAYS: Final = 365.25 / 12

# Smart-site subsystems whose reporting is tracked: a month counts as reported
# for a subsystem when any of its columns is non-null in that month.
REPORTING_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "ai_video": ("ai_alerts_ppe", "ai_alerts_intrusion", "ai_alerts_fire", "alert_closure_rate"),
    "hazard_inspection": ("hazards_found", "major_hazards", "hazard_rectification_rate"),
    "crane": ("crane_warnings",),
    "structural": ("structural_alarms",),
    "training": ("training_coverage", "new_worker_share"),
    "devices": ("device_online_rate",),
}
_REPORTING_LABELS: Final[dict[str, tuple[str, str]]] = {
    "ai_video": ("AI视频", "AI video"),
    "hazard_inspection": ("隐患排查", "hazard inspection"),
    "crane": ("塔吊监测", "tower-crane monitoring"),
    "structural": ("危大工程监测", "hazardous-works monitoring"),
    "training": ("实名制/安全教育", "workforce and training"),
    "devices": ("设备在线", "device status"),
}

CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "stage_last": spec.STAGES,
    "project_type": spec.PROJECT_TYPES,
    "district": spec.DISTRICTS,
}


def _sm(name: str) -> spec.Column:
    return spec.column("site_months", name)


def _site(name: str) -> spec.Column:
    return spec.column("sites", name)


def _window(k: int) -> tuple[str, str]:
    if k == 1:
        return "上月", "last month"
    return f"近{k}月", f"last {k} months"


def _group(col: spec.Column) -> Group:
    if col.group is None:
        raise ValueError(f"contract column {col.name} has no group")
    return col.group


_COUNT_WINDOWS: Final = (3, 6)
_ONLINE_WINDOWS: Final = (3, 6)
_RATE_WINDOWS: Final[dict[str, tuple[int, ...]]] = {
    "training_coverage": (1, 3, 6),
    "alert_closure_rate": (1, 3, 6),
    "hazard_rectification_rate": (1, 3, 6),
    "new_worker_share": (1, 3),
    "device_online_rate": (6,),
    "data_completeness": (6,),
}
_DQ_WINDOW: Final = 6
_SCALE_WINDOW: Final = 3


def _counts() -> list[tuple[Feature, Recipe]]:
    out: list[tuple[Feature, Recipe]] = []
    for col in spec.SITE_MONTHS:
        if col.kind != "int" or col.direction == 0:
            continue
        for k in _COUNT_WINDOWS:
            wz, we = _window(k)
            out.append(
                (
                    Feature(
                        f"{col.name}_per_10kwh_{k}m", _group(col), col.direction, False,
                        f"{col.name}, worker_hours", f"{wz}{col.zh}(每万工时)",
                        f"{col.meaning}, per 10k worker-hours, {we}", "per 10k worker-hours",
                    ),
                    Recipe("count_rate", (col.name,), k),
                )
            )  # fmt: skip
    return out


def _unrectified() -> list[tuple[Feature, Recipe]]:
    # Hazards left unrectified: the risk in hazards found, which alone are diligence.
    # A month counts when hazards_found and worker_hours are reported and either the
    # rectification rate is too or no hazard was found (then none is unrectified).
    found, rate = _sm("hazards_found"), _sm("hazard_rectification_rate")
    out: list[tuple[Feature, Recipe]] = []
    for k in _COUNT_WINDOWS:
        wz, we = _window(k)
        out.append(
            (
                Feature(
                    f"unrectified_hazards_per_10kwh_{k}m", _group(found), 1, False,
                    f"{found.name}, {rate.name}, worker_hours", f"{wz}未整改隐患(每万工时)",
                    f"hazards found and not rectified by the deadline, per 10k worker-hours, "
                    f"{we}",
                    "per 10k worker-hours",
                ),
                Recipe("unrectified_rate", (found.name, rate.name), k),
            )
        )  # fmt: skip
    return out


def _online_counts() -> list[tuple[Feature, Recipe]]:
    # Outages hide alerts: normalise by the hours the devices were actually watching.
    out: list[tuple[Feature, Recipe]] = []
    for col in spec.SITE_MONTHS:
        if not col.name.startswith("ai_alerts_"):
            continue
        for k in _ONLINE_WINDOWS:
            wz, we = _window(k)
            out.append(
                (
                    Feature(
                        f"{col.name}_per_10k_online_wh_{k}m", _group(col), col.direction, False,
                        f"{col.name}, worker_hours, device_online_rate",
                        f"{wz}{col.zh}(每万在线工时)",
                        f"{col.meaning}, per 10k device-online worker-hours, {we}",
                        "per 10k online worker-hours",
                    ),
                    Recipe("count_rate_online", (col.name,), k),
                )
            )  # fmt: skip
    return out


def _rates() -> list[tuple[Feature, Recipe]]:
    out: list[tuple[Feature, Recipe]] = []
    for name, windows in _RATE_WINDOWS.items():
        col = _sm(name)
        for k in windows:
            wz, we = _window(k)
            out.append(
                (
                    Feature(
                        f"{name}_{k}m", _group(col), col.direction, False, name,
                        f"{wz}{col.zh}", f"{col.meaning}, {we}", "%",
                    ),
                    Recipe("mean", (name,), k),
                )
            )  # fmt: skip
    return out


def _data_quality() -> list[tuple[Feature, Recipe]]:
    wz, we = _window(_DQ_WINDOW)
    out: list[tuple[Feature, Recipe]] = []
    for key, cols in REPORTING_GROUPS.items():
        zh, en = _REPORTING_LABELS[key]
        out.append(
            (
                # Reporting is never penalised: more months reported never raise the price.
                Feature(
                    f"reported_{key}_{_DQ_WINDOW}m", Group.equipment, -1, False, ", ".join(cols),
                    f"{wz}{zh}数据上报月份占比", f"share of months with {en} data, {we}", "%",
                ),
                Recipe("reported_share", cols, _DQ_WINDOW),
            )
        )  # fmt: skip
    out.append(
        (
            Feature("months_of_history", Group.equipment, 0, False, "month",
                    "历史数据月数", "months of smart-site history", "months"),
            Recipe("months_of_history"),
        )
    )  # fmt: skip
    out.append(
        (
            Feature("months_since_last_data", Group.equipment, 0, False, "month",
                    "距最近数据月数", "months since the latest smart-site data", "months"),
            Recipe("months_since_data"),
        )
    )  # fmt: skip
    return out


def _project() -> list[tuple[Feature, Recipe]]:
    stage = _sm("stage")
    out: list[tuple[Feature, Recipe]] = [
        (
            Feature("stage_last", _group(stage), 0, True, "stage",
                    "最近施工阶段", "latest construction stage", ""),
            Recipe("last", ("stage",)),
        ),
    ]  # fmt: skip
    for name in ("project_type", "district"):
        col = _site(name)
        out.append(
            (
                Feature(name, _group(col), 0, True, name, col.zh, col.meaning, ""),
                Recipe("site", (name,)),
            )
        )
    value = _site("contract_value_cny")
    out.append(
        (
            Feature("log_contract_value_cny", _group(value), 0, False, value.name,
                    f"{value.zh}(对数)", "log contract price", "log CNY"),
            Recipe("log_site", (value.name,)),
        )
    )  # fmt: skip
    units = {"floor_area_m2": "m²", "max_height_m": "m"}
    for name in ("floor_area_m2", "max_height_m", "hazardous_works",
                 "over_scale_hazardous_works", "tower_cranes"):  # fmt: skip
        col = _site(name)
        out.append(
            (
                Feature(name, _group(col), 0, False, name, col.zh, col.meaning,
                        units.get(name, "")),
                Recipe("site", (name,)),
            )
        )  # fmt: skip
    start = _site("start_date")
    timing = (
        ("project_age_months", "start_date", "开工月数", "months since works start", "months"),
        ("planned_duration_months", "start_date, planned_end_date", "计划工期",
         "planned duration", "months"),
        ("planned_elapsed_share", "start_date, planned_end_date", "计划工期已过占比",
         "share of planned duration elapsed", "%"),
        ("months_to_planned_end", "planned_end_date", "距计划竣工月数",
         "months to planned completion", "months"),
    )  # fmt: skip
    for name, source, zh, en, unit in timing:
        out.append(
            (
                Feature(name, _group(start), 0, False, source, zh, en, unit),
                Recipe("calendar", stat=name),
            )
        )
    wz, we = _window(_SCALE_WINDOW)
    scale = (
        ("avg_daily_workers", "日均在场人数", "average daily workers", "workers"),
        ("worker_hours", "月均考勤工时", "attended worker-hours per month", "worker-hours"),
        ("severe_weather_days", "月均恶劣天气天数", "severe-weather days per month", "days"),
    )
    for name, zh, en, unit in scale:
        out.append(
            (
                Feature(f"{name}_{_SCALE_WINDOW}m", _group(_sm(name)), 0, False, name,
                        f"{wz}{zh}", f"{en}, {we}", unit),
                Recipe("mean", (name,), _SCALE_WINDOW),
            )
        )  # fmt: skip
    return out


def _claims() -> list[tuple[Feature, Recipe]]:
    c = Group.claims_history
    rows: tuple[tuple[str, RecipeKind, Direction, str, str, str, str], ...] = (
        ("claims_count_all", "own_claims", 1, "incident_date",
         "历史理赔件数", "claims to date", "claims"),
        ("serious_claims_count_all", "own_claims", 1, "incident_date, severity",
         "历史重伤及死亡理赔件数", "serious-injury and fatal claims to date", "claims"),
        ("claims_per_10kwh_all", "own_claims", 1, "incident_date, worker_hours",
         "历史出险频率(每万工时)", "claims per 10k worker-hours to date",
         "per 10k worker-hours"),
        ("serious_claims_per_10kwh_all", "own_claims", 1,
         "incident_date, severity, worker_hours",
         "历史重伤及死亡出险频率(每万工时)",
         "serious-injury and fatal claims per 10k worker-hours to date",
         "per 10k worker-hours"),
        ("contractor_other_claims_per_10kwh", "contractor_claims", 1,
         "contractor_id, incident_date, worker_hours",
         "总包其他工地出险频率(每万工时)",
         "contractor's claims on its other sites per 10k worker-hours",
         "per 10k worker-hours"),
        ("contractor_other_serious_per_10kwh", "contractor_claims", 1,
         "contractor_id, incident_date, severity, worker_hours",
         "总包其他工地重伤及死亡出险频率(每万工时)",
         "contractor's serious-injury and fatal claims on its other sites per 10k worker-hours",
         "per 10k worker-hours"),
        # Size of the contractor's track record, not a loss: no direction.
        ("contractor_other_sites", "contractor_claims", 0, "contractor_id, month",
         "总包其他在施工地数", "contractor's other sites with data to date", "sites"),
    )  # fmt: skip
    out: list[tuple[Feature, Recipe]] = []
    for name, kind, direction, source, zh, en, unit in rows:
        out.append(
            (
                Feature(name, c, direction, False, source, zh, en, unit),
                Recipe(kind, stat=name),
            )
        )
    return out


_DEFINITIONS: Final = (
    _counts()
    + _unrectified()
    + _online_counts()
    + _rates()
    + _data_quality()
    + _project()
    + _claims()
)

FEATURES: Final[tuple[Feature, ...]] = tuple(f for f, _ in _DEFINITIONS)
FEATURE_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURES)
RECIPES: Final[dict[str, Recipe]] = {f.name: r for f, r in _DEFINITIONS}
_BY_NAME: Final[dict[str, Feature]] = {f.name: f for f in FEATURES}


def monotone_constraints() -> list[int]:
    return [int(f.direction) for f in FEATURES]


def categorical_indices() -> list[int]:
    return [i for i, f in enumerate(FEATURES) if f.categorical]


def group_of(feature_name: str) -> Group:
    return _BY_NAME[feature_name].group


def source_columns(feature_name: str) -> tuple[str, ...]:
    """Raw column names a feature reads, as listed in its ``source``."""
    return tuple(s.strip() for s in _BY_NAME[feature_name].source.split(","))


def reads(feature_name: str) -> dict[str, int]:
    """How a windowed site-month feature moves with each site-month column it reads
    (``worker_hours``, the exposure, aside), all else fixed: +1 rises with it, -1 falls
    with it, 0 reads only whether the column was reported. Features of other kinds
    read no column that has a direction."""
    recipe = RECIPES[feature_name]
    cols = recipe.columns
    match recipe.kind:
        case "count_rate" | "mean":
            return {cols[0]: 1}
        case "count_rate_online":
            return {cols[0]: 1, "device_online_rate": -1}
        case "unrectified_rate":
            return {cols[0]: 1, cols[1]: -1}
        case "reported_share":
            return dict.fromkeys(cols, 0)
    return {}
