"""Pricing rules as versioned data: the tariff, the adjustment band, the rating plan's
book-level layers and the incentive tiers, read from YAML.

Shipped rules live in ``models/pricing/rules`` as ``<kind>-<version>.yaml`` and state
the same ``version`` inside, so a price can always name the rules it used. An insurer
changes a rule by shipping a newer file or by pointing a loader at its own file, never
by editing code. Loading checks everything and names the file and key of the first
problem; unknown keys are errors so a misspelt threshold cannot silently fall back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final, Literal, get_args

import yaml

from models.contract import spec

# RuleError stays importable from here, where the pricing rules' readers look for it
from models.rule_data import RuleError as RuleError
from models.rule_data import version_key

RULES_PACKAGE: Final = "models.pricing.rules"

Kind = Literal["tariff", "band", "plan", "incentives", "grades"]
Metric = Literal[
    "months_mean",
    "months_min",
    "months_sum",
    "per_10k_worker_hours",
    "claims_count",
    "risk_percentile",
]
# Metrics only an incentive-rules/2 rule set names (models.incentives.rule_set): read
# through its RuleSet, shown in the 2025.1 shape.
NewMetric = Literal[
    "unrectified_hazards_per_10k_worker_hours", "class_percentile", "model_class_percentile"
]
Operator = Literal[">=", "<="]
METRICS: Final[tuple[str, ...]] = get_args(Metric)
OPERATORS: Final[tuple[str, ...]] = get_args(Operator)
# Metrics that read one site_months column, and the column kinds each accepts.
_COLUMN_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "months_mean": ("float", "int"),
    "months_min": ("float", "int"),
    "months_sum": ("int",),
    "per_10k_worker_hours": ("int",),
}


# --------------------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class TariffBand:
    """The per-mille rate on the part of the contract value in ``(lower, upper]``."""

    lower_cny: Decimal
    upper_cny: Decimal | None  # None: no upper end
    rate_per_mille: Decimal


@dataclass(frozen=True, slots=True)
class Tariff:
    """Marginal (sliding) per-mille rates on the contract value for the whole project."""

    version: str
    label: str
    description: str
    currency: str
    method: Literal["marginal"]
    min_months: Decimal
    bands: tuple[TariffBand, ...]


@dataclass(frozen=True, slots=True)
class DataQualityRule:
    """Smart-site data must reach these means over the window before any discount."""

    window_months: int
    min_months: int
    min_device_online_rate: float
    min_data_completeness: float

    def __post_init__(self) -> None:
        if not 1 <= self.min_months <= self.window_months:
            raise ValueError(
                f"need 1 <= min_months <= window_months, got {self.min_months}, "
                f"{self.window_months}"
            )


@dataclass(frozen=True, slots=True)
class Band:
    """How far the model may move the base premium, in percent."""

    version: str
    label: str
    description: str
    min_pct: float
    max_pct: float
    data_quality: DataQualityRule

    def __post_init__(self) -> None:
        # The adjustment relies on "no change" lying inside the band.
        if not -100.0 < self.min_pct <= 0.0 <= self.max_pct:
            raise ValueError(
                f"band {self.version}: need -100 < min_pct <= 0 <= max_pct, "
                f"got {self.min_pct}, {self.max_pct}"
            )

    @property
    def lower(self) -> float:
        """``min_pct`` as a fraction."""
        return self.min_pct / 100.0

    @property
    def upper(self) -> float:
        """``max_pct`` as a fraction."""
        return self.max_pct / 100.0


@dataclass(frozen=True, slots=True)
class Criterion:
    """One condition of an incentive tier: ``metric operator threshold``."""

    name: str
    zh: str
    en: str
    metric: Metric | NewMetric
    operator: Operator
    threshold: float
    window_months: int | None  # None only for risk_percentile
    column: str | None = None
    severities: tuple[str, ...] = ()
    min_months: int = 1


@dataclass(frozen=True, slots=True)
class Tier:
    """A reward a site earns when every criterion is met."""

    name: str
    zh: str
    en: str
    description: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class IncentiveRuleSet:
    """A quote's incentive tiers. ``rules``: the incentive-rules/2 rule set they were
    read from (evaluated as it is), None for the 2025.1 format (read through
    :mod:`models.incentives.legacy`); the tiers here are its view in the 2025.1 shape
    (``min_months`` = window − ``max_missing_months``) for what lists thresholds."""

    version: str
    label: str
    description: str
    source: str
    tiers: tuple[Tier, ...]
    # models.incentives.RuleSet (that package imports this module); not compared
    rules: Any = field(default=None, compare=False)


# ------------------------------------------------------------------------ reading


class _Node:
    """A YAML mapping with its place in the file, for error messages."""

    def __init__(self, data: object, where: str, source: str) -> None:
        if not isinstance(data, Mapping):
            raise RuleError(f"{source}: {where or 'top level'}: expected a mapping")
        self.data: Mapping[str, Any] = data
        self.where = where
        self.source = source

    def fail(self, key: str, message: str) -> RuleError:
        path = f"{self.where}.{key}" if self.where else key
        return RuleError(f"{self.source}: {path}: {message}")

    def only(self, *allowed: str) -> None:
        unknown = sorted(str(k) for k in self.data if k not in allowed)
        if unknown:
            raise self.fail(unknown[0], f"unknown key (allowed: {', '.join(allowed)})")

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise self.fail(key, "missing")
        return self.data[key]

    def text(self, key: str, default: str | None = None) -> str:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            hint = " (quote it)" if isinstance(value, int | float) else ""
            raise self.fail(key, f"expected a non-empty string{hint}, got {value!r}")
        return value.strip()

    def number(
        self,
        key: str,
        *,
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        default: float | None = None,
    ) -> float:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        out = float(value)
        problems = [
            (not math.isfinite(out), "must be finite"),
            (ge is not None and out < ge, f"must be >= {ge}"),
            (gt is not None and out <= gt, f"must be > {gt}"),
            (le is not None and out > le, f"must be <= {le}"),
            (lt is not None and out >= lt, f"must be < {lt}"),
        ]
        for bad, message in problems:
            if bad:
                raise self.fail(key, f"{message}, got {value!r}")
        return out

    def decimal(self, key: str, *, gt: float | None = None) -> Decimal:
        value = self.raw(key)
        self.number(key, gt=gt)
        try:
            return Decimal(str(value))
        except InvalidOperation as exc:  # pragma: no cover - number() accepted it
            raise self.fail(key, f"not a decimal number: {value!r}") from exc

    def integer(self, key: str, *, ge: int = 0, default: int | None = None) -> int:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected a whole number, got {value!r}")
        if value < ge:
            raise self.fail(key, f"must be >= {ge}, got {value!r}")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise self.fail(key, "expected a non-empty list")
        return value

    def node(self, key: str) -> _Node:
        path = f"{self.where}.{key}" if self.where else key
        return _Node(self.raw(key), path, self.source)

    def child(self, key: str, index: int, value: object) -> _Node:
        path = f"{self.where}.{key}[{index}]" if self.where else f"{key}[{index}]"
        return _Node(value, path, self.source)


def _shipped(kind: Kind) -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in resources.files(RULES_PACKAGE).iterdir():
        name = entry.name
        if entry.is_file() and name.startswith(f"{kind}-") and name.endswith(".yaml"):
            found[name[len(kind) + 1 : -len(".yaml")]] = entry
    return found


def available_versions(kind: Kind) -> tuple[str, ...]:
    """Versions of one kind of rule shipped with the package, oldest first."""
    return tuple(sorted(_shipped(kind), key=version_key))


def _read(
    kind: Kind, version: str | None, path: str | os.PathLike[str] | None
) -> tuple[_Node, str]:
    """The parsed top-level mapping and the version the file name promises (if any)."""
    if version is not None and path is not None:
        raise RuleError(f"load_{kind}: give a version or a path, not both")
    if path is not None:
        file = Path(path)
        source = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise RuleError(f"{source}: cannot read {kind} rules: {exc.strerror}") from exc
        expected = ""
    else:
        shipped = _shipped(kind)
        if not shipped:
            raise RuleError(f"no {kind} rules shipped in {RULES_PACKAGE}")
        expected = version if version is not None else max(shipped, key=version_key)
        if expected not in shipped:
            known = ", ".join(sorted(shipped, key=version_key))
            raise RuleError(f"unknown {kind} version {expected!r}; shipped: {known}")
        source = f"{kind}-{expected}.yaml"
        text = shipped[expected].read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"{source}: not valid YAML: {exc}") from exc
    top = _Node(data, "", source)
    if expected and top.text("version") != expected:
        raise top.fail("version", f"{top.text('version')!r} differs from the file name's")
    return top, expected


def _labels(top: _Node) -> tuple[str, str, str]:
    return top.text("version"), top.text("label"), top.text("description")


# --------------------------------------------------------------------------- tariff


def load_tariff(
    version: str | None = None, *, path: str | os.PathLike[str] | None = None
) -> Tariff:
    """A shipped tariff (default: the latest version) or the one in ``path``."""
    top, _ = _read("tariff", version, path)
    top.only("version", "label", "description", "currency", "method", "min_months", "bands")
    version_, label, description = _labels(top)
    method = top.text("method")
    if method != "marginal":
        raise top.fail("method", f"only 'marginal' is supported, got {method!r}")
    bands: list[TariffBand] = []
    lower = Decimal(0)
    raw_bands = top.items("bands")
    for i, raw in enumerate(raw_bands):
        node = top.child("bands", i, raw)
        node.only("up_to_cny", "rate_per_mille")
        rate = node.decimal("rate_per_mille", gt=0.0)
        last = i == len(raw_bands) - 1
        if node.raw("up_to_cny") is None:
            if not last:
                raise node.fail("up_to_cny", "only the last band may be open (null)")
            upper = None
        else:
            if last:
                raise node.fail("up_to_cny", "the last band must be open: write null")
            upper = node.decimal("up_to_cny", gt=0.0)
            if upper <= lower:
                raise node.fail("up_to_cny", f"must exceed the previous band's {lower}")
        bands.append(TariffBand(lower, upper, rate))
        lower = upper if upper is not None else lower
    return Tariff(
        version=version_,
        label=label,
        description=description,
        currency=top.text("currency", default="CNY"),
        method="marginal",
        min_months=Decimal(str(top.number("min_months", gt=0.0, default=1.0))),
        bands=tuple(bands),
    )


# ----------------------------------------------------------------------------- band


def load_band(version: str | None = None, *, path: str | os.PathLike[str] | None = None) -> Band:
    """A shipped adjustment band (default: the latest version) or the one in ``path``."""
    top, _ = _read("band", version, path)
    top.only("version", "label", "description", "min_pct", "max_pct", "data_quality")
    version_, label, description = _labels(top)
    min_pct = top.number("min_pct", gt=-100.0, le=0.0)
    max_pct = top.number("max_pct", ge=0.0)
    dq = top.node("data_quality")
    dq.only("window_months", "min_months", "min_device_online_rate", "min_data_completeness")
    window = dq.integer("window_months", ge=1)
    min_months = dq.integer("min_months", ge=1, default=1)
    if min_months > window:
        raise dq.fail("min_months", f"must be <= window_months ({window}), got {min_months}")
    rule = DataQualityRule(
        window_months=window,
        min_months=min_months,
        min_device_online_rate=dq.number("min_device_online_rate", ge=0.0, le=1.0),
        min_data_completeness=dq.number("min_data_completeness", ge=0.0, le=1.0),
    )
    return Band(version_, label, description, min_pct, max_pct, rule)


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class OffBalanceRule:
    """How the book is kept revenue-neutral: ``revenue_neutral`` uses the factor found
    when the model was trained (total premium after the plan = tariff total on the
    latest training month); ``fixed`` uses ``factor``. Training reports a book outside
    ``tolerance_pct`` either way."""

    method: Literal["revenue_neutral", "fixed"]
    factor: float
    tolerance_pct: float


@dataclass(frozen=True, slots=True)
class PromotionRule:
    """What a challenger may not do to the book it would price (docs/rating-plan.md)."""

    # share of sites whose premium would move by more than 10% / 20%, either way
    max_share_moving_10pct: float
    max_share_moving_20pct: float
    # the challenger's adequacy (the spread of loss ratios across risk deciles) may
    # exceed the champion's by at most this much
    adequacy_tolerance: float


@dataclass(frozen=True, slots=True)
class QuoteLimits:
    """Which policies may be priced at all from the data at hand."""

    # the cover may start at most this many months after the latest month of data
    # (or, before works start, after the current calendar month)
    max_months_ahead: int
    # an overrunning site (start after its planned end) must show data in this many
    # months just before the start
    overrun_recent_months: int


@dataclass(frozen=True, slots=True)
class RatingPlan:
    """The book-level layers of the rating plan and the limits that go with them."""

    version: str
    label: str
    description: str
    experience: Literal["model"]  # own claims enter once: through the model's features
    projection_months: int  # term assumed for the book's loss ratio (training)
    off_balance: OffBalanceRule
    promotion: PromotionRule
    quote_limits: QuoteLimits

    def off_balance_factor(self, found_at_training: float) -> float:
        """The factor a quote uses: the one training found (``revenue_neutral``) or the
        plan's own (``fixed``)."""
        if self.off_balance.method == "fixed":
            return self.off_balance.factor
        return found_at_training


def load_plan(
    version: str | None = None, *, path: str | os.PathLike[str] | None = None
) -> RatingPlan:
    """A shipped rating plan (default: the latest version) or the one in ``path``."""
    top, _ = _read("plan", version, path)
    top.only(
        "version", "label", "description", "experience", "projection_months", "off_balance",
        "promotion", "quote_limits",
    )  # fmt: skip
    version_, label, description = _labels(top)
    experience = top.text("experience")
    if experience != "model":
        raise top.fail(
            "experience",
            f"only 'model' (own claims through the model) is supported, got {experience!r}",
        )
    ob = top.node("off_balance")
    ob.only("method", "factor", "tolerance_pct")
    method = ob.text("method")
    if method not in ("revenue_neutral", "fixed"):
        raise ob.fail("method", f"must be revenue_neutral or fixed, got {method!r}")
    if method == "fixed" and "factor" not in ob.data:
        raise ob.fail("factor", "missing (method fixed needs it)")
    promo = top.node("promotion")
    promo.only("max_share_moving_10pct", "max_share_moving_20pct", "adequacy_tolerance")
    limits = top.node("quote_limits")
    limits.only("max_months_ahead", "overrun_recent_months")
    return RatingPlan(
        version=version_,
        label=label,
        description=description,
        experience="model",
        projection_months=top.integer("projection_months", ge=1),
        off_balance=OffBalanceRule(
            method=method,  # type: ignore[arg-type]  # checked above
            factor=ob.number("factor", gt=0.0, default=1.0),
            tolerance_pct=ob.number("tolerance_pct", gt=0.0),
        ),
        promotion=PromotionRule(
            max_share_moving_10pct=promo.number("max_share_moving_10pct", ge=0.0, le=1.0),
            max_share_moving_20pct=promo.number("max_share_moving_20pct", ge=0.0, le=1.0),
            adequacy_tolerance=promo.number("adequacy_tolerance", ge=0.0),
        ),
        quote_limits=QuoteLimits(
            max_months_ahead=limits.integer("max_months_ahead", ge=0),
            overrun_recent_months=limits.integer("overrun_recent_months", ge=1),
        ),
    )


# ----------------------------------------------------------------------- incentives


def _criterion(node: _Node) -> Criterion:
    node.only(
        "name", "zh", "en", "metric", "operator", "threshold", "window_months", "column",
        "severities", "min_months",
    )  # fmt: skip
    metric = node.text("metric")
    if metric not in METRICS:
        raise node.fail("metric", f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    operator = node.text("operator")
    if operator not in OPERATORS:
        raise node.fail("operator", f"must be one of {', '.join(OPERATORS)}, got {operator!r}")
    column: str | None = None
    severities: tuple[str, ...] = ()
    window: int | None = None
    min_months = 1
    threshold = node.number("threshold")

    if metric == "risk_percentile":
        for key in ("column", "severities", "window_months", "min_months"):
            if key in node.data:
                raise node.fail(key, "not used by metric risk_percentile")
        threshold = node.number("threshold", ge=0.0, le=100.0)
    else:
        window = node.integer("window_months", ge=1)
    if metric == "claims_count":
        for key in ("column", "min_months"):
            if key in node.data:
                raise node.fail(key, "not used by metric claims_count")
        raw = node.raw("severities")
        if not isinstance(raw, list) or not raw:
            raise node.fail("severities", "expected a non-empty list")
        bad = [s for s in raw if s not in spec.SEVERITIES]
        if bad:
            raise node.fail(
                "severities", f"unknown {bad[0]!r} (known: {', '.join(spec.SEVERITIES)})"
            )
        severities = tuple(raw)
        threshold = node.number("threshold", ge=0.0)
    if metric in _COLUMN_KINDS:
        if "severities" in node.data:
            raise node.fail("severities", f"not used by metric {metric}")
        column = node.text("column")
        try:
            col = spec.column("site_months", column)
        except KeyError:
            raise node.fail("column", f"{column!r} is not a site_months column") from None
        if col.kind not in _COLUMN_KINDS[metric]:
            kinds = " or ".join(_COLUMN_KINDS[metric])
            raise node.fail(
                "column", f"metric {metric} needs a column of kind {kinds}, {column} is not"
            )
        if metric in ("months_mean", "months_min"):
            # Catches 95 written for 0.95 on a 0-1 rate column.
            threshold = node.number(
                "threshold",
                ge=col.ge if col.ge is not None else None,
                le=col.le if col.le is not None else None,
            )
        else:
            threshold = node.number("threshold", ge=0.0)
        assert window is not None
        min_months = node.integer("min_months", ge=1, default=1)
        if min_months > window:
            raise node.fail("min_months", f"must be <= window_months ({window})")
    return Criterion(
        name=node.text("name"),
        zh=node.text("zh"),
        en=node.text("en"),
        metric=metric,  # type: ignore[arg-type]  # checked against METRICS above
        operator=operator,  # type: ignore[arg-type]  # checked against OPERATORS above
        threshold=threshold,
        window_months=window,
        column=column,
        severities=severities,
        min_months=min_months,
    )


def _unique(node: _Node, key: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise node.fail(f"{key}[{i}].name", f"duplicate name {name!r}")
        seen.add(name)


def load_incentives(
    version: str | None = None, *, path: str | os.PathLike[str] | None = None
) -> IncentiveRuleSet:
    """Shipped incentive tiers (default: the latest version) or the ones in ``path``:
    the 2025.1 format, or an incentive-rules/2 rule set (``schema: incentive-rules/2``,
    docs/contract-incentives.md), checked by its own schema."""
    top, _ = _read("incentives", version, path)
    if "schema" in top.data:
        return _from_rule_set(top)
    top.only("version", "label", "description", "source", "tiers")
    version_, label, description = _labels(top)
    tiers: list[Tier] = []
    for i, raw in enumerate(top.items("tiers")):
        node = top.child("tiers", i, raw)
        node.only("name", "zh", "en", "description", "criteria")
        criteria = tuple(
            _criterion(node.child("criteria", j, c)) for j, c in enumerate(node.items("criteria"))
        )
        _unique(node, "criteria", [c.name for c in criteria])
        tiers.append(
            Tier(
                name=node.text("name"),
                zh=node.text("zh"),
                en=node.text("en"),
                description=node.text("description", default=""),
                criteria=criteria,
            )
        )
    _unique(top, "tiers", [t.name for t in tiers])
    return IncentiveRuleSet(
        version_, label, description, top.text("source", default=""), tuple(tiers)
    )


def _from_rule_set(top: _Node) -> IncentiveRuleSet:
    """An incentive-rules/2 document as a quote's tiers (its breaches are an agreement's:
    a quote lists no penalties)."""
    from models.incentives.rule_set import RuleSetError, parse_rule_set

    try:
        rules = parse_rule_set(dict(top.data), source=top.source)
    except RuleSetError as exc:
        raise RuleError(str(exc)) from None
    tiers = tuple(
        Tier(
            name=t.name,
            zh=t.zh,
            en=t.en,
            description=t.description,
            criteria=tuple(
                Criterion(
                    name=c.name,
                    zh=c.zh,
                    en=c.en,
                    metric=c.metric,  # type: ignore[arg-type]  # never 2025.1's own metric
                    operator=c.operator,
                    threshold=c.threshold,
                    window_months=c.window_months,
                    column=c.column if c.ranking is None else c.ranking.column,
                    severities=c.severities,
                    min_months=(
                        c.window_months - c.max_missing_months
                        if c.window_months is not None
                        and c.metric not in ("claims_count", "model_class_percentile")
                        else 1
                    ),
                )
                for c in t.criteria
            ),
        )
        for t in rules.tiers
    )
    return IncentiveRuleSet(
        rules.version, rules.label, rules.description, rules.source, tiers, rules
    )
