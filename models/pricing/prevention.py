"""The accident-prevention plan a quote's premium pays for (事故预防服务, docs/prevention.md).

Pure functions, no model: the caller measures the site's metrics and has the model
price each service's what-if (``service/quotes/recommend.py``, the one what-if
implementation); here only the book's arithmetic is done.

1. :func:`budget`: the book's prevention share × the final premium, half-up to the cent.
2. :func:`reach`: for one service of the book and the site's value of its metric, the
   gap to the book's target, the whole units of the service that close it (at most the
   service's ``max_units``) and the value those units reach — the value the caller's
   what-if moves the metric to.
3. :func:`plan`: given each service's cost and the risk reduction the model attributes
   to closing its gap, the services bought within the budget — greedy by risk reduction
   per yuan, each service whole or not at all; the rest are listed with why not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal

from models.contract import spec
from models.pricing.ratebook import PreventionService

CENT: Final = Decimal("0.01")
# a gap smaller than this (float noise in a mean of shares) is no gap
_SLACK: Final = 1e-9

Skipped = Literal["over_budget", "no_risk_reduction"]


def budget(final_premium: Decimal, share: Decimal) -> Decimal:
    """The prevention budget: ``share`` × ``final_premium``, rounded half-up to the cent."""
    return (final_premium * share).quantize(CENT, rounding=ROUND_HALF_UP)


def group_of(metric: str) -> str:
    """The 工地画像 group a site-month metric belongs to."""
    group = spec.column("site_months", metric).group
    assert group is not None, metric  # every controllable metric has one
    return group.value


@dataclass(frozen=True, slots=True)
class Reach:
    """What one service can do for one site's metric."""

    service: PreventionService
    current: float  # the site's value: a share, or per 10k worker-hours for a count
    gap: float  # how far the value is from the book's target, in the metric's unit
    units: int  # whole units bought: enough to close the gap, at most max_units
    reached: float  # the value those units bring the metric to
    cost: Decimal  # units × cost per unit, to the cent

    @property
    def group(self) -> str:
        return group_of(self.service.metric)


def reach(service: PreventionService, current: float) -> Reach | None:
    """The gap from ``current`` to the service's target and what closing it costs; None
    where the site already meets the target (or its value is not known)."""
    if not math.isfinite(current):
        return None
    # a rate (direction -1) lags below its target, a count (+1) above it
    gap = (service.target - current) if service.direction < 0 else (current - service.target)
    if gap <= _SLACK:
        return None
    needed = math.ceil(gap / service.gap_per_unit - _SLACK)
    units = max(1, min(needed, service.max_units))
    closed = min(gap, units * service.gap_per_unit)
    reached = current + closed if service.direction < 0 else current - closed
    cost = (service.cost_per_unit * units).quantize(CENT, rounding=ROUND_HALF_UP)
    return Reach(service, current, gap, units, reached, cost)


@dataclass(frozen=True, slots=True)
class Priced:
    """One service's reach with what the model says closing it is worth."""

    reach: Reach
    # the site's expected loss over the term, less that with the metric at ``reached``
    risk_reduction_cny: float
    # the quote's final premium, less the what-if's through the same rating plan
    premium_saving_cny: Decimal

    @property
    def per_yuan(self) -> float:
        """Expected loss removed per yuan of the service's cost."""
        return self.risk_reduction_cny / float(self.reach.cost)


@dataclass(frozen=True, slots=True)
class PreventionPlan:
    budget: Decimal
    items: tuple[Priced, ...]  # bought, in the order chosen
    not_funded: tuple[tuple[Priced, Skipped], ...]  # by service name

    @property
    def cost(self) -> Decimal:
        return sum((p.reach.cost for p in self.items), Decimal("0.00"))

    @property
    def remaining(self) -> Decimal:
        return self.budget - self.cost


def plan(budget: Decimal, priced: Sequence[Priced]) -> PreventionPlan:
    """The services the budget buys: by risk reduction per yuan, best first (ties: the
    larger reduction, then the service's name), each bought whole if it still fits in
    what is left of the budget, else skipped for the next; a service the model credits
    with no reduction is never bought."""
    useful = [p for p in priced if p.risk_reduction_cny > 0.0]
    order = sorted(useful, key=lambda p: (-p.per_yuan, -p.risk_reduction_cny, p.reach.service.name))
    left = budget
    bought: list[Priced] = []
    skipped: list[tuple[Priced, Skipped]] = []
    for p in order:
        if p.reach.cost <= left:
            bought.append(p)
            left -= p.reach.cost
        else:
            skipped.append((p, "over_budget"))
    skipped += [(p, "no_risk_reduction") for p in priced if p.risk_reduction_cny <= 0.0]
    skipped.sort(key=lambda s: s[0].reach.service.name)
    return PreventionPlan(budget, tuple(bought), tuple(skipped))
