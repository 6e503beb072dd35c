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

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from models.pricing.rulesets import RuleError

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
]
RankedMetric = Literal[
    "months_mean", "per_10k_worker_hours", "unrectified_hazards_per_10k_worker_hours"
]
Operator = Literal[">=", "<="]
Means = Literal[
    "contract_money",  # money written into the contract (合同奖惩)
    "civilised_site_priority",  # priority in the civilised model-site review (文明示范工地)
    "safety_standard_points",  # points in the safety-standard assessment (安标考核)
    "merit_competition_points",  # points in labour / merit competitions (立功竞赛)
]
Safer = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One error of a rule set (or of agreement terms): where (a JSON path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class RuleSetError(RuleError):
    """A rule set breaks its schema: every problem found, each at its JSON path."""

    def __init__(self, source: str, problems: tuple[Problem, ...]) -> None:
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the rule set:\n{listed}")


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
    metric: Metric
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


def validate_rule_set(raw: object) -> list[Problem]:
    """Every problem of a parsed rule-set document, each at its JSON path; [] when valid."""
    raise NotImplementedError


def parse_rule_set(raw: object, *, source: str = "rule set") -> RuleSet:
    """A rule set from its parsed YAML or JSON, or :class:`RuleSetError` naming every problem."""
    raise NotImplementedError


def available_rule_sets() -> tuple[str, ...]:
    """Versions shipped in ``models/incentives/rules``, oldest first."""
    raise NotImplementedError


def load_rule_set(
    version: str | None = None, *, path: str | os.PathLike[str] | None = None
) -> RuleSet:
    """A shipped rule set by version (default: the latest) or the one in ``path``."""
    raise NotImplementedError
