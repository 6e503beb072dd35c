"""Pricing rules as pure functions over versioned data (no web, database or model code).

The tariff, the adjustment band with its data-quality gate, and the incentive tiers
are YAML files in ``models/pricing/rules``; every result names the rule versions it
used. Import from here rather than from the modules.
"""

from models.pricing.incentives import (
    CriterionResult,
    IncentiveResult,
    TierResult,
    evaluate_incentives,
)
from models.pricing.premium import (
    CENT,
    Adjustment,
    FeatureEffect,
    GroupEffect,
    Quote,
    adjust,
    adjusted_premium,
    base_premium,
    credibility,
    expected_term_loss,
    project_premium,
    quote,
    round_cent,
)
from models.pricing.quality import DataQualityCheck, check_data_quality
from models.pricing.rulesets import (
    Band,
    Criterion,
    DataQualityRule,
    IncentiveRuleSet,
    RuleError,
    Tariff,
    TariffBand,
    Tier,
    available_versions,
    load_band,
    load_incentives,
    load_tariff,
)

__all__ = [
    "CENT",
    "Adjustment",
    "Band",
    "Criterion",
    "CriterionResult",
    "DataQualityCheck",
    "DataQualityRule",
    "FeatureEffect",
    "GroupEffect",
    "IncentiveResult",
    "IncentiveRuleSet",
    "Quote",
    "RuleError",
    "Tariff",
    "TariffBand",
    "Tier",
    "TierResult",
    "adjust",
    "adjusted_premium",
    "available_versions",
    "base_premium",
    "check_data_quality",
    "credibility",
    "evaluate_incentives",
    "expected_term_loss",
    "load_band",
    "load_incentives",
    "load_tariff",
    "project_premium",
    "quote",
    "round_cent",
]
