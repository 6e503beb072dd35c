"""``/v1/incentives/rules``: the incentive tiers quotes are checked against."""

from __future__ import annotations

import msgspec
from litestar import Controller, get

from service.errors import error_responses
from service.quotes.pricing_service import PricingRules
from service.quotes.schemas import Text


class CriterionRule(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    label: Text
    metric: str
    column: str | None
    severities: list[str]
    operator: str
    threshold: float
    window_months: int | None
    min_months: int


class TierRule(msgspec.Struct, frozen=True, kw_only=True):
    tier: str
    label: Text
    description: str
    criteria: list[CriterionRule]


class IncentiveRules(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    label: str
    description: str
    source: str
    tiers: list[TierRule]


def incentive_rules(rules: PricingRules) -> IncentiveRules:
    rs = rules.incentives
    return IncentiveRules(
        version=rs.version,
        label=rs.label,
        description=rs.description,
        source=rs.source,
        tiers=[
            TierRule(
                tier=t.name,
                label=Text(zh=t.zh, en=t.en),
                description=t.description,
                criteria=[
                    CriterionRule(
                        name=c.name,
                        label=Text(zh=c.zh, en=c.en),
                        metric=c.metric,
                        column=c.column,
                        severities=list(c.severities),
                        operator=c.operator,
                        threshold=c.threshold,
                        window_months=c.window_months,
                        min_months=c.min_months,
                    )
                    for c in t.criteria
                ],
            )
            for t in rs.tiers
        ],
    )


class IncentivesController(Controller):
    path = "/v1/incentives"
    tags = ["incentives"]  # noqa: RUF012

    @get(
        "/rules",
        sync_to_thread=False,
        summary="The incentive tiers and criteria quotes are checked against",
        responses=error_responses(401, 429),
    )
    def rules(self) -> IncentiveRules:
        return incentive_rules(PricingRules.shipped())
