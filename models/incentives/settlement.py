"""Settle an evaluated period under an agreement's terms: a statement with each
criterion's outcome, every reward and penalty, the net amount, the revisions used and
a content hash over its canonical JSON, so the same inputs give the same bytes.

Money is Decimal throughout. A share of the contract sum is multiplied exactly and
rounded half-up to the cent, line by line; totals are sums of the rounded lines (so the
printed lines add up to the printed totals). Net = rewards - penalties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from models.incentives.evaluation import Outcome, PeriodEvaluation
from models.incentives.rule_set import Means
from models.incentives.terms import AgreementTerms, Amount

LineKind = Literal["reward", "penalty"]


@dataclass(frozen=True, slots=True)
class CriterionOutcome:
    name: str
    zh: str
    en: str
    operator: str
    threshold: float
    value: float | None
    outcome: Outcome
    reason: str | None
    months_used: tuple[str, ...]
    missing_months: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One tier (reward) or breach clause (penalty) and its money."""

    kind: LineKind
    name: str
    zh: str
    en: str
    means: Means | None  # rewards only
    points: float | None  # rewards only
    outcome: str  # met / not_met / not_evaluable, or kept / breached / not_evaluable
    amount: Amount | None  # as agreed; None: the terms attach no money
    amount_cny: Decimal  # what is due on this line, to the cent (0 when nothing is)
    criteria: tuple[CriterionOutcome, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    rule_set_version: str
    first_month: str
    last_month: str
    currency: str
    contract_sum_cny: Decimal | None
    penalty_when_not_evaluable: str
    lines: tuple[StatementLine, ...]
    reward_cny: Decimal
    penalty_cny: Decimal
    net_cny: Decimal
    revisions: Mapping[str, int]  # month -> site_months row revision used
    claims_data: bool

    def document(self) -> dict[str, Any]:
        """The statement as plain JSON values (money as decimal strings)."""
        raise NotImplementedError

    def canonical_json(self) -> bytes:
        """UTF-8 JSON with sorted keys and no spaces: the bytes that are hashed and stored."""
        raise NotImplementedError

    @property
    def content_hash(self) -> str:
        """``sha256:<hex>`` of :meth:`canonical_json`."""
        raise NotImplementedError


def settle(terms: AgreementTerms, evaluation: PeriodEvaluation) -> Statement:
    """The statement for ``evaluation`` under ``terms`` (same rule-set version).

    Rewards: a tier met earns its amount; not met or not evaluable earns nothing.
    Penalties: a breach costs its amount; not evaluable costs it only when the terms say
    ``penalty_when_not_evaluable: apply``. Raises ValueError when the terms do not fit
    the evaluation (another rule-set version, a share without a contract sum)."""
    raise NotImplementedError
