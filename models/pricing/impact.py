"""What a rate book does to a set of priced quotes, as pure arithmetic
(docs/rate-books.md, "Impact before activation" and "Off-balance per book").

The re-pricing itself is not here: the service runs each stored request through the
quote pricer with the candidate book (``service/ratebooks/impact.py``), the one pricing
path there is. This module takes what that gives, quote by quote, and

- finds the book's revenue-neutral off-balance factor f: Σ base × multiplier(r·f·φ) =
  Σ base, the plan's own condition (docs/rating-plan.md §7) over these quotes, with the
  book's band and gate and each quote's floating factor φ;
- sums the old and new premiums, bands their dislocation (``models.pricing.dislocation``,
  the bands training reports) and gives the loss ratio (the model's expected loss over
  premium) old and new by decile of the quotes' risk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from models.pricing.dislocation import rate_impact
from models.pricing.premium import plan_move
from models.pricing.rulesets import Band

# the off-balance search: the factor lies in [1/SPAN, SPAN]
SPAN: Final = 5.0
DECILES: Final = 10


def _multiplier(r: float, f: float, band: Band, allowed: bool, floating: float | None) -> float:
    return plan_move(r, f, band, allowed, floating).multiplier


def revenue_neutral_factor(
    bases: Sequence[float],
    risk_factors: Sequence[float],
    allowed: Sequence[bool],
    band: Band,
    floating: Sequence[float | None] | None = None,
) -> float:
    """The off-balance factor f with Σ base × multiplier(r·f·φ) = Σ base: bisection on
    log f (the total only grows with f), clamped to [1/SPAN, SPAN]. ``floating`` is each
    quote's floating factor φ (None: the book's schedule is off)."""
    n = len(bases)
    lengths = {n, len(risk_factors), len(allowed), n if floating is None else len(floating)}
    if len(lengths) > 1:
        raise ValueError("bases, risk factors, gates and floating factors differ in length")
    if n == 0:
        raise ValueError("no premiums to balance")
    phi: Sequence[float | None] = floating if floating is not None else [None] * n
    target = math.fsum(bases)

    def excess(log_f: float) -> float:
        f = math.exp(log_f)
        return (
            math.fsum(
                b * _multiplier(r, f, band, a, p)
                for b, r, a, p in zip(bases, risk_factors, allowed, phi, strict=True)
            )
            - target
        )

    lo, hi = -math.log(SPAN), math.log(SPAN)
    if excess(lo) >= 0:
        return math.exp(lo)
    if excess(hi) <= 0:
        return math.exp(hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if excess(mid) > 0:
            hi = mid
        else:
            lo = mid
    return math.exp(0.5 * (lo + hi))


@dataclass(frozen=True, slots=True)
class QuoteImpact:
    """One quote: what it was offered at, what the candidate book prices it at, and the
    model's expected loss for its term and loss rate (which ranks it into a decile)."""

    quote_id: str
    old_premium: Decimal
    new_premium: Decimal
    expected_loss: Decimal
    loss_rate: float  # the model's loss rate (any unit: it only ranks the quotes)


@dataclass(frozen=True, slots=True)
class DislocationBand:
    direction: str  # down | none | up
    band: str  # <5% | 5–10% | 10–20% | ≥20%
    label: str
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class DecileImpact:
    """Quotes of one risk decile (1: the lowest loss rates)."""

    decile: int
    quotes: int
    loss_rate_from: float  # the lowest and highest loss rate in it
    loss_rate_to: float
    expected_loss: Decimal
    old_premium: Decimal
    new_premium: Decimal
    old_loss_ratio: float | None  # expected loss ÷ premium (None: no premium)
    new_loss_ratio: float | None


@dataclass(frozen=True, slots=True)
class ImpactSummary:
    quotes: int
    old_premium: Decimal
    new_premium: Decimal
    change: Decimal  # new − old
    change_pct: float | None  # of the old total
    expected_loss: Decimal
    old_loss_ratio: float | None
    new_loss_ratio: float | None
    dislocation: tuple[DislocationBand, ...]
    deciles: tuple[DecileImpact, ...]


def _ratio(loss: Decimal, premium: Decimal) -> float | None:
    return float(loss / premium) if premium > 0 else None


def deciles(quotes: Sequence[QuoteImpact]) -> tuple[DecileImpact, ...]:
    """Quotes ranked by loss rate (ties by quote id) and cut into ten groups of equal
    size (as equal as the count allows: decile k holds ranks [k·n/10, (k+1)·n/10));
    fewer than ten quotes leave some deciles out."""
    ranked = sorted(quotes, key=lambda q: (q.loss_rate, q.quote_id))
    n = len(ranked)
    out = []
    for k in range(DECILES):
        part = ranked[k * n // DECILES : (k + 1) * n // DECILES]
        if not part:
            continue
        loss = sum((q.expected_loss for q in part), Decimal(0))
        old = sum((q.old_premium for q in part), Decimal(0))
        new = sum((q.new_premium for q in part), Decimal(0))
        out.append(
            DecileImpact(
                decile=k + 1,
                quotes=len(part),
                loss_rate_from=part[0].loss_rate,
                loss_rate_to=part[-1].loss_rate,
                expected_loss=loss,
                old_premium=old,
                new_premium=new,
                old_loss_ratio=_ratio(loss, old),
                new_loss_ratio=_ratio(loss, new),
            )
        )
    return tuple(out)


def summarise(quotes: Sequence[QuoteImpact]) -> ImpactSummary:
    """Totals, dislocation and loss ratios by risk decile of re-priced quotes."""
    if not quotes:
        raise ValueError("no quotes to report on")
    old = sum((q.old_premium for q in quotes), Decimal(0))
    new = sum((q.new_premium for q in quotes), Decimal(0))
    loss = sum((q.expected_loss for q in quotes), Decimal(0))
    table = rate_impact(
        [float(q.old_premium) for q in quotes], [float(q.new_premium) for q in quotes]
    )
    bands = tuple(
        DislocationBand(str(d), str(b), str(label), int(c), float(share))
        for d, b, label, c, share in zip(
            table["direction"],
            table["band"],
            table["label"],
            table["count"].tolist(),
            table["share"].tolist(),
            strict=True,
        )
    )
    return ImpactSummary(
        quotes=len(quotes),
        old_premium=old,
        new_premium=new,
        change=new - old,
        change_pct=float(100 * (new - old) / old) if old > 0 else None,
        expected_loss=loss,
        old_loss_ratio=_ratio(loss, old),
        new_loss_ratio=_ratio(loss, new),
        dislocation=bands,
        deciles=deciles(quotes),
    )
