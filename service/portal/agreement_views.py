"""The agreement pages' figures, formatted for one language: the API's answers
(:mod:`service.agreements.schemas`) and the stored statement's JSON as rows of text."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.contract import spec
from service.agreements.schemas import AgreementOut, CriterionOut, EvaluationOut
from service.portal.agreement_i18n import AgreementText


def _is_share(column: str | None) -> bool:
    if column is None:
        return False
    try:
        col = spec.column("site_months", column)
    except KeyError:
        return False
    return col.kind == "float" and col.le == 1


def figure(a: AgreementText, metric: str, column: str | None, value: float | None) -> str:
    """A criterion's figure as its metric reads: shares as percentages, percentiles and
    rates with their decimals, counts whole."""
    if value is None:
        return "—"
    if metric in ("months_mean", "months_min") and _is_share(column):
        return a.t.share(value)
    if metric == "claims_count" or metric == "months_sum":
        return a.t.number(value)
    if metric == "class_percentile":
        return a.t.number(value, 1)
    return a.t.number(value, 2)


def _target(a: AgreementText, c: CriterionOut | dict[str, Any]) -> str:
    raw = (
        c
        if isinstance(c, dict)
        else {k: getattr(c, k) for k in ("operator", "metric", "column", "threshold")}
    )
    threshold = figure(a, raw["metric"], raw.get("column"), raw["threshold"])
    return f"{a.t.operator(raw['operator'])} {threshold}"


def status(a: AgreementText, agreement: AgreementOut) -> str:
    return a(f"status.{agreement.status}")


def list_rows(a: AgreementText, items: list[AgreementOut]) -> list[dict[str, Any]]:
    return [
        {
            "id": item.id,
            "site_id": item.site_id,
            "period": f"{a.t.month(item.first_month)} – {a.t.month(item.last_month)}",
            "rules": item.rule_set_version,
            "version": item.version,
            "status": status(a, item),
            "status_key": item.status,
        }
        for item in items
    ]


def _criterion(a: AgreementText, c: CriterionOut) -> dict[str, Any]:
    return {
        "name": c.name,
        "label": a.pick(c.zh, c.en),
        "target": _target(a, c),
        "value": figure(a, c.metric, c.column, c.value),
        "outcome": c.outcome,
        "outcome_text": a(f"outcome.{c.outcome}"),
        "reason": a(f"reason.{c.reason}") if c.reason else None,
        "missing": ", ".join(a.t.month(m) for m in c.missing_months) or "—",
        "months": [
            {
                "month": a.t.month(m.month),
                "key": m.month,
                "value": figure(a, c.metric, c.column, m.value),
                "cumulative": figure(a, c.metric, c.column, m.cumulative),
                "status": m.status,
                "status_text": a(f"outcome.{m.status}"),
                "revision": "—" if m.revision is None else str(m.revision),
            }
            for m in c.by_month
        ],
    }


def agreement_page(
    a: AgreementText, agreement: AgreementOut, evaluation: EvaluationOut
) -> dict[str, Any]:
    return {
        "id": agreement.id,
        "title": a("agreement.title", site=agreement.site_id),
        "meta": a(
            "agreement.meta",
            first=a.t.month(agreement.first_month),
            last=a.t.month(agreement.last_month),
            rules=agreement.rule_set_version,
            version=agreement.version,
            status=status(a, agreement),
        ),
        "parties": parties(a, agreement),
        "through": None
        if evaluation.through_month is None
        else a(
            "agreement.through",
            month=a.t.month(evaluation.through_month),
            used=len(evaluation.months_used),
            missing=len(evaluation.missing_months),
        ),
        "claims_data": evaluation.claims_data,
        "statement": agreement.statement,
        "tiers": [
            {
                "name": t.name,
                "label": a.pick(t.zh, t.en),
                "means": a(f"means.{t.means}"),
                "points": a("agreement.points", points=a.t.number(t.points, 1))
                if t.points
                else None,
                "outcome": t.outcome,
                "outcome_text": a(f"outcome.{t.outcome}"),
                "criteria": [_criterion(a, c) for c in t.criteria],
            }
            for t in evaluation.tiers
        ],
        "breaches": [
            {
                "name": b.name,
                "label": a.pick(b.zh, b.en),
                "outcome": b.outcome,
                "outcome_text": a(f"outcome.{b.outcome}"),
                "criteria": [_criterion(a, b.criterion)],
            }
            for b in evaluation.breaches
        ],
    }


def _money(a: AgreementText, text: str) -> str:
    return a.t.money(float(Decimal(text)))


def _agreed(a: AgreementText, amount: dict[str, str] | None) -> str:
    if amount is None:
        return a("agreed.none")
    if amount["kind"] == "cny":
        return _money(a, amount["value"])
    return a("agreed.share", share=a.t.share(float(Decimal(amount["value"])), digits=4))


def statement_page(
    a: AgreementText, agreement: AgreementOut, document: dict[str, Any], issued: dict[str, Any]
) -> dict[str, Any]:
    site_class = document["site_class"]
    return {
        "id": agreement.id,
        "title": a("statement.title"),
        "meta": a(
            "statement.meta",
            site=agreement.site_id,
            first=a.t.month(document["period"]["first_month"]),
            last=a.t.month(document["period"]["last_month"]),
            rules=document["rule_set_version"],
            ptype=site_class["project_type"],
            stage=site_class["stage"],
        ),
        "parties": parties(a, agreement),
        "issued": a("statement.issued", date=a.t.date(issued["issued_at"]), id=issued["id"]),
        "hash": issued["content_hash"],
        "lines": [
            {
                "kind": a(f"kind.{line['kind']}"),
                "name": line["name"],
                "label": a.pick(line["zh"], line["en"]),
                "means": a(f"means.{line['means']}") if line.get("means") else "",
                "outcome": line["outcome"],
                "outcome_text": a(f"outcome.{line['outcome']}"),
                "agreed": _agreed(a, line.get("amount")),
                "amount": _money(a, line["amount_cny"]),
                "criteria": [
                    {
                        "label": a.pick(c["zh"], c["en"]),
                        "target": _target(a, c),
                        "value": figure(a, c["metric"], c.get("column"), c["value"]),
                        "outcome_text": a(f"outcome.{c['outcome']}"),
                    }
                    for c in line["criteria"]
                ],
            }
            for line in document["lines"]
        ],
        "reward": _money(a, document["reward_cny"]),
        "penalty": _money(a, document["penalty_cny"]),
        "net": _money(a, document["net_cny"]),
        "net_raw": document["net_cny"],
        "policy": a(
            "statement.not_evaluable", policy=a(f"policy.{document['penalty_when_not_evaluable']}")
        ),
        "revisions": [
            {"month": a.t.month(m), "revision": r} for m, r in sorted(document["revisions"].items())
        ],
    }


def parties(a: AgreementText, agreement: AgreementOut) -> str:
    insurer = a("agreement.insurer", insurer=agreement.insurer_id) if agreement.insurer_id else ""
    return a(
        "agreement.parties",
        owner=agreement.owner_id,
        contractor=agreement.contractor_id,
        insurer=insurer,
    )
