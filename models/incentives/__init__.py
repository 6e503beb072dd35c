"""Contract rewards and penalties (合同奖惩): rule sets as versioned data, a site's period
evaluated month by month, and the settlement statement. Pure: no web, database or model
code (docs/contract-incentives.md). Import from here rather than from the modules."""

from models.incentives.evaluation import (
    BreachEvaluation,
    CriterionEvaluation,
    MonthFigure,
    Outcome,
    PeriodEvaluation,
    TierEvaluation,
    evaluate_period,
    period_months,
)
from models.incentives.inputs import MonthRow, PeerRow, SiteClaim, SiteClass
from models.incentives.rule_set import (
    Breach,
    Criterion,
    Problem,
    Ranking,
    RuleSet,
    RuleSetError,
    Tier,
    available_rule_sets,
    load_rule_set,
    parse_rule_set,
    validate_rule_set,
)
from models.incentives.settlement import (
    CriterionOutcome,
    Statement,
    StatementLine,
    canonical_json,
    settle,
)
from models.incentives.terms import (
    AgreementTerms,
    Amount,
    terms_from_json,
    terms_to_json,
    validate_terms,
)

__all__ = [
    "AgreementTerms",
    "Amount",
    "Breach",
    "BreachEvaluation",
    "Criterion",
    "CriterionEvaluation",
    "CriterionOutcome",
    "MonthFigure",
    "MonthRow",
    "Outcome",
    "PeerRow",
    "PeriodEvaluation",
    "Problem",
    "Ranking",
    "RuleSet",
    "RuleSetError",
    "SiteClaim",
    "SiteClass",
    "Statement",
    "StatementLine",
    "Tier",
    "TierEvaluation",
    "available_rule_sets",
    "canonical_json",
    "evaluate_period",
    "load_rule_set",
    "parse_rule_set",
    "period_months",
    "settle",
    "terms_from_json",
    "terms_to_json",
    "validate_rule_set",
    "validate_terms",
]
