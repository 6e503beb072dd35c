"""A quote's prevention plan between the model and the answer: which services of the
rate book's prevention block the site needs (its gaps, measured and moved as the
recommendations measure and move a metric, :mod:`service.quotes.recommend`), and the
answer's items with their texts. The arithmetic is :mod:`models.pricing.prevention`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from models.contract import spec
from models.contract.spec import GROUP_LABELS, Group
from models.pricing import prevention
from models.pricing.ratebook import PreventionService, RateBook
from models.pricing.site_history import SiteHistory
from service.quotes import recommend
from service.quotes.schemas import PreventionItem, PreventionPlanOut, Text


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


def _shown(unit: str, value: float) -> str:
    return f"{100 * value:.1f}%" if unit == "share" else f"{value:.2f}"


def _item(
    p: prevention.Priced, expected_loss: float, why: prevention.Skipped | None
) -> PreventionItem:
    r, s = p.reach, p.reach.service
    col = spec.column("site_months", s.metric)
    group = GROUP_LABELS[Group(r.group)]
    unit = "share" if s.direction < 0 else "per 10k worker-hours"
    cur, tgt = _shown(unit, r.current), _shown(unit, s.target)
    per_zh, per_en = ("", "") if unit == "share" else ("次/万工时", " per 10k worker-hours")
    cost = float(r.cost)
    reduction = round(p.risk_reduction_cny, 2)
    pct = 100.0 * p.risk_reduction_cny / expected_loss if expected_loss > 0 else 0.0
    capped = r.reached != s.target
    reach_zh = (
        "" if not capped else f"（上限{s.max_units}{s.unit_zh}，可达{_shown(unit, r.reached)}）"
    )
    reach_en = (
        "" if not capped else f" (at most {s.max_units} a term, reaching {_shown(unit, r.reached)})"
    )
    zh = (
        f"{group['zh']}：{col.zh}为{cur}{per_zh}，费率表目标{tgt}{per_zh}。"
        f"建议{s.label_zh}{r.units}{s.unit_zh}{reach_zh}，费用约{cost:,.2f}元；"
        f"模型估算可使预期损失降低{pct:.1f}%，保费可节省"
        f"{p.premium_saving_cny:,.2f}元。"
    )
    en = (
        f"{group['en']}: {col.meaning} is {cur}{per_en} against the book's target of "
        f"{tgt}{per_en}. {s.label_en}: {r.units} {s.unit_en}(s){reach_en}, costing about "
        f"CNY {cost:,.2f}; the model estimates the expected loss falls by {pct:.1f}% "
        f"and the premium by CNY {p.premium_saving_cny:,.2f}."
    )
    if why == "over_budget":
        zh += "超出剩余预算，本期未安排。"
        en += " It does not fit in what is left of the budget."
    elif why == "no_risk_reduction":
        zh += "模型认为缩小该差距不降低风险，未安排。"
        en += " The model credits closing this gap with no risk reduction."
    return PreventionItem(
        service=s.name,
        label=Text(zh=s.label_zh, en=s.label_en),
        group=r.group,
        group_label=Text(zh=group["zh"], en=group["en"]),
        metric=s.metric,
        metric_label=Text(zh=col.zh, en=col.meaning),
        unit=unit,
        current=r.current,
        target=s.target,
        gap=r.gap,
        units=r.units,
        unit_label=Text(zh=s.unit_zh, en=s.unit_en),
        reached=r.reached,
        cost_per_unit_cny=float(s.cost_per_unit),
        cost_cny=cost,
        risk_reduction_cny=reduction,
        risk_reduction_pct=pct,
        premium_saving_cny=float(p.premium_saving_cny),
        not_funded=why,
        text=Text(zh=zh, en=en),
    )


def plan_out(
    book: RateBook, plan: prevention.PreventionPlan, expected_loss: float
) -> PreventionPlanOut:
    """The answer's plan: the items bought, those not, and a sentence on the whole."""
    cost, left = plan.cost, plan.remaining
    if plan.items:
        zh_items = "、".join(
            f"{p.reach.service.label_zh}{p.reach.units}{p.reach.service.unit_zh}"
            for p in plan.items
        )
        en_items = ", ".join(f"{p.reach.service.label_en} ×{p.reach.units}" for p in plan.items)
        zh = (
            f"预防服务预算{plan.budget:,.2f}元（保费的{100 * float(book.prevention_share):g}%），"
            f"按每元降低风险最多的顺序安排：{zh_items}，合计{cost:,.2f}元，余{left:,.2f}元。"
        )
        en = (
            f"Prevention budget CNY {plan.budget:,.2f} ({100 * float(book.prevention_share):g}% of "
            f"the premium), spent where each yuan removes the most risk: {en_items}; "
            f"CNY {cost:,.2f} in all, CNY {left:,.2f} left."
        )
    else:
        zh = (
            f"预防服务预算{plan.budget:,.2f}元（保费的{100 * float(book.prevention_share):g}%）；"
            "本工地没有可按费率表目标安排的服务项目，预算可用于其他事故预防服务。"
        )
        en = (
            f"Prevention budget CNY {plan.budget:,.2f} ({100 * float(book.prevention_share):g}% of "
            "the premium); no service of the book is needed against its targets here, so "
            "the budget is free for other prevention services."
        )
    return PreventionPlanOut(
        budget_cny=float(plan.budget),
        share=float(book.prevention_share),
        rate_book=book.name,
        cost_cny=float(cost),
        remaining_cny=float(left),
        items=[_item(p, expected_loss, None) for p in plan.items],
        not_funded=[_item(p, expected_loss, why) for p, why in plan.not_funded],
        text=Text(zh=zh, en=en),
    )
