"""The money an agreement attaches to a rule set: a reward for each tier met and a
penalty for each breach, each in CNY or as a share of the contract sum.

What "not evaluable" means for the money is stated by the agreement, within one fixed
rule: missing data never earns a reward. ``penalty_when_not_evaluable`` says whether a
breach clause that cannot be evaluated is waived or applied as if breached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from models.incentives.rule_set import Problem, RuleSet

AmountKind = Literal["cny", "share_of_contract_sum"]
NotEvaluablePenalty = Literal["waive", "apply"]


@dataclass(frozen=True, slots=True)
class Amount:
    """Money in CNY (``value`` in yuan, at most 2 decimals) or a share of the contract
    sum (``value`` in 0..1, at most 6 decimals)."""

    kind: AmountKind
    value: Decimal


@dataclass(frozen=True, slots=True)
class AgreementTerms:
    """The money side of an agreement. Tier and breach names are the rule set's;
    a tier or breach the terms do not name carries no money (its non-money means, such
    as assessment points, still show in the statement)."""

    rule_set_version: str
    rewards: Mapping[str, Amount]  # tier name -> reward when the tier is met
    penalties: Mapping[str, Amount]  # breach name -> penalty when breached
    contract_sum_cny: Decimal | None = None  # required when an amount is a share
    penalty_when_not_evaluable: NotEvaluablePenalty = "waive"
    currency: Literal["CNY"] = "CNY"


def validate_terms(terms: AgreementTerms, rule_set: RuleSet) -> list[Problem]:
    """Every problem of ``terms`` against ``rule_set`` at its JSON path
    (``$.rewards.civilised_site_priority.value``); [] when they can be settled."""
    raise NotImplementedError


def terms_from_json(raw: object) -> AgreementTerms:
    """Terms from their JSON form (amounts as decimal strings or numbers), or
    :class:`models.incentives.rule_set.RuleSetError` naming every problem of the shape."""
    raise NotImplementedError
