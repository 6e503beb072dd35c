"""Settle an evaluated period under an agreement's terms: a statement with each
criterion's outcome, every reward and penalty, the net amount, the revisions used and
a content hash over its canonical JSON, so the same inputs give the same bytes.

Money is Decimal throughout. A share of the contract sum is multiplied exactly and
rounded half-up to the cent, line by line; totals are sums of the rounded lines (so the
printed lines add up to the printed totals). Net = rewards - penalties.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

from models.incentives.evaluation import CriterionEvaluation, Outcome, PeriodEvaluation
from models.incentives.inputs import SiteClass
from models.incentives.rule_set import Means
from models.incentives.terms import AgreementTerms, Amount

LineKind = Literal["reward", "penalty"]
SCHEMA: Final = "incentive-statement/1"
CENT: Final = Decimal("0.01")
ZERO: Final = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class CriterionOutcome:
    name: str
    zh: str
    en: str
    metric: str
    column: str | None
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


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _amount(amount: Amount | None) -> dict[str, str] | None:
    if amount is None:
        return None
    text = _money(amount.value) if amount.kind == "cny" else format(amount.value.normalize(), "f")
    return {"kind": amount.kind, "value": text}


def _criterion_document(c: CriterionOutcome) -> dict[str, Any]:
    return {
        "name": c.name,
        "zh": c.zh,
        "en": c.en,
        "metric": c.metric,
        "column": c.column,
        "operator": c.operator,
        "threshold": c.threshold,
        "value": c.value,
        "outcome": c.outcome,
        "reason": c.reason,
        "months_used": list(c.months_used),
        "missing_months": list(c.missing_months),
    }


@dataclass(frozen=True, slots=True)
class Statement:
    rule_set_version: str
    site_class: SiteClass | None
    months: tuple[str, ...]
    currency: str
    contract_sum_cny: Decimal | None
    penalty_when_not_evaluable: str
    lines: tuple[StatementLine, ...]
    reward_cny: Decimal
    penalty_cny: Decimal
    net_cny: Decimal
    revisions: Mapping[str, int]  # month -> site_months row revision used
    claims_data: bool

    @property
    def first_month(self) -> str:
        return self.months[0]

    @property
    def last_month(self) -> str:
        return self.months[-1]

    def document(self) -> dict[str, Any]:
        """The statement as plain JSON values (money as decimal strings, two decimals)."""
        total = self.contract_sum_cny
        return {
            "schema": SCHEMA,
            "rule_set_version": self.rule_set_version,
            "site_class": None
            if self.site_class is None
            else {"project_type": self.site_class.project_type, "stage": self.site_class.stage},
            "period": {"first_month": self.first_month, "last_month": self.last_month},
            "currency": self.currency,
            "contract_sum_cny": None if total is None else _money(total),
            "penalty_when_not_evaluable": self.penalty_when_not_evaluable,
            "claims_data": self.claims_data,
            "lines": [
                {
                    "kind": line.kind,
                    "name": line.name,
                    "zh": line.zh,
                    "en": line.en,
                    "means": line.means,
                    "points": line.points,
                    "outcome": line.outcome,
                    "amount": _amount(line.amount),
                    "amount_cny": _money(line.amount_cny),
                    "criteria": [_criterion_document(c) for c in line.criteria],
                }
                for line in self.lines
            ],
            "reward_cny": _money(self.reward_cny),
            "penalty_cny": _money(self.penalty_cny),
            "net_cny": _money(self.net_cny),
            "revisions": dict(sorted(self.revisions.items())),
        }

    def canonical_json(self) -> bytes:
        """UTF-8 JSON with sorted keys and no spaces: the bytes that are hashed and stored."""
        return canonical_json(self.document())

    @property
    def content_hash(self) -> str:
        """``sha256:<hex>`` of :meth:`canonical_json`."""
        return "sha256:" + hashlib.sha256(self.canonical_json()).hexdigest()


def canonical_json(document: object) -> bytes:
    """Sorted keys, no spaces, UTF-8 text as is, floats by their shortest repr (the same
    on every platform), NaN refused: one document, one byte string."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _due(amount: Amount | None, contract_sum: Decimal | None) -> Decimal:
    if amount is None:
        return ZERO
    if amount.kind == "cny":
        return amount.value.quantize(CENT, rounding=ROUND_HALF_UP)
    if contract_sum is None:
        raise ValueError("an amount is a share of the contract sum, and the terms name none")
    return (amount.value * contract_sum).quantize(CENT, rounding=ROUND_HALF_UP)


def _outcomes(criteria: Sequence[CriterionEvaluation]) -> tuple[CriterionOutcome, ...]:
    return tuple(
        CriterionOutcome(
            name=c.name,
            zh=c.zh,
            en=c.en,
            metric=c.metric,
            column=c.column,
            operator=c.operator,
            threshold=c.threshold,
            value=c.value,
            outcome=c.outcome,
            reason=c.reason,
            months_used=c.months_used,
            missing_months=c.missing_months,
        )
        for c in criteria
    )


def settle(terms: AgreementTerms, evaluation: PeriodEvaluation) -> Statement:
    """The statement for ``evaluation`` under ``terms`` (same rule-set version).

    Rewards: a tier met earns its amount; not met or not evaluable earns nothing.
    Penalties: a breach costs its amount; not evaluable costs it only when the terms say
    ``penalty_when_not_evaluable: apply``. Raises ValueError when the terms do not fit
    the evaluation (another rule-set version, a name it lacks, a share without a
    contract sum)."""
    if terms.rule_set_version != evaluation.rule_set_version:
        raise ValueError(
            f"the terms name rule set {terms.rule_set_version!r}, "
            f"the evaluation used {evaluation.rule_set_version!r}"
        )
    unknown = sorted(
        (set(terms.rewards) - {t.name for t in evaluation.tiers})
        | (set(terms.penalties) - {b.name for b in evaluation.breaches})
    )
    if unknown:
        raise ValueError(f"the terms name {', '.join(unknown)}, which the rule set lacks")
    lines: list[StatementLine] = []
    for tier in evaluation.tiers:
        amount = terms.rewards.get(tier.name)
        due = _due(amount, terms.contract_sum_cny)  # checked even when nothing is due
        lines.append(
            StatementLine(
                kind="reward",
                name=tier.name,
                zh=tier.zh,
                en=tier.en,
                means=tier.means,
                points=tier.points,
                outcome=tier.outcome,
                amount=amount,
                # missing data never earns a reward, whatever the terms say
                amount_cny=due if tier.outcome == "met" else ZERO,
                criteria=_outcomes(tier.criteria),
            )
        )
    apply_blind = terms.penalty_when_not_evaluable == "apply"
    for breach in evaluation.breaches:
        amount = terms.penalties.get(breach.name)
        due = _due(amount, terms.contract_sum_cny)
        owed = breach.outcome == "breached" or (breach.outcome == "not_evaluable" and apply_blind)
        lines.append(
            StatementLine(
                kind="penalty",
                name=breach.name,
                zh=breach.zh,
                en=breach.en,
                means=None,
                points=None,
                outcome=breach.outcome,
                amount=amount,
                amount_cny=due if owed else ZERO,
                criteria=_outcomes((breach.criterion,)),
            )
        )
    reward = sum((line.amount_cny for line in lines if line.kind == "reward"), ZERO)
    penalty = sum((line.amount_cny for line in lines if line.kind == "penalty"), ZERO)
    return Statement(
        rule_set_version=evaluation.rule_set_version,
        site_class=evaluation.site_class,
        months=evaluation.months,
        currency=terms.currency,
        contract_sum_cny=terms.contract_sum_cny,
        penalty_when_not_evaluable=terms.penalty_when_not_evaluable,
        lines=tuple(lines),
        reward_cny=reward,
        penalty_cny=penalty,
        net_cny=reward - penalty,
        revisions=dict(evaluation.revisions),
        claims_data=evaluation.claims_data,
    )
