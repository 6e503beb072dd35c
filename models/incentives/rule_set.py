"""Incentive rule sets: the rewards (tiers) and penalties (breaches) an agreement can
name, each defined by criteria over a site's smart-site months and claims.

A rule set is versioned data, read from YAML or JSON and checked in two passes like a
rate book (:mod:`models.pricing.ratebook`), every problem reported at its JSON path
(``$.tiers[1].criteria[0].threshold``):

1. the shape, by pydantic in strict mode (types, ranges, required and unknown keys);
2. the rules between fields: a metric's column exists and has the right kind, a
   rate's threshold lies in the column's range, names are unique, ``hazards_found``
   is read only paired with rectification (data contract v1.1: finding hazards is
   never penalised).

Shipped rule sets live in ``models/incentives/rules`` as ``<version>.yaml``; the sample
ones say so in their label and with ``sample: true``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.contract import spec

# Problem stays importable from here: agreement terms and the package name it
from models.rule_data import Problem as Problem
from models.rule_data import RuleError, SchemaError, schema_problems, version_key

RULES_PACKAGE: Final = "models.incentives.rules"
SCHEMA: Final = "incentive-rules/2"

Metric = Literal[
    # one figure per month from one site_months column
    "months_mean",  # mean of the reported months
    "months_min",  # lowest reported month
    "months_sum",  # sum of a count column over the reported months
    "per_10k_worker_hours",  # sum of a count column / worker-hours of those months x 10,000
    # hazards left unrectified: hazards_found x (1 - hazard_rectification_rate), per 10k
    # worker-hours; more hazards found with the same rectification share never fails it
    # by itself unless they are left open (contract v1.1)
    "unrectified_hazards_per_10k_worker_hours",
    # the site's rank (0 = safest, 100 = least safe) among the sites of its own class
    # (project type and stage) on one of the figures above
    "class_percentile",
    # the feed's claims on the site (all insurers) of the listed severities
    "claims_count",
    # the model's predicted rate ranked among the training sites of the site's own class
    # (ModelBundle.class_percentile), given by the caller: a quote's; no window
    "model_class_percentile",
]
# Rule set 2025.1's percentile, the model's among all its training peers: read only when a
# quote priced with 2025.1 is evaluated (models.incentives.legacy); no schema accepts it.
LegacyMetric = Literal["model_percentile"]
AnyMetric = Metric | LegacyMetric
RankedMetric = Literal[
    "months_mean", "per_10k_worker_hours", "unrectified_hazards_per_10k_worker_hours"
]
Operator = Literal[">=", "<="]
Means = Literal[
    "contract_money",  # money written into the contract (合同奖惩)
    "premium_rebate",  # part of the premium returned by the insurer (rule set 2025.1)
    "civilised_site_priority",  # priority in the civilised model-site review (文明示范工地)
    "safety_standard_points",  # points in the safety-standard assessment (安标考核)
    "merit_competition_points",  # points in labour / merit competitions (立功竞赛)
]
Safer = Literal["lower", "higher"]


class RuleSetError(SchemaError):
    """A rule set breaks its schema: every problem found, each at its JSON path."""

    what = "rule set"


@dataclass(frozen=True, slots=True)
class Ranking:
    """What a ``class_percentile`` criterion ranks: a figure of another metric, and
    whether a lower or a higher figure is the safer one."""

    metric: RankedMetric
    column: str | None  # None for unrectified_hazards_per_10k_worker_hours
    safer: Safer
    min_peers: int  # fewer class peers with a figure: not evaluable


@dataclass(frozen=True, slots=True)
class Criterion:
    """``figure operator threshold`` over the criterion's months.

    ``window_months``: the last N months of the evaluated period (None: all of it).
    ``max_missing_months``: months of the window without a reported value (no row, or
    a null in the column) the criterion tolerates; one more and it is not evaluable.
    Claims criteria have none: they need the feed's claims data instead.
    """

    name: str
    zh: str
    en: str
    metric: AnyMetric
    operator: Operator
    threshold: float
    window_months: int | None
    max_missing_months: int
    column: str | None = None
    severities: tuple[str, ...] = ()
    ranking: Ranking | None = None


@dataclass(frozen=True, slots=True)
class Tier:
    """A reward: earned when every criterion is met."""

    name: str
    zh: str
    en: str
    description: str
    means: Means
    points: float | None  # assessment or competition points, when the means gives them
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class Breach:
    """A penalty: incurred when its criterion (the condition the site must keep) is not met."""

    name: str
    zh: str
    en: str
    description: str
    criterion: Criterion


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    label: str
    description: str
    source: str
    sample: bool  # a sample to adapt, not agreed figures
    tiers: tuple[Tier, ...]
    breaches: tuple[Breach, ...]
    document: Mapping[str, Any]  # the JSON it was read from

    def criteria(self) -> tuple[Criterion, ...]:
        """Every criterion of the tiers and breaches, in order (a name may repeat)."""
        out = [c for t in self.tiers for c in t.criteria]
        return (*out, *(b.criterion for b in self.breaches))


# ------------------------------------------------------------------------ the schema

# Metrics reading one site_months column, and the column kinds each accepts.
COLUMN_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "months_mean": ("float", "int"),
    "months_min": ("float", "int"),
    "months_sum": ("int",),
    "per_10k_worker_hours": ("int",),
}
# Read only through unrectified_hazards_per_10k_worker_hours (data contract v1.1): a
# criterion on hazards found would penalise finding them; one on the rectification
# share alone would count a month with nothing due as a month not reported.
PAIRED_COLUMNS: Final = ("hazards_found", "hazard_rectification_rate")
POINTS_MEANS: Final = ("safety_standard_points", "merit_competition_points")
NAME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"
VERSION_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_MONTHS: Final = 60


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Months = Annotated[int, Field(ge=1, le=MAX_MONTHS)]
Severity = Literal["minor_injury", "serious_injury", "fatality"]
assert set(Severity.__args__) == set(spec.SEVERITIES)  # type: ignore[attr-defined]


class RankingSchema(_Strict):
    metric: RankedMetric
    column: str | None = None
    safer: Safer
    min_peers: Annotated[int, Field(ge=1, le=100_000)] = 5


class CriterionSchema(_Strict):
    name: Name
    zh: Text
    en: Text
    metric: Metric
    operator: Operator
    threshold: Finite
    window_months: Months | None = None
    max_missing_months: Annotated[int, Field(ge=0, le=MAX_MONTHS)] | None = None
    column: str | None = None
    severities: Annotated[list[Severity], Field(min_length=1, max_length=3)] | None = None
    ranking: RankingSchema | None = None


class TierSchema(_Strict):
    name: Name
    zh: Text
    en: Text
    description: Annotated[str, Field(max_length=2000)] = ""
    means: Means
    points: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)] | None = None
    criteria: Annotated[list[CriterionSchema], Field(min_length=1, max_length=50)]


class BreachSchema(_Strict):
    name: Name
    zh: Text
    en: Text
    description: Annotated[str, Field(max_length=2000)] = ""
    criterion: CriterionSchema


class RuleSetSchema(_Strict):
    schema_: Annotated[Literal["incentive-rules/2"], Field(alias="schema")]
    version: Annotated[str, Field(pattern=VERSION_PATTERN)]
    label: Text
    description: Annotated[str, Field(max_length=4000)] = ""
    source: Annotated[str, Field(max_length=2000)] = ""
    sample: bool
    tiers: Annotated[list[TierSchema], Field(max_length=50)] = []
    breaches: Annotated[list[BreachSchema], Field(max_length=50)] = []


# ----------------------------------------------------------------- rules between fields


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _column_problems(at: str, column: object, metric: str) -> list[Problem]:
    """A metric's column: a site_months column of the right kind, never a paired one."""
    if not isinstance(column, str):
        return [Problem(f"{at}.column", f"missing (metric {metric} reads a column)")]
    if column in PAIRED_COLUMNS:
        return [
            Problem(
                f"{at}.column",
                f"{column} is read only through unrectified_hazards_per_10k_worker_hours "
                "(data contract v1.1: finding hazards is never penalised)",
            )
        ]
    try:
        col = spec.column("site_months", column)
    except KeyError:
        return [Problem(f"{at}.column", f"{column!r} is not a site_months column")]
    if col.kind not in COLUMN_KINDS[metric]:
        kinds = " or ".join(COLUMN_KINDS[metric])
        return [Problem(f"{at}.column", f"metric {metric} needs a column of kind {kinds}")]
    return []


def _range_problem(
    at: str, threshold: float | None, lo: float | None, hi: float | None
) -> list[Problem]:
    if threshold is None:
        return []
    if lo is not None and threshold < lo:
        return [Problem(f"{at}.threshold", f"must be >= {lo:g}, got {threshold:g}")]
    if hi is not None and threshold > hi:
        return [Problem(f"{at}.threshold", f"must be <= {hi:g}, got {threshold:g}")]
    return []


def _not_used(at: str, c: Mapping[str, Any], metric: str, keys: Sequence[str]) -> list[Problem]:
    return [
        Problem(f"{at}.{key}", f"not used by metric {metric}")
        for key in keys
        if c.get(key) is not None
    ]


def _criterion_problems(at: str, c: object) -> list[Problem]:
    if not isinstance(c, dict):
        return []
    metric = c.get("metric")
    threshold = _number(c.get("threshold"))
    out: list[Problem] = []
    window, missing = c.get("window_months"), c.get("max_missing_months")
    if isinstance(window, int) and isinstance(missing, int) and missing >= window:
        out.append(Problem(f"{at}.max_missing_months", f"must be < window_months ({window})"))
    if metric == "claims_count":
        out += _not_used(at, c, metric, ("column", "ranking", "max_missing_months"))
        if c.get("severities") is None:
            out.append(Problem(f"{at}.severities", "missing (metric claims_count counts them)"))
        return out + _range_problem(at, threshold, 0.0, None)
    if metric == "model_class_percentile":
        out += _not_used(
            at,
            c,
            metric,
            ("column", "ranking", "severities", "window_months", "max_missing_months"),
        )
        return out + _range_problem(at, threshold, 0.0, 100.0)
    if metric not in (
        *COLUMN_KINDS,
        "unrectified_hazards_per_10k_worker_hours",
        "class_percentile",
    ):
        return out  # the shape names an unknown metric
    if missing is None:
        out.append(
            Problem(
                f"{at}.max_missing_months",
                "missing (how many months of the window may go unreported)",
            )
        )
    out += _not_used(at, c, metric, ("severities",))
    if metric in COLUMN_KINDS:
        out += _not_used(at, c, metric, ("ranking",))
        out += _column_problems(at, c.get("column"), metric)
        if metric in ("months_mean", "months_min") and isinstance(c.get("column"), str):
            try:
                col = spec.column("site_months", c["column"])
            except KeyError:
                return out
            # catches 95 written for 0.95 on a 0-1 rate column
            return out + _range_problem(at, threshold, col.ge, col.le)
        return out + _range_problem(at, threshold, 0.0, None)
    if metric == "unrectified_hazards_per_10k_worker_hours":
        out += _not_used(at, c, metric, ("ranking", "column"))
        return out + _range_problem(at, threshold, 0.0, None)
    # class_percentile
    out += _not_used(at, c, metric, ("column",))
    out += _range_problem(at, threshold, 0.0, 100.0)
    ranking = c.get("ranking")
    if ranking is None:
        out.append(Problem(f"{at}.ranking", "missing (metric class_percentile ranks a figure)"))
    elif isinstance(ranking, dict):
        ranked = ranking.get("metric")
        if ranked in COLUMN_KINDS:
            out += _column_problems(f"{at}.ranking", ranking.get("column"), str(ranked))
        elif ranked == "unrectified_hazards_per_10k_worker_hours" and ranking.get("column"):
            out.append(Problem(f"{at}.ranking.column", f"not used by metric {ranked}"))
    return out


def _unique(where: str, items: Sequence[object], what: str) -> list[Problem]:
    out: list[Problem] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str):
            if name in seen:
                out.append(Problem(f"{where}[{i}].name", f"duplicate {what} name {name!r}"))
            seen.add(name)
    return out


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _rule_problems(data: object) -> list[Problem]:
    """What the shape cannot say, read defensively from the raw document: each check runs
    only where its parts have the right type, so the shape's errors stay its own."""
    if not isinstance(data, dict):
        return []
    out: list[Problem] = []
    tiers = _list(data.get("tiers"))
    breaches = _list(data.get("breaches"))
    if not tiers and not breaches:
        out.append(Problem("$.tiers", "a rule set needs at least one tier or breach"))
    label = data.get("label")
    if data.get("sample") is True and isinstance(label, str) and "SAMPLE" not in label:
        out.append(Problem("$.label", "a sample rule set says SAMPLE in its label"))
    for i, tier in enumerate(tiers):
        if not isinstance(tier, dict):
            continue
        means, points = tier.get("means"), tier.get("points")
        if points is not None and means not in POINTS_MEANS:
            out.append(
                Problem(f"$.tiers[{i}].points", f"only {' and '.join(POINTS_MEANS)} give points")
            )
        criteria = _list(tier.get("criteria"))
        for j, c in enumerate(criteria):
            out += _criterion_problems(f"$.tiers[{i}].criteria[{j}]", c)
        out += _unique(f"$.tiers[{i}].criteria", criteria, "criterion")
    for i, breach in enumerate(breaches):
        if isinstance(breach, dict):
            out += _criterion_problems(f"$.breaches[{i}].criterion", breach.get("criterion"))
    # agreement terms name tiers and breaches: one name, one clause
    return (
        out
        + _unique("$.tiers", tiers, "tier")
        + _unique("$.breaches", breaches, "breach")
        + [
            Problem(f"$.breaches[{i}].name", f"{b['name']!r} is also a tier's name")
            for i, b in enumerate(breaches)
            if isinstance(b, dict)
            and b.get("name") in {t.get("name") for t in tiers if isinstance(t, dict)}
        ]
    )


# ------------------------------------------------------------------------ reading


def _plain(value: object) -> object:
    raise TypeError(f"not JSON: {value!r}")


def _check(raw: object) -> tuple[list[Problem], RuleSetSchema | None, Any]:
    try:
        text = json.dumps(raw, default=_plain, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        return [Problem("$", f"not a JSON document: {exc}")], None, None
    problems: list[Problem] = []
    schema: RuleSetSchema | None = None
    try:
        schema = RuleSetSchema.model_validate_json(text)
    except ValidationError as exc:
        problems += schema_problems(exc)
    problems += _rule_problems(json.loads(text))
    return problems, schema, json.loads(text)


def validate_rule_set(raw: object) -> list[Problem]:
    """Every problem of a parsed rule-set document, each at its JSON path; [] when valid."""
    return _check(raw)[0]


def _criterion(c: CriterionSchema) -> Criterion:
    r = c.ranking
    return Criterion(
        name=c.name,
        zh=c.zh,
        en=c.en,
        metric=c.metric,
        operator=c.operator,
        threshold=c.threshold,
        window_months=c.window_months,
        max_missing_months=c.max_missing_months or 0,
        column=c.column,
        severities=tuple(c.severities or ()),
        ranking=None if r is None else Ranking(r.metric, r.column, r.safer, r.min_peers),
    )


def parse_rule_set(raw: object, *, source: str = "rule set") -> RuleSet:
    """A rule set from its parsed YAML or JSON, or :class:`RuleSetError` naming every problem."""
    problems, schema, document = _check(raw)
    if problems or schema is None:
        raise RuleSetError(source, problems)
    return RuleSet(
        version=schema.version,
        label=schema.label,
        description=schema.description,
        source=schema.source,
        sample=schema.sample,
        tiers=tuple(
            Tier(
                name=t.name,
                zh=t.zh,
                en=t.en,
                description=t.description,
                means=t.means,
                points=t.points,
                criteria=tuple(_criterion(c) for c in t.criteria),
            )
            for t in schema.tiers
        ),
        breaches=tuple(
            Breach(b.name, b.zh, b.en, b.description, _criterion(b.criterion))
            for b in schema.breaches
        ),
        document=document,
    )


def read_rule_set_text(text: str, *, source: str = "rule set") -> RuleSet:
    """A rule set from YAML or JSON text (JSON is YAML)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleSetError(source, [Problem("$", f"not valid YAML or JSON: {exc}")]) from exc
    return parse_rule_set(data, source=source)


def _shipped() -> dict[str, Any]:
    return {
        entry.name[: -len(".yaml")]: entry
        for entry in resources.files(RULES_PACKAGE).iterdir()
        if entry.is_file() and entry.name.endswith(".yaml")
    }


def available_rule_sets() -> tuple[str, ...]:
    """Versions shipped in ``models/incentives/rules``, oldest first."""
    return tuple(sorted(_shipped(), key=version_key))


def load_rule_set(
    version: str | None = None, *, path: str | os.PathLike[str] | None = None
) -> RuleSet:
    """A shipped rule set by version (default: the latest) or the one in ``path``."""
    if version is not None and path is not None:
        raise RuleError("load_rule_set: give a version or a path, not both")
    if path is not None:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise RuleError(f"{file}: cannot read the rule set: {exc.strerror}") from exc
        return read_rule_set_text(text, source=str(file))
    shipped = _shipped()
    if not shipped:  # pragma: no cover - the package ships its samples
        raise RuleError(f"no incentive rule set shipped in {RULES_PACKAGE}")
    wanted = version if version is not None else available_rule_sets()[-1]
    if wanted not in shipped:
        raise RuleError(
            f"unknown incentive rule set {wanted!r}; shipped: {', '.join(available_rule_sets())}"
        )
    source = f"{wanted}.yaml"
    rule_set = read_rule_set_text(shipped[wanted].read_text(encoding="utf-8"), source=source)
    if rule_set.version != wanted:
        raise RuleSetError(
            source, [Problem("$.version", f"{rule_set.version!r} differs from the file name")]
        )
    return rule_set
