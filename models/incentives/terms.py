"""The money an agreement attaches to a rule set: a reward for each tier met and a
penalty for each breach, each in CNY or as a share of the contract sum.

What "not evaluable" means for the money is stated by the agreement, within one fixed
rule: missing data never earns a reward. ``penalty_when_not_evaluable`` says whether a
breach clause that cannot be evaluated is waived or applied as if breached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, get_args

from models.incentives.rule_set import Problem, RuleSet, RuleSetError

AmountKind = Literal["cny", "share_of_contract_sum"]
NotEvaluablePenalty = Literal["waive", "apply"]
AMOUNT_KINDS: Final[tuple[str, ...]] = get_args(AmountKind)
NOT_EVALUABLE_PENALTIES: Final[tuple[str, ...]] = get_args(NotEvaluablePenalty)
MAX_CNY: Final = Decimal("1e12")  # a trillion yuan: beyond any site's contract
_KEYS: Final = (
    "rule_set_version", "rewards", "penalties", "contract_sum_cny",
    "penalty_when_not_evaluable", "currency",
)  # fmt: skip


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


def _amount_problems(at: str, amount: Amount) -> list[Problem]:
    value = amount.value
    if not value.is_finite():
        return [Problem(f"{at}.value", "must be a finite number")]
    if amount.kind == "cny":
        if value <= 0 or value >= MAX_CNY:
            return [Problem(f"{at}.value", f"must be > 0 and < {MAX_CNY:,.0f} yuan, got {value}")]
        if value != value.quantize(Decimal("0.01")):
            return [Problem(f"{at}.value", f"at most two decimals (fen), got {value}")]
        return []
    if not 0 < value <= 1:
        return [Problem(f"{at}.value", f"a share of the contract sum lies in (0, 1], got {value}")]
    if value != value.quantize(Decimal("0.000001")):
        return [Problem(f"{at}.value", f"at most six decimals, got {value}")]
    return []


def validate_terms(terms: AgreementTerms, rule_set: RuleSet) -> list[Problem]:
    """Every problem of ``terms`` against ``rule_set`` at its JSON path
    (``$.rewards.civilised_site_priority.value``); [] when they can be settled."""
    out: list[Problem] = []
    if terms.rule_set_version != rule_set.version:
        out.append(
            Problem(
                "$.rule_set_version",
                f"{terms.rule_set_version!r} is not the rule set's {rule_set.version!r}",
            )
        )
    tiers = {t.name for t in rule_set.tiers}
    breaches = {b.name for b in rule_set.breaches}
    shares = False
    for key, names, what, amounts in (
        ("rewards", tiers, "tier", terms.rewards),
        ("penalties", breaches, "breach", terms.penalties),
    ):
        for name, amount in amounts.items():
            at = f"$.{key}.{name}"
            if name not in names:
                known = ", ".join(sorted(names)) or "none"
                out.append(Problem(at, f"no {what} {name!r} in the rule set (known: {known})"))
            out += _amount_problems(at, amount)
            shares = shares or amount.kind == "share_of_contract_sum"
    total = terms.contract_sum_cny
    if total is None:
        if shares:
            out.append(Problem("$.contract_sum_cny", "missing (an amount is a share of it)"))
    elif not total.is_finite() or not 0 < total < MAX_CNY:
        out.append(Problem("$.contract_sum_cny", f"must be > 0 and < {MAX_CNY:,.0f}, got {total}"))
    elif total != total.quantize(Decimal("0.01")):
        out.append(Problem("$.contract_sum_cny", f"at most two decimals (fen), got {total}"))
    return out


def _decimal(at: str, raw: object, problems: list[Problem]) -> Decimal | None:
    """A decimal from a JSON string or number; a float is read by its shortest text."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        problems.append(Problem(at, f"expected a decimal number or string, got {raw!r}"))
        return None
    try:
        return Decimal(raw if isinstance(raw, str) else repr(raw))
    except InvalidOperation:
        problems.append(Problem(at, f"not a decimal number: {raw!r}"))
        return None


def _amounts(at: str, raw: object, problems: list[Problem]) -> dict[str, Amount]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(at, "expected a mapping of names to amounts"))
        return {}
    out: dict[str, Amount] = {}
    for name, item in raw.items():
        where = f"{at}.{name}"
        if not isinstance(item, dict):
            problems.append(Problem(where, "expected {kind, value}"))
            continue
        for key in sorted(set(item) - {"kind", "value"}):
            problems.append(Problem(f"{where}.{key}", "unknown key"))
        kind = item.get("kind")
        if kind not in AMOUNT_KINDS:
            problems.append(Problem(f"{where}.kind", f"must be one of {', '.join(AMOUNT_KINDS)}"))
        if "value" not in item:
            problems.append(Problem(f"{where}.value", "missing"))
            continue
        value = _decimal(f"{where}.value", item["value"], problems)
        if value is not None and kind in AMOUNT_KINDS:
            out[str(name)] = Amount(kind, value)
    return out


def terms_from_json(raw: object) -> AgreementTerms:
    """Terms from their JSON form (amounts as decimal strings or numbers), or
    :class:`models.incentives.rule_set.RuleSetError` naming every problem of the shape."""
    if not isinstance(raw, dict):
        raise RuleSetError("agreement terms", [Problem("$", "expected a mapping")])
    problems = [Problem(f"$.{k}", "unknown key") for k in sorted(set(raw) - set(_KEYS))]
    version = raw.get("rule_set_version")
    if not isinstance(version, str) or not version:
        problems.append(Problem("$.rule_set_version", "missing or not a string"))
    currency = raw.get("currency", "CNY")
    if currency != "CNY":
        problems.append(Problem("$.currency", f"only CNY, got {currency!r}"))
    policy = raw.get("penalty_when_not_evaluable", "waive")
    if policy not in NOT_EVALUABLE_PENALTIES:
        problems.append(
            Problem(
                "$.penalty_when_not_evaluable",
                f"must be one of {', '.join(NOT_EVALUABLE_PENALTIES)}, got {policy!r}",
            )
        )
    total: Decimal | None = None
    if raw.get("contract_sum_cny") is not None:
        total = _decimal("$.contract_sum_cny", raw["contract_sum_cny"], problems)
    rewards = _amounts("$.rewards", raw.get("rewards"), problems)
    penalties = _amounts("$.penalties", raw.get("penalties"), problems)
    if problems:
        raise RuleSetError("agreement terms", problems)
    assert isinstance(version, str)
    return AgreementTerms(
        rule_set_version=version,
        rewards=rewards,
        penalties=penalties,
        contract_sum_cny=total,
        penalty_when_not_evaluable=policy,
    )


def terms_to_json(terms: AgreementTerms) -> dict[str, Any]:
    """The JSON form :func:`terms_from_json` reads (decimals as strings)."""
    return {
        "rule_set_version": terms.rule_set_version,
        "currency": terms.currency,
        "contract_sum_cny": None if terms.contract_sum_cny is None else str(terms.contract_sum_cny),
        "penalty_when_not_evaluable": terms.penalty_when_not_evaluable,
        "rewards": {k: {"kind": a.kind, "value": str(a.value)} for k, a in terms.rewards.items()},
        "penalties": {
            k: {"kind": a.kind, "value": str(a.value)} for k, a in terms.penalties.items()
        },
    }
