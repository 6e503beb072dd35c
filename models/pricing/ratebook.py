"""An insurer's rate book: its filed tariff, band, floating schedule, incentive rule set
and prevention share, as one versioned document with a strict schema (docs/rate-books.md).

A book is read from YAML or JSON and checked in two passes, and every problem of both
is reported at its JSON path (``$.tariff.bands[2].rate_per_mille``):

1. the shape: types, ranges, required and unknown keys, checked by pydantic in strict
   mode (no "0.5" for 0.5, no 1 for true), which collects every error of the document;
2. the rules between fields that a shape cannot say: bands rising and open at the top,
   the rate named for the book's exposure base, the gate's ``min_months`` within its
   window, the effective dates in order, the incentive rule set shipped.

The shipped default book, ``rules/ratebook-default-2025.1.yaml``, holds the shipped
default tariff, band and incentive rule set, so an insurer without a book of its own is
priced as before; ``default-2026.1`` is the same book naming the quote's incentive rule
set 2026.1 (incentive-rules/2, docs/contract-incentives.md). ``incentives:`` names any
shipped ``rules/incentives-<version>.yaml``, in the 2025.1 format or incentive-rules/2.
A book's :attr:`RateBook.name` (``<insurer>-<version>``) is the version its tariff and
band carry in a quote: the default book's is ``default-2025.1``, the versions today's
default tariff and band already have (quotes without a book of their own are priced
with the shipped tariff and band, not with a default book).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.contract import spec
from models.pricing.premium import base_premium, project_premium, round_cent
from models.pricing.rulesets import (
    RULES_PACKAGE,
    Band,
    DataQualityRule,
    RuleError,
    Tariff,
    TariffBand,
    available_versions,
)

# Problem stays importable from here: the book's readers name its problems
from models.rule_data import Problem as Problem
from models.rule_data import SchemaError, schema_problems, version_key

ExposureBase = Literal["contract_value", "floor_area", "headcount"]
# The rate key each exposure base's bands must use, and its unit.
RATE_KEYS: Final[dict[str, str]] = {
    "contract_value": "rate_per_mille",  # ‰ of the contract value (工程造价), per project
    "floor_area": "rate_cny_per_m2",  # CNY per m² of floor area (建筑面积), per project
    "headcount": "rate_cny_per_worker_month",  # CNY per worker per month of cover
}
# Accident grades of one incident (生产安全事故等级), mildest first.
ACCIDENT_GRADES: Final = ("general", "larger", "major", "extraordinary")
AWARD_LEVELS: Final = ("city", "provincial")
DEFAULT_INSURER: Final = "default"
ID_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"
VERSION_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,32}$"

# The site-month metrics a prevention service may aim at: the controllable ones
# (spec.controllable()). Rates are shares (more is better), counts per 10k worker-hours.
PreventionMetric = Literal[
    "training_coverage", "ai_alerts_ppe", "ai_alerts_intrusion", "ai_alerts_fire",
    "alert_closure_rate", "major_hazards", "hazard_rectification_rate", "crane_warnings",
    "structural_alarms", "inspection_violations",
]  # fmt: skip
assert set(PreventionMetric.__args__) == set(spec.controllable())  # type: ignore[attr-defined]
# A book without a prevention block uses this shipped book's.
PREVENTION_DEFAULT_BOOK: Final = "default-2025.1"

ProjectType = Literal[
    "residential", "commercial", "public", "industrial", "municipal", "rail_transit"
]
assert set(ProjectType.__args__) == set(spec.PROJECT_TYPES)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------ the schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Text = Annotated[str, Field(min_length=1, max_length=500)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Pct = Annotated[float, Field(ge=-100.0, le=100.0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class BandSchema(_Strict):
    """One marginal band: the rate on the part of the exposure in ``(previous, up_to]``."""

    up_to: Positive | None
    rate_per_mille: Positive | None = None
    rate_cny_per_m2: Positive | None = None
    rate_cny_per_worker_month: Positive | None = None


class TariffSchema(_Strict):
    exposure_base: ExposureBase
    currency: Literal["CNY"] = "CNY"
    method: Literal["marginal"] = "marginal"
    min_months: Positive = 1.0
    bands: Annotated[list[BandSchema], Field(min_length=1, max_length=50)]
    # a project type's own bands in place of ``bands``
    project_types: dict[ProjectType, Annotated[list[BandSchema], Field(min_length=1)]] = {}


class DataQualitySchema(_Strict):
    window_months: Annotated[int, Field(ge=1, le=36)]
    min_months: Annotated[int, Field(ge=1, le=36)] = 1
    min_device_online_rate: Share
    min_data_completeness: Share


class AdjustmentBandSchema(_Strict):
    min_pct: Annotated[float, Field(gt=-100.0, le=0.0, allow_inf_nan=False)]
    max_pct: Annotated[float, Field(ge=0.0, le=1000.0, allow_inf_nan=False)]
    data_quality: DataQualitySchema


class AccidentsSchema(_Strict):
    general: Pct
    larger: Pct
    major: Pct
    extraordinary: Pct


class AwardsSchema(_Strict):
    city: Pct
    provincial: Pct


class FloatingSchema(_Strict):
    """The explicit floating schedule (费率浮动): percent moves of the premium."""

    enabled: bool
    lookback_months: Annotated[int, Field(ge=1, le=60)] = 12
    accident_free_pct: Pct = 0.0
    accidents_pct: AccidentsSchema
    awards_pct: AwardsSchema


class PreventionServiceSchema(_Strict):
    """One accident-prevention service (事故预防服务) and what one unit of it costs."""

    label_zh: Text
    label_en: Text
    metric: PreventionMetric
    # the book's target for the metric: a share for a rate, per 10k worker-hours for a count
    target: NonNegative
    unit_zh: Annotated[str, Field(min_length=1, max_length=20)]
    unit_en: Annotated[str, Field(min_length=1, max_length=40)]
    cost_per_unit_cny: Positive
    # how much of the gap one unit closes, in the metric's unit
    gap_per_unit: Positive
    max_units: Annotated[int, Field(ge=1, le=1000)] = 12


class PreventionSchema(_Strict):
    services: Annotated[
        dict[Annotated[str, Field(pattern=ID_PATTERN)], PreventionServiceSchema],
        Field(min_length=1, max_length=20),
    ]


class RateBookSchema(_Strict):
    insurer_id: Annotated[str, Field(pattern=ID_PATTERN)]
    version: Annotated[str, Field(pattern=VERSION_PATTERN)]
    label: Text
    description: Annotated[str, Field(max_length=4000)] = ""
    effective_from: dt.date
    effective_to: dt.date | None = None
    tariff: TariffSchema
    band: AdjustmentBandSchema
    floating: FloatingSchema
    incentives: Annotated[str, Field(min_length=1, max_length=64)]
    prevention_share: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]
    prevention: PreventionSchema | None = None  # None: the shipped default book's


# ------------------------------------------------------------------------ the result


class RateBookError(SchemaError):
    """A book breaks its schema: every problem found, each at its JSON path."""

    what = "rate book"


@dataclass(frozen=True, slots=True)
class FloatingSchedule:
    """Percent moves for the accident record and safety awards; off unless ``enabled``."""

    enabled: bool
    lookback_months: int
    accident_free_pct: float
    accidents_pct: Mapping[str, float]  # by ACCIDENT_GRADES
    awards_pct: Mapping[str, float]  # by AWARD_LEVELS


@dataclass(frozen=True, slots=True)
class PreventionService:
    """One service of the book's prevention block (docs/prevention.md)."""

    name: str
    label_zh: str
    label_en: str
    metric: str
    direction: int  # -1: a rate, more is better; +1: a count, fewer is better
    target: float
    unit_zh: str
    unit_en: str
    cost_per_unit: Decimal
    gap_per_unit: float
    max_units: int


@dataclass(frozen=True, slots=True)
class OffBalance:
    """A book's own off-balance factor, as found when it was activated
    (docs/rate-books.md, "Off-balance per book")."""

    factor: float | None  # None: the model's own, found at training
    method: str  # insurer_quotes: over the insurer's re-priced quotes; model: the model's
    quotes: int  # how many quotes it was found over (0 for the model's)
    model_uri: str | None  # the model those quotes were re-priced with


@dataclass(frozen=True, slots=True)
class RateBook:
    """A validated book. ``document`` is the JSON it was read from (what is stored);
    ``off_balance`` is not in it: it is found when the book is activated and stored
    beside it (None: not activated, or activated before books had their own)."""

    insurer_id: str
    version: str
    label: str
    description: str
    effective_from: dt.date
    effective_to: dt.date | None  # None: until a later book replaces it
    exposure_base: ExposureBase
    min_months: Decimal
    bands: tuple[TariffBand, ...]  # lower/upper in the exposure's unit, rate per unit
    project_type_bands: Mapping[str, tuple[TariffBand, ...]]
    band: Band
    floating: FloatingSchedule
    incentives: str
    prevention_share: Decimal
    document: Mapping[str, Any]
    prevention: tuple[PreventionService, ...] = ()  # the services its budget may buy
    off_balance: OffBalance | None = None

    @property
    def name(self) -> str:
        """``<insurer>-<version>``: what a quote records as its tariff and band version."""
        return f"{self.insurer_id}-{self.version}"

    def in_force(self, day: dt.date) -> bool:
        """Whether the book prices a policy starting on ``day``."""
        ended = self.effective_to is not None and day > self.effective_to
        return self.effective_from <= day and not ended

    def tariff(self, project_type: str | None = None) -> Tariff:
        """The book's tariff for one project type as the premium arithmetic reads it:
        marginal rates on the exposure, "per mille" of it. A contract-value book's rates
        are per mille already; a floor-area (CNY per m²) or headcount book's (CNY per
        worker-month) are times 1000, so the same arithmetic gives exposure × rate."""
        bands = self.project_type_bands.get(project_type or "", self.bands)
        if self.exposure_base != "contract_value":
            bands = tuple(
                TariffBand(b.lower_cny, b.upper_cny, b.rate_per_mille * 1000) for b in bands
            )
        return Tariff(
            version=self.name,
            label=self.label,
            description=self.description,
            currency="CNY",
            method="marginal",
            min_months=self.min_months,
            bands=bands,
        )


def tariff_premiums(
    exposure_base: ExposureBase,
    exposure: float,
    term_months: float,
    duration_months: float,
    tariff: Tariff,
) -> tuple[Decimal, Decimal]:
    """(the term's base premium, the whole project's premium) on a book's exposure base
    (docs/rate-books.md, "Exposure bases"):

    - contract value and floor area price the whole project once, and a term pays its
      share, term ÷ planned duration (both floored at the tariff's ``min_months``);
    - headcount prices each month of cover: the marginal rates on the headcount give the
      premium of one month, the term pays it for each of its months (floored at
      ``min_months``) and the project for each month of its planned duration."""
    if exposure_base != "headcount":
        return (
            base_premium(exposure, term_months, duration_months, tariff),
            project_premium(exposure, tariff),
        )
    monthly = project_premium(exposure, tariff)
    term = max(Decimal(repr(float(term_months))), tariff.min_months)
    duration = max(Decimal(repr(float(duration_months))), tariff.min_months)
    return round_cent(monthly * term), round_cent(monthly * duration)


# ------------------------------------------------------------------------ reading


def _plain(value: object) -> object:
    """YAML's dates as ISO text, so a YAML and a JSON book read alike."""
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


def _bands_problems(where: str, raw: Any, base: str | None) -> list[Problem]:
    """Rising upper ends, only the last one open, the exposure base's rate key."""
    if not isinstance(raw, list):
        return []
    out: list[Problem] = []
    previous = 0.0
    want = RATE_KEYS.get(base or "")
    for i, band in enumerate(raw):
        if not isinstance(band, dict):
            continue
        at = f"{where}[{i}]"
        last = i == len(raw) - 1
        upper = band.get("up_to")
        if "up_to" in band and upper is None and not last:
            out.append(Problem(f"{at}.up_to", "only the last band may be open (null)"))
        elif last and isinstance(upper, int | float) and not isinstance(upper, bool):
            out.append(Problem(f"{at}.up_to", "the last band must be open: write null"))
        elif isinstance(upper, int | float) and not isinstance(upper, bool):
            if upper <= previous:
                out.append(Problem(f"{at}.up_to", f"must exceed the previous band's {previous:g}"))
            previous = float(upper)
        if want is None:
            continue
        for key in RATE_KEYS.values():
            if key != want and key in band:
                out.append(Problem(f"{at}.{key}", f"not used by exposure base {base} (use {want})"))
        if want not in band:
            out.append(Problem(f"{at}.{want}", f"missing (exposure base {base})"))
    return out


def _rule_problems(data: Any) -> list[Problem]:
    """What the shape cannot say, read defensively from the raw document: each check
    runs only where its parts have the right type, so the shape's errors stay its own."""
    if not isinstance(data, dict):
        return []
    out: list[Problem] = []
    tariff = data.get("tariff")
    if isinstance(tariff, dict):
        base = tariff.get("exposure_base")
        base = base if base in RATE_KEYS else None
        out += _bands_problems("$.tariff.bands", tariff.get("bands"), base)
        types = tariff.get("project_types")
        if isinstance(types, dict):
            for name, bands in types.items():
                out += _bands_problems(f"$.tariff.project_types.{name}", bands, base)
    band = data.get("band")
    dq = band.get("data_quality") if isinstance(band, dict) else None
    if isinstance(dq, dict):
        window, least = dq.get("window_months"), dq.get("min_months")
        if isinstance(window, int) and isinstance(least, int) and least > window:
            out.append(
                Problem("$.band.data_quality.min_months", f"must be <= window_months ({window})")
            )
    insurer, version = data.get("insurer_id"), data.get("version")
    if isinstance(insurer, str) and isinstance(version, str) and len(insurer) + len(version) > 63:
        # the book's name, <insurer>-<version>, is a quote's tariff and band version
        out.append(Problem("$.version", "with the insurer id, at most 63 characters"))
    start, end = data.get("effective_from"), data.get("effective_to")
    if isinstance(start, str) and isinstance(end, str):
        try:
            if dt.date.fromisoformat(end) < dt.date.fromisoformat(start):
                out.append(Problem("$.effective_to", f"must not be before effective_from {start}"))
        except ValueError:
            pass  # the shape names the bad date
    out += _prevention_problems(data.get("prevention"))
    incentives = data.get("incentives")
    known = available_versions("incentives")
    if isinstance(incentives, str) and incentives and incentives not in known:
        out.append(
            Problem(
                "$.incentives",
                f"unknown incentive rule set {incentives!r} (shipped: {', '.join(known)})",
            )
        )
    return out


def _prevention_problems(raw: Any) -> list[Problem]:
    """A rate's target and step are shares; one service per metric."""
    services = raw.get("services") if isinstance(raw, dict) else None
    if not isinstance(services, dict):
        return []
    out: list[Problem] = []
    seen: dict[str, str] = {}
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        at = f"$.prevention.services.{name}"
        metric = service.get("metric")
        if not isinstance(metric, str) or metric not in spec.controllable():
            continue
        if metric in seen:
            out.append(Problem(f"{at}.metric", f"already the metric of service {seen[metric]}"))
        seen.setdefault(metric, str(name))
        if spec.controllable()[metric] < 0:
            for key in ("target", "gap_per_unit"):
                value = service.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
                    out.append(Problem(f"{at}.{key}", f"{metric} is a share: at most 1"))
    return out


def _prevention(raw: PreventionSchema) -> tuple[PreventionService, ...]:
    """By name: a YAML dump sorts keys, and a book reads alike either way."""
    return tuple(
        PreventionService(
            name=name,
            label_zh=s.label_zh,
            label_en=s.label_en,
            metric=s.metric,
            direction=spec.controllable()[s.metric],
            target=s.target,
            unit_zh=s.unit_zh,
            unit_en=s.unit_en,
            cost_per_unit=Decimal(repr(s.cost_per_unit_cny)),
            gap_per_unit=s.gap_per_unit,
            max_units=s.max_units,
        )
        for name, s in sorted(raw.services.items())
    )


@functools.cache
def default_prevention() -> tuple[PreventionService, ...]:
    """The prevention block of the shipped book :data:`PREVENTION_DEFAULT_BOOK`."""
    found = load_ratebook(PREVENTION_DEFAULT_BOOK).prevention
    if not found:
        raise RuleError(f"the shipped book {PREVENTION_DEFAULT_BOOK} has no prevention block")
    return found


def _bands(raw: Sequence[BandSchema], base: str) -> tuple[TariffBand, ...]:
    key = RATE_KEYS[base]
    out: list[TariffBand] = []
    lower = Decimal(0)
    for band in raw:
        rate = getattr(band, key)
        assert rate is not None  # the rules checked it
        upper = None if band.up_to is None else Decimal(repr(band.up_to))
        out.append(TariffBand(lower, upper, Decimal(repr(rate))))
        lower = upper if upper is not None else lower
    return tuple(out)


def parse_ratebook(data: object, *, source: str = "rate book") -> RateBook:
    """A book from its parsed YAML or JSON, or :class:`RateBookError` naming every problem."""
    try:
        text = json.dumps(data, default=_plain, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RateBookError(source, [Problem("$", f"not a JSON document: {exc}")]) from exc
    document = json.loads(text)
    problems: list[Problem] = []
    schema: RateBookSchema | None = None
    try:
        schema = RateBookSchema.model_validate_json(text)
    except ValidationError as exc:
        problems += schema_problems(exc)
    problems += _rule_problems(document)
    if problems or schema is None:
        raise RateBookError(source, problems)
    name = f"{schema.insurer_id}-{schema.version}"
    t, b, f = schema.tariff, schema.band, schema.floating
    dq = b.data_quality
    return RateBook(
        insurer_id=schema.insurer_id,
        version=schema.version,
        label=schema.label,
        description=schema.description,
        effective_from=schema.effective_from,
        effective_to=schema.effective_to,
        exposure_base=t.exposure_base,
        min_months=Decimal(repr(t.min_months)),
        bands=_bands(t.bands, t.exposure_base),
        project_type_bands={
            kind: _bands(bands, t.exposure_base) for kind, bands in t.project_types.items()
        },
        band=Band(
            version=name,
            label=schema.label,
            description=schema.description,
            min_pct=b.min_pct,
            max_pct=b.max_pct,
            data_quality=DataQualityRule(
                window_months=dq.window_months,
                min_months=dq.min_months,
                min_device_online_rate=dq.min_device_online_rate,
                min_data_completeness=dq.min_data_completeness,
            ),
        ),
        floating=FloatingSchedule(
            enabled=f.enabled,
            lookback_months=f.lookback_months,
            accident_free_pct=f.accident_free_pct,
            accidents_pct=f.accidents_pct.model_dump(),
            awards_pct=f.awards_pct.model_dump(),
        ),
        incentives=schema.incentives,
        prevention_share=Decimal(repr(schema.prevention_share)),
        document=document,
        prevention=(
            _prevention(schema.prevention)
            if schema.prevention is not None
            else ()
            if name == PREVENTION_DEFAULT_BOOK
            else default_prevention()
        ),
    )


def read_ratebook_text(text: str, *, source: str = "rate book") -> RateBook:
    """A book from YAML or JSON text (JSON is YAML)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RateBookError(source, [Problem("$", f"not valid YAML or JSON: {exc}")]) from exc
    return parse_ratebook(data, source=source)


def load_ratebook(
    name: str | None = None, *, path: str | os.PathLike[str] | None = None
) -> RateBook:
    """A shipped book by name (``default-2025.1``; default: the latest shipped) or the
    book in ``path``."""
    if name is not None and path is not None:
        raise RuleError("load_ratebook: give a name or a path, not both")
    if path is not None:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise RuleError(f"{file}: cannot read the rate book: {exc.strerror}") from exc
        return read_ratebook_text(text, source=str(file))
    shipped = {
        entry.name[len("ratebook-") : -len(".yaml")]: entry
        for entry in resources.files(RULES_PACKAGE).iterdir()
        if entry.name.startswith("ratebook-") and entry.name.endswith(".yaml")
    }
    if not shipped:
        raise RuleError(f"no rate book shipped in {RULES_PACKAGE}")
    wanted = name if name is not None else max(shipped, key=version_key)
    if wanted not in shipped:
        raise RuleError(f"unknown rate book {wanted!r}; shipped: {', '.join(sorted(shipped))}")
    source = f"ratebook-{wanted}.yaml"
    book = read_ratebook_text(shipped[wanted].read_text(encoding="utf-8"), source=source)
    if book.name != wanted:
        raise RateBookError(
            source, [Problem("$.version", f"{book.name!r} differs from the file name's")]
        )
    return book


def book_in_force(books: Sequence[RateBook], day: dt.date) -> RateBook | None:
    """Of one insurer's active books, the one in force on ``day``: the latest
    ``effective_from`` on or before it whose ``effective_to`` has not passed."""
    found = [b for b in books if b.in_force(day)]
    return max(found, key=lambda b: (b.effective_from, version_key(b.version))) if found else None


def diff_ratebooks(old: RateBook, new: RateBook) -> list[tuple[str, object, object]]:
    """Every value that differs between two books' documents: (JSON path, old, new)."""
    out: list[tuple[str, object, object]] = []

    def walk(path: str, a: object, b: object) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                walk(f"{path}.{key}", a.get(key), b.get(key))
        elif isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                walk(f"{path}[{i}]", a[i] if i < len(a) else None, b[i] if i < len(b) else None)
        elif a != b:
            out.append((path, a, b))

    walk("$", dict(old.document), dict(new.document))
    return out
