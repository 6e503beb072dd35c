"""A quote's prevention plan between the model and the answer: which services of the
rate book's prevention block the site needs (its gaps, measured and moved as the
recommendations measure and move a metric, :mod:`service.quotes.recommend`), and the
answer's items as facts. The arithmetic is :mod:`models.pricing.prevention`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from models.pricing import prevention
from models.pricing.ratebook import PreventionService, RateBook
from models.pricing.site_history import SiteHistory
from service.quotes import recommend
from service.quotes.schemas import PreventionItem, PreventionPlanOut


@dataclass(frozen=True, slots=True)
class Gap:
    """One service one site needs: its reach and the what-if that closes it (a
    recommendation candidate moved to the value the service's units reach)."""

    reach: prevention.Reach
    candidate: recommend.Candidate


def gaps(
    position: int, history: SiteHistory, start_month: str, services: Sequence[PreventionService]
) -> list[Gap]:
    """The services whose metric lags the book's target, measured as the
    recommendations measure a metric (the last six months' reported values)."""
    by_metric = {s.metric: s for s in services}
    thresholds = {s.metric: [(s.target, f"prevention.{s.name}")] for s in services}
    out = []
    for c in recommend.candidates(position, history, start_month, thresholds, {}):
        found = prevention.reach(by_metric[c.column], c.current)
        if found is not None:
            # the what-if moves the metric as far as the service's units reach
            out.append(Gap(found, dataclasses.replace(c, target=found.reached)))
    return out


def _item(
    p: prevention.Priced, expected_loss: float, why: prevention.Skipped | None
) -> PreventionItem:
    r, s = p.reach, p.reach.service
    return PreventionItem(
        service=s.name,
        group=r.group,
        metric=s.metric,
        unit="share" if s.direction < 0 else "per 10k worker-hours",
        current=r.current,
        target=s.target,
        gap=r.gap,
        units=r.units,
        reached=r.reached,
        cost_per_unit_cny=float(s.cost_per_unit),
        cost_cny=float(r.cost),
        risk_reduction_cny=round(p.risk_reduction_cny, 2),
        risk_reduction_pct=(
            100.0 * p.risk_reduction_cny / expected_loss if expected_loss > 0 else 0.0
        ),
        premium_saving_cny=float(p.premium_saving_cny),
        not_funded=why,
    )


def plan_out(
    book: RateBook, plan: prevention.PreventionPlan, expected_loss: float
) -> PreventionPlanOut:
    """The answer's plan: the items bought and those not (their labels and sentences
    are :mod:`service.quotes.texts`', from the book's names)."""
    return PreventionPlanOut(
        budget_cny=float(plan.budget),
        share=float(book.prevention_share),
        rate_book=book.name,
        cost_cny=float(plan.cost),
        remaining_cny=float(plan.remaining),
        items=[_item(p, expected_loss, None) for p in plan.items],
        not_funded=[_item(p, expected_loss, why) for p, why in plan.not_funded],
    )
