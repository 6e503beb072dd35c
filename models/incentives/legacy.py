"""Rule set 2025.1 (``models/pricing/rules/incentives-*.yaml``, the quote's eligibility
tiers before issue 19) as a :class:`~models.incentives.rule_set.RuleSet`, so quotes are
evaluated by the same code as agreements and quotes priced with it still replay.

Its criteria keep their meaning: each reads the ``window_months`` calendar months before
the policy start; ``min_months`` reported months become ``window_months - min_months``
months allowed missing; its claims criteria count the claims the quote was given (the
insurer's own); its ``risk_percentile`` is the model's percentile among all training
peers (``model_percentile``), which new rule sets replace by ``class_percentile``. Its
tiers carry no penalties. The shape was checked when 2025.1 was loaded
(:func:`models.pricing.load_incentives`); no schema of incentive-rules/2 is applied.
"""

from __future__ import annotations

from typing import Final, get_args

from models.incentives.rule_set import Criterion, Means, RuleSet, Tier
from models.pricing.rulesets import Criterion as LegacyCriterion
from models.pricing.rulesets import IncentiveRuleSet

MEANS: Final[tuple[str, ...]] = get_args(Means)
# the two metrics whose names changed; the others keep theirs
METRIC_NAMES: Final = {"risk_percentile": "model_percentile"}
LEGACY_NAMES: Final = {new: old for old, new in METRIC_NAMES.items()}


def _criterion(c: LegacyCriterion) -> Criterion:
    window = c.window_months
    return Criterion(
        name=c.name,
        zh=c.zh,
        en=c.en,
        metric=METRIC_NAMES.get(c.metric, c.metric),  # type: ignore[arg-type]  # same names
        operator=c.operator,
        threshold=c.threshold,
        window_months=window,
        # claims and the percentile have no months to miss
        max_missing_months=0 if window is None or not c.column else window - c.min_months,
        column=c.column,
        severities=c.severities,
    )


def _means(tier_name: str) -> Means:
    return tier_name if tier_name in MEANS else "contract_money"  # type: ignore[return-value]


def from_legacy(rule_set: IncentiveRuleSet) -> RuleSet:
    """The 2025.1-format ``rule_set`` as a rule set :func:`evaluate_period` reads."""
    return RuleSet(
        version=rule_set.version,
        label=rule_set.label,
        description=rule_set.description,
        source=rule_set.source,
        sample=False,
        tiers=tuple(
            Tier(
                name=t.name,
                zh=t.zh,
                en=t.en,
                description=t.description,
                means=_means(t.name),
                points=None,
                criteria=tuple(_criterion(c) for c in t.criteria),
            )
            for t in rule_set.tiers
        ),
        breaches=(),
        document={},
    )


def window_months(rule_set: IncentiveRuleSet) -> int:
    """The longest window of any criterion: the period a quote's evaluation covers."""
    return max((c.window_months or 1 for t in rule_set.tiers for c in t.criteria), default=1)
