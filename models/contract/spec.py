"""The smart-site data contract (``docs/data-contract.md``, v1.1) as data.

Every other module reads column names, types, ranges and enums from here, so the
contract is written down once: the folder loader, the API's request structs, the
feature definition and the synthetic generator all follow this file.

v1.1 adds one optional column, ``sites.owner_id`` (:data:`OPTIONAL`): the loader
checks it when a file has it, and a v1 file without it stays valid. The tables in
:data:`TABLES` keep the v1 columns every reader can rely on.

Directions (``Column.direction``) follow the contract's section "What a model may
and may not use":

- controllable safety metrics (:func:`controllable`): more alerts, major hazards,
  warnings, alarms or inspection findings never lower the price (+1); higher training
  coverage, alert closure and hazard rectification never raise it (-1);
- reporting metrics (:func:`reporting`): a higher device-online rate or data
  completeness never raises the price (-1). They are not safety metrics: no
  recommendation targets them;
- ``hazards_found`` has none: finding hazards is diligence, not risk. A model reads
  it only through ``major_hazards`` and the unrectified count ``hazards_found x (1 -
  hazard_rectification_rate)`` (:data:`DILIGENCE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

CONTRACT_VERSION: Final = "1.1"

DISTRICTS: Final = (
    "huangpu", "xuhui", "changning", "jingan", "putuo", "hongkou", "yangpu", "minhang",
    "baoshan", "jiading", "pudong", "jinshan", "songjiang", "qingpu", "fengxian", "chongming",
)  # fmt: skip
# Display names of the codes above, (Chinese, English), for pages and explanations.
DISTRICT_LABELS: Final[dict[str, tuple[str, str]]] = {
    "huangpu": ("黄浦区", "Huangpu"), "xuhui": ("徐汇区", "Xuhui"),
    "changning": ("长宁区", "Changning"), "jingan": ("静安区", "Jing'an"),
    "putuo": ("普陀区", "Putuo"), "hongkou": ("虹口区", "Hongkou"),
    "yangpu": ("杨浦区", "Yangpu"), "minhang": ("闵行区", "Minhang"),
    "baoshan": ("宝山区", "Baoshan"), "jiading": ("嘉定区", "Jiading"),
    "pudong": ("浦东新区", "Pudong"), "jinshan": ("金山区", "Jinshan"),
    "songjiang": ("松江区", "Songjiang"), "qingpu": ("青浦区", "Qingpu"),
    "fengxian": ("奉贤区", "Fengxian"), "chongming": ("崇明区", "Chongming"),
}  # fmt: skip
PROJECT_TYPES: Final = (
    "residential", "commercial", "public", "industrial", "municipal", "rail_transit",
)  # fmt: skip
STAGES: Final = ("foundation", "structure", "finishing", "civil")
CAUSES: Final = (
    "fall_from_height", "struck_by_object", "lifting", "collapse", "machinery",
    "electrocution", "other",
)  # fmt: skip
PROJECT_TYPE_LABELS: Final[dict[str, tuple[str, str]]] = {
    "residential": ("住宅", "residential"), "commercial": ("商业", "commercial"),
    "public": ("公共建筑", "public building"), "industrial": ("工业", "industrial"),
    "municipal": ("市政", "municipal"), "rail_transit": ("轨道交通", "rail transit"),
}  # fmt: skip
STAGE_LABELS: Final[dict[str, tuple[str, str]]] = {
    "foundation": ("基础施工", "foundation"), "structure": ("主体结构", "structure"),
    "finishing": ("装饰装修", "finishing"), "civil": ("土建", "civil works"),
}  # fmt: skip
SEVERITIES: Final = ("minor_injury", "serious_injury", "fatality")

ID_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"
MONTH_PATTERN: Final = r"^\d{4}-(0[1-9]|1[0-2])$"

Kind = Literal["str", "float", "int", "date", "month"]


class Group(StrEnum):
    """工地画像 groups: how the policy text groups a site's key data, plus the
    three the pricing needs beyond it (equipment, claims history, project)."""

    behaviour = "behaviour"  # 人员行为
    training = "training"  # 安全教育
    hazardous_works = "hazardous_works"  # 危大工程
    hazard_inspection = "hazard_inspection"  # 隐患排查
    alerts = "alerts"  # 智能预警
    equipment = "equipment"  # 设备监测
    claims_history = "claims_history"  # 理赔历史
    project = "project"  # 项目特征


GROUP_LABELS: Final[dict[Group, dict[str, str]]] = {
    Group.behaviour: {"zh": "人员行为", "en": "Worker behaviour"},
    Group.training: {"zh": "安全教育", "en": "Safety training"},
    Group.hazardous_works: {"zh": "危大工程", "en": "Hazardous works"},
    Group.hazard_inspection: {"zh": "隐患排查", "en": "Hazard inspection"},
    Group.alerts: {"zh": "智能预警", "en": "Smart alerts"},
    Group.equipment: {"zh": "设备监测", "en": "Equipment monitoring"},
    Group.claims_history: {"zh": "理赔历史", "en": "Claims history"},
    Group.project: {"zh": "项目特征", "en": "Project profile"},
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of one table, with every rule the contract states for it alone."""

    name: str
    kind: Kind
    nullable: bool = False
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    min_len: int | None = None
    max_len: int | None = None
    unique: bool = False
    meaning: str = ""
    zh: str = ""
    group: Group | None = None
    # +1: more of it must never lower the price; -1: more of it must never raise it.
    direction: Literal[-1, 0, 1] = 0
    # A reporting metric (how much the site's systems report), not a safety metric.
    reporting: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def _rate(name: str, meaning: str, zh: str, group: Group, direction: Literal[-1, 0, 1] = 0,
          nullable: bool = True, reporting: bool = False) -> Column:  # fmt: skip
    return Column(name, "float", nullable=nullable, ge=0.0, le=1.0, meaning=meaning, zh=zh,
                  group=group, direction=direction, reporting=reporting)  # fmt: skip


def _count(name: str, meaning: str, zh: str, group: Group, direction: Literal[-1, 0, 1] = 1,
           nullable: bool = True) -> Column:  # fmt: skip
    return Column(name, "int", nullable=nullable, ge=0, meaning=meaning, zh=zh, group=group,
                  direction=direction)  # fmt: skip


SITES: Final[tuple[Column, ...]] = (
    Column("site_id", "str", pattern=ID_PATTERN, min_len=1, max_len=64, unique=True,
           meaning="unified project identifier", zh="统一数据标识"),
    Column("contractor_id", "str", min_len=1, max_len=64,
           meaning="general contractor", zh="施工总承包单位"),
    Column("district", "str", choices=DISTRICTS, meaning="Shanghai district", zh="所属区",
           group=Group.project),
    Column("project_type", "str", choices=PROJECT_TYPES, meaning="kind of works",
           zh="工程类型", group=Group.project),
    Column("contract_value_cny", "float", gt=0.0, meaning="contract price, CNY", zh="合同造价",
           group=Group.project),
    Column("floor_area_m2", "float", ge=0.0, meaning="gross floor area", zh="建筑面积",
           group=Group.project),
    Column("max_height_m", "float", ge=0.0, meaning="highest structure", zh="最大高度",
           group=Group.hazardous_works),
    Column("start_date", "date", meaning="works start", zh="开工日期", group=Group.project),
    Column("planned_end_date", "date", meaning="planned completion", zh="计划竣工日期",
           group=Group.project),
    Column("hazardous_works", "int", ge=0, meaning="dangerous sub-projects", zh="危大工程数",
           group=Group.hazardous_works),
    Column("over_scale_hazardous_works", "int", ge=0,
           meaning="over-scale dangerous sub-projects", zh="超过一定规模的危大工程数",
           group=Group.hazardous_works),
    Column("tower_cranes", "int", ge=0, meaning="tower cranes on site", zh="塔吊数量",
           group=Group.equipment),
)  # fmt: skip

SITE_MONTHS: Final[tuple[Column, ...]] = (
    Column("site_id", "str", pattern=ID_PATTERN, min_len=1, max_len=64),
    Column("month", "month", pattern=MONTH_PATTERN, meaning="observation month", zh="月份"),
    Column("stage", "str", choices=STAGES, meaning="construction stage", zh="施工阶段",
           group=Group.project),
    Column("worker_hours", "float", ge=0.0, meaning="attended worker-hours (exposure)",
           zh="实名制考勤工时", group=Group.project),
    Column("avg_daily_workers", "float", ge=0.0, meaning="average daily workers",
           zh="日均在场人数", group=Group.project),
    _rate("new_worker_share", "share of workers new to the site", "新进场工人占比",
          Group.behaviour),
    _rate("training_coverage", "share of workers with valid safety education",
          "安全教育覆盖率", Group.training, direction=-1),
    _count("ai_alerts_ppe", "AI-video alerts: no helmet / no vest", "AI未戴安全帽/反光衣告警",
           Group.behaviour),
    _count("ai_alerts_intrusion", "AI-video alerts: danger-zone intrusion", "AI危险区域闯入告警",
           Group.behaviour),
    _count("ai_alerts_fire", "AI-video alerts: smoke / open fire", "AI烟火告警", Group.alerts),
    _rate("alert_closure_rate", "share of alerts closed within 24 h", "预警24小时闭环率",
          Group.alerts, direction=-1),
    # Diligence, not risk: no direction (see the module's docstring).
    _count("hazards_found", "hidden hazards found in inspections", "排查隐患数",
           Group.hazard_inspection, direction=0),
    _count("major_hazards", "major hidden hazards", "重大隐患数", Group.hazard_inspection),
    _rate("hazard_rectification_rate", "share of hazards rectified by the deadline",
          "隐患整改率", Group.hazard_inspection, direction=-1),
    _count("crane_warnings", "tower-crane overload / collision / wind warnings", "塔吊预警数",
           Group.equipment),
    _count("structural_alarms", "deep-excavation and high-formwork monitoring alarms",
           "危大工程监测报警数", Group.hazardous_works),
    _rate("device_online_rate", "share of registered devices online", "设备在线率",
          Group.equipment, direction=-1, reporting=True),
    _rate("data_completeness", "share of expected data items received", "数据完整率",
          Group.equipment, direction=-1, nullable=False, reporting=True),
    _count("inspection_violations", "government safety inspection findings", "督查问题数",
           Group.hazard_inspection, nullable=False),
    Column("severe_weather_days", "int", ge=0, le=31, meaning="typhoon, rainstorm or heat days",
           zh="恶劣天气天数", group=Group.project),
)  # fmt: skip

# v1.1: columns a table may have or leave out. When present they are checked like any
# other; readers that need the v1 shape (features, request structs) never see them.
OWNER_ID: Final = Column(
    "owner_id", "str", nullable=True, pattern=ID_PATTERN, min_len=1, max_len=64,
    meaning="project owner", zh="建设单位",
)  # fmt: skip

CLAIMS: Final[tuple[Column, ...]] = (
    Column("claim_id", "str", min_len=1, unique=True),
    Column("site_id", "str", pattern=ID_PATTERN, min_len=1, max_len=64),
    Column("incident_date", "date"),
    Column("cause", "str", choices=CAUSES),
    Column("severity", "str", choices=SEVERITIES),
    Column("paid_cny", "float", ge=0.0),
    Column("reserve_cny", "float", ge=0.0),
)  # fmt: skip

TABLES: Final[dict[str, tuple[Column, ...]]] = {
    "sites": SITES,
    "site_months": SITE_MONTHS,
    "claims": CLAIMS,
}

OPTIONAL: Final[dict[str, tuple[Column, ...]]] = {
    "sites": (OWNER_ID,),
    "site_months": (),
    "claims": (),
}

# Primary keys: the columns that must be unique together within a table.
KEYS: Final[dict[str, tuple[str, ...]]] = {
    "sites": ("site_id",),
    "site_months": ("site_id", "month"),
    "claims": ("claim_id",),
}


@dataclass(frozen=True, slots=True)
class CrossRule:
    """A rule between two columns of one row: ``small <= large``."""

    table: str
    small: str
    large: str

    @property
    def name(self) -> str:
        return f"{self.small} <= {self.large}"


CROSS_RULES: Final[tuple[CrossRule, ...]] = (
    CrossRule("sites", "over_scale_hazardous_works", "hazardous_works"),
    CrossRule("sites", "start_date", "planned_end_date"),
    CrossRule("site_months", "major_hazards", "hazards_found"),
)

# Tables whose site_id must name a row of ``sites``.
REFERENCES: Final[tuple[str, ...]] = ("site_months", "claims")


def columns(table: str, *, optional: bool = False) -> tuple[Column, ...]:
    """A table's columns: the v1 ones every file has, and with ``optional`` also those
    a file may leave out (:data:`OPTIONAL`), after them."""
    return TABLES[table] + OPTIONAL[table] if optional else TABLES[table]


def column(table: str, name: str) -> Column:
    for col in columns(table, optional=True):
        if col.name == name:
            return col
    raise KeyError(f"{table}.{name}")


# Site-month columns that record diligence, not risk: no direction of their own, never a
# metric to push down. A model reads hazards_found only through major_hazards and the
# unrectified count hazards_found x (1 - hazard_rectification_rate).
DILIGENCE: Final[tuple[str, ...]] = ("hazards_found",)


def controllable() -> dict[str, int]:
    """Safety metrics a site controls, with the direction the price must follow: the
    contract's "controllable safety metrics". Reporting metrics are not among them."""
    return {c.name: c.direction for c in SITE_MONTHS if c.direction != 0 and not c.reporting}


def reporting() -> dict[str, int]:
    """Reporting metrics (device-online rate, data completeness), with the direction
    the price must follow: reporting more never makes the price worse."""
    return {c.name: c.direction for c in SITE_MONTHS if c.direction != 0 and c.reporting}


def monotone() -> dict[str, int]:
    """Every site-month column with a direction the price must follow."""
    return {c.name: c.direction for c in SITE_MONTHS if c.direction != 0}
