"""What every versioned rule file shares: versions order by their trailing number, and
one error names what is broken."""

from __future__ import annotations

import pytest

from models.rule_data import RuleError, version_key


def test_versions_order_by_their_trailing_number() -> None:
    ordered = sorted(["default-2025.10", "acme-2026.1", "default-2025.9"], key=version_key)
    assert ordered == ["default-2025.9", "default-2025.10", "acme-2026.1"]


def test_the_pricing_rules_and_incentive_rule_sets_raise_the_shared_error() -> None:
    from models.incentives.rule_set import load_rule_set
    from models.pricing import RuleError as PricingRuleError
    from models.pricing import load_tariff

    assert PricingRuleError is RuleError
    with pytest.raises(RuleError, match="no-such-version"):
        load_tariff("no-such-version")
    with pytest.raises(RuleError):
        load_rule_set("no-such-version")


def test_a_schema_error_lists_every_problem_at_its_path() -> None:
    from models.incentives.rule_set import RuleSetError
    from models.pricing.ratebook import RateBookError
    from models.rule_data import Problem, SchemaError

    problems = [Problem("$.tiers[0].name", "missing"), Problem("$.band.max_pct", "too big")]
    for error, what in ((RuleSetError, "rule set"), (RateBookError, "rate book")):
        raised = error("book.yaml", problems)
        assert isinstance(raised, SchemaError)
        assert isinstance(raised, RuleError)
        assert raised.problems == tuple(problems)
        assert str(raised) == (
            f"book.yaml: 2 problem(s) in the {what}:\n"
            "  $.tiers[0].name: missing\n  $.band.max_pct: too big"
        )
