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
