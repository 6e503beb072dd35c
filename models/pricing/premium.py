"""Premium arithmetic as pure functions: the tariff's base premium and the rating
plan's layers on top of it, explained line by line and feature by feature to the cent.

Base premium. The tariff rate applies to the contract value once for the whole
planned project, as construction 安责险 is sold per project rather than per year. A
policy term of ``T`` months pays ``project premium × T / D`` where ``D`` is the planned
project duration in months; both are floored at the tariff's ``min_months``. A term
longer than ``D`` (an overrun extension) pays pro rata beyond the project premium.

Adjustment (docs/rating-plan.md). The site's risk factor is its expected loss for the
term over the loss its base premium implies at the book's expected loss ratio c:
r = EL / (c·B). Because EL = exp(base value + Σφ) × season × hours, r is exactly the
product of the 工地画像 groups' TreeSHAP factors exp(Σφ_g) and one exposure-intensity
factor I = exp(base value) × season × hours / (c·B). The off-balance factor f keeps the
book revenue-neutral; the data-quality gate withholds a discount the data cannot
support; the band bounds the result: final = B × clip(gate(r·f)). Each of these is a
line of the explanation, applied in that order, so a line's percentage is exactly its
premium effect over the premium before it; the cents are rounded so they add up.

Money is :class:`~decimal.Decimal`, rounded half-up to the cent where it leaves a
function; the exponential arithmetic in between is float.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, NamedTuple

from models.contract.spec import GROUP_LABELS, Group
from models.pricing.rulesets import Band, Tariff

CENT: Final = Decimal("0.01")
# exp() overflows a float a little above 709; anything that large is clipped anyway.
_EXP_LIMIT: Final = 700.0

Money = Decimal | float | int


def round_cent(amount: Decimal) -> Decimal:
    """``amount`` to the cent, halves away from zero."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(value: Money, name: str) -> Decimal:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if isinstance(value, Decimal):
        out = value
    elif isinstance(value, int):
        out = Decimal(value)
    else:
        # repr gives the shortest decimal that reads back as the float: 0.1 stays 0.1.
        out = Decimal(repr(float(value)))
    if not out.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def _exp(x: float) -> float:
    return math.exp(x) if x < _EXP_LIMIT else math.inf


# ------------------------------------------------------------------------ base premium


def _project_premium(value: Decimal, tariff: Tariff) -> Decimal:
    total = Decimal(0)
    for band in tariff.bands:
        if value <= band.lower_cny:
            break
        top = value if band.upper_cny is None else min(value, band.upper_cny)
        total += (top - band.lower_cny) * band.rate_per_mille / 1000
    return total


def project_premium(contract_value_cny: Money, tariff: Tariff) -> Decimal:
    """The premium for the whole planned project: marginal per-mille rates on the value."""
    value = _money(contract_value_cny, "contract_value_cny")
    if value <= 0:
        raise ValueError(f"contract_value_cny must be > 0, got {contract_value_cny!r}")
    return round_cent(_project_premium(value, tariff))


def base_premium(
    contract_value_cny: Money,
    term_months: Money,
    planned_duration_months: Money,
    tariff: Tariff,
) -> Decimal:
    """Tariff premium for a policy term of ``term_months`` on a project planned to last
    ``planned_duration_months``: project premium × term / duration, both floored at the
    tariff's ``min_months``; rounded to the cent once, at the end."""
    value = _money(contract_value_cny, "contract_value_cny")
    if value <= 0:
        raise ValueError(f"contract_value_cny must be > 0, got {contract_value_cny!r}")
    term = _money(term_months, "term_months")
    duration = _money(planned_duration_months, "planned_duration_months")
    if term <= 0 or duration <= 0:
        raise ValueError(
            f"term_months and planned_duration_months must be > 0, "
            f"got {term_months!r} and {planned_duration_months!r}"
        )
    term = max(term, tariff.min_months)
    duration = max(duration, tariff.min_months)
    return round_cent(_project_premium(value, tariff) * term / duration)


def expected_term_loss(rate_per_hour: float, projected_worker_hours: float) -> Decimal:
    """Expected incurred loss over the term: loss rate (CNY per worker-hour) × hours."""
    for name, x in (("rate_per_hour", rate_per_hour), ("projected_worker_hours",
                                                       projected_worker_hours)):  # fmt: skip
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {x!r}")
    return round_cent(_money(rate_per_hour, "rate") * _money(projected_worker_hours, "hours"))


# ------------------------------------------------------------------------------ layers

# The lines of a quote's explanation after the base, in the order they apply.
GROUP_ORDER: Final = tuple(g.value for g in Group)
INTENSITY: Final = "exposure_intensity"
OFF_BALANCE: Final = "off_balance"
# the rate book's explicit floating schedule (models.pricing.floating): a line only when
# the insurer's book turns it on
FLOATING: Final = "floating"
GATE: Final = "data_quality_gate"
BAND: Final = "band"
LAYER_ORDER: Final = (*GROUP_ORDER, INTENSITY, OFF_BALANCE, FLOATING, GATE, BAND)


class FeatureEffect(NamedTuple):
    # a named tuple, not a frozen dataclass: a quote makes one per feature, and a
    # portfolio tens of thousands; building a tuple costs a fraction of the dataclass
    name: str
    group: str
    contribution: float  # TreeSHAP φ in log space
    factor: float  # exp(φ): this feature's multiplicative relativity
    cents: int  # this feature's share of its group's line, in whole cents

    @property
    def premium_effect(self) -> Decimal:
        """:attr:`cents` in CNY, exactly (a Decimal made only when asked for: a
        portfolio's explanation reads the cents of tens of thousands of features)."""
        return _cny(self.cents)


# FeatureEffect from a tuple of its fields, as ``FeatureEffect._make`` but all in C
# (a quote makes 64, a portfolio tens of thousands)
_feature_effect: Final = functools.partial(tuple.__new__, FeatureEffect)


@dataclass(frozen=True, slots=True)
class GroupEffect:
    name: str
    zh: str
    en: str
    contribution: float  # Σφ over the group's features
    factor: float  # exp(Σφ)
    premium_effect: Decimal  # the group's line: the sum of its features' cents
    features: tuple[str, ...]


class Line(NamedTuple):
    """One layer of the plan: the premium before it, times ``factor``, is the premium
    after it; ``effect`` is that difference in whole cents."""

    layer: str
    factor: float
    before: Decimal
    effect: Decimal

    @property
    def pct(self) -> float:
        """The effect over the premium before it, in percent: what the line states. It
        is (factor − 1) × 100 up to the cents' rounding."""
        if self.before > 0:
            return float(100 * self.effect / self.before)
        return 100.0 * (self.factor - 1.0)


@dataclass(frozen=True, slots=True)
class Move:
    """How far the plan moves a base premium, before any explanation."""

    risk_factor: float  # r = EL / (c·B)
    off_balance: float  # f
    before_gate: float  # r·f (× the floating factor, when a book's schedule is on)
    after_gate: float  # 1 where the gate withholds a discount, else before_gate
    multiplier: float  # after the band: final / base before rounding
    gated: bool
    clipped_low: bool
    clipped_high: bool
    floating: float | None = None  # the floating schedule's factor; None: not on


def plan_move(
    risk_factor: float,
    off_balance: float,
    band: Band,
    discount_allowed: bool,
    floating: float | None = None,
) -> Move:
    """r·f (times the floating schedule's factor, if on), then the data-quality gate (no
    discount without data good enough to trust it), then the band. Pure float
    arithmetic: the quote, its what-ifs and the book priced in training all go through
    here."""
    if not (math.isfinite(risk_factor) or risk_factor == math.inf) or risk_factor < 0:
        raise ValueError(f"risk factor must be >= 0, got {risk_factor!r}")
    if not (math.isfinite(off_balance) and off_balance > 0):
        raise ValueError(f"off-balance factor must be > 0, got {off_balance!r}")
    if floating is not None and not (math.isfinite(floating) and floating >= 0):
        raise ValueError(f"floating factor must be finite and >= 0, got {floating!r}")
    before = risk_factor * off_balance
    if floating is not None:
        before *= floating
    gated = before < 1.0 and not discount_allowed
    after = 1.0 if gated else before
    low, high = 1.0 + band.lower, 1.0 + band.upper
    multiplier = min(max(after, low), high)
    return Move(
        risk_factor, off_balance, before, after, multiplier, gated, after < low, after > high,
        floating,
    )  # fmt: skip


def _final(base_c: Decimal, move: Move, band: Band) -> Decimal:
    """base × multiplier to the cent, and never a cent outside the band: rounding at the
    band's edge goes inwards."""
    final = round_cent(base_c * Decimal(repr(move.multiplier)))
    low = base_c * (1 + Decimal(repr(band.min_pct)) / 100)
    high = base_c * (1 + Decimal(repr(band.max_pct)) / 100)
    if final < low:
        final += CENT
    elif final > high:
        final -= CENT
    return final


def plan_premium(
    base: Money,
    risk_factor: float,
    off_balance: float,
    band: Band,
    discount_allowed: bool,
    floating: float | None = None,
) -> Decimal:
    """The final premium :func:`price` gives, without its explanation: for what-ifs."""
    base_c = _checked_base(base)
    move = plan_move(risk_factor, off_balance, band, discount_allowed, floating)
    return _final(base_c, move, band)


def exposure_intensity(
    base_rate: float, hours: float, term_factor: float, book_loss_ratio: float, base: Money
) -> float:
    """I = exp(base value) × term factor × hours / (c·B): the expected loss of a
    book-average site with this site's projected worker-hours, over the loss its base
    premium implies. ``base_rate`` is the book's average loss rate (CNY per worker-hour);
    ``term_factor`` is the rate's trend times the season over the term."""
    b = float(base)
    for name, x in (("base_rate", base_rate), ("hours", hours), ("term_factor", term_factor)):
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {x!r}")
    if not (math.isfinite(book_loss_ratio) and book_loss_ratio > 0):
        raise ValueError(f"book loss ratio must be > 0, got {book_loss_ratio!r}")
    if not (math.isfinite(b) and b > 0):
        raise ValueError(f"base premium must be > 0, got {base!r}")
    return base_rate * term_factor * hours / (book_loss_ratio * b)


@dataclass(frozen=True, slots=True)
class PlanPrice:
    """A base premium moved by the rating plan, with its explanation.

    ``lines`` are the layers in :data:`LAYER_ORDER`; their effects add up exactly to
    ``change`` and each line's ``pct`` is its effect over the premium before it. The
    groups' lines are shared among their features (``features``) to the cent."""

    base: Decimal
    final: Decimal
    change: Decimal
    log_relativity: float  # Σφ: the model's log relativity against the book average
    relativity: float  # exp(Σφ)
    intensity: float
    move: Move
    band: Band
    withheld_discount: Decimal  # what the gate held back (>= 0)
    lines: tuple[Line, ...]
    features: tuple[FeatureEffect, ...]
    groups: tuple[GroupEffect, ...]

    @property
    def adjustment_pct(self) -> float:
        """final / base − 1 before rounding, in percent; exactly the band's edge when
        clipped (1.3 − 1 is not 0.3 in floating point)."""
        pct = 100.0 * (self.move.multiplier - 1.0)
        return min(max(pct, self.band.min_pct), self.band.max_pct) + 0.0

    @property
    def risk_factor(self) -> float:
        return self.move.risk_factor

    @property
    def clipped_low(self) -> bool:
        return self.move.clipped_low

    @property
    def clipped_high(self) -> bool:
        return self.move.clipped_high

    @property
    def discount_withheld(self) -> bool:
        return self.move.gated

    @property
    def flags(self) -> tuple[str, ...]:
        names = ("clipped_low", "clipped_high", "discount_withheld")
        return tuple(n for n in names if getattr(self, n))


def _largest_remainder(exact: Sequence[float], total: int) -> list[int]:
    """Whole cents close to ``exact`` that add up to ``total``: floor everything, then
    hand the missing cents to the largest remainders. Zero weights go last either way,
    so a line that did not move the price gets a cent only when nothing else can."""
    if not exact:
        if total != 0:
            raise ValueError(f"cannot share {total} cents among nothing")
        return []
    floors = list(map(math.floor, exact))
    short = total - sum(floors)
    if short == 0:
        return floors
    n = len(exact)
    step = 1 if short > 0 else -1
    whole, part = divmod(abs(short), n)
    out = [f + step * whole for f in floors] if whole else list(floors)
    if part:
        # the largest remainders first when cents are missing, the smallest when there
        # are too many; zero weights last, then by position. Sorting the keys as tuples
        # compares them in C, with no Python key function called a row.
        rem: Iterable[float] = map(operator.sub, exact, floors)
        if step > 0:
            rem = map(operator.neg, rem)
        for *_, i in sorted(zip([x == 0 for x in exact], rem, range(n), strict=True))[:part]:
            out[i] += step
    return out


_LABELS: Final = {g.value: labels for g, labels in GROUP_LABELS.items()}


def _group_labels(name: str) -> dict[str, str]:
    return _LABELS.get(name) or {"zh": name, "en": name}


# A level past this (a model gone wild, e^40 and more) is shown capped: the lines still
# add up, and no Decimal is ever rounded by its context.
_MAX_CENTS: Final = 1e24


def _cny(cents: int) -> Decimal:
    """Whole cents as CNY, exactly (no context rounding)."""
    return Decimal(f"{cents}E-2")


def _checked_base(base: Money) -> Decimal:
    base_c = round_cent(_money(base, "base"))
    if base_c <= 0:
        raise ValueError(f"base must be > 0, got {base!r}")
    return base_c


def price(
    base: Money,
    contributions: Mapping[str, float],
    groups: Mapping[str, str],
    intensity: float,
    off_balance: float,
    band: Band,
    discount_allowed: bool,
    floating: float | None = None,
) -> PlanPrice:
    """Move ``base`` through the plan's layers and explain every line to the cent.

    The risk factor is r = exp(Σφ) × ``intensity``. The lines apply in
    :data:`LAYER_ORDER`: each 工地画像 group's factor exp(Σφ_g), the exposure
    intensity, the off-balance factor, the rate book's floating schedule (a line only
    when ``floating`` is given), the gate (back to the base when it withholds a
    discount) and the band's clipping (its own line, never spread over the others).
    A line's exact effect is the premium before it times (factor − 1); the effects are
    rounded by largest remainder so that they add up to final − base, and a group's
    cents are shared among its features in proportion to φ (exactly: the premium
    before the group times g(Σφ_g)·φ_j with g(x) = (eˣ − 1)/x)."""
    base_c = _checked_base(base)
    names = list(contributions)
    phi = [float(contributions[n]) for n in names]
    bad = [n for n, p in zip(names, phi, strict=True) if not math.isfinite(p)]
    if bad:
        raise ValueError(f"contribution of {bad[0]!r} is not finite")
    ungrouped = [n for n in names if n not in groups]
    if ungrouped:
        raise ValueError(f"no group for feature(s): {', '.join(ungrouped[:5])}")
    if not (math.isfinite(intensity) and intensity >= 0):
        raise ValueError(f"exposure intensity must be finite and >= 0, got {intensity!r}")

    member_of = list(map(groups.__getitem__, names))
    members: dict[str, list[int]] = {g: [] for g in GROUP_ORDER}
    for i, g in enumerate(member_of):
        members.setdefault(g, []).append(i)
    group_phi = {g: math.fsum([phi[i] for i in idx]) for g, idx in members.items()}
    log_rel = math.fsum(phi)
    relativity = _exp(log_rel)
    move = plan_move(relativity * intensity, off_balance, band, discount_allowed, floating)
    final = _final(base_c, move, band)

    # The premium after each line, as a multiple of the base; the gate and the band set
    # their level, and their factor is what that takes.
    floats = [] if floating is None else [FLOATING]
    layers = [*members, INTENSITY, OFF_BALANCE, *floats, GATE, BAND]
    level = [1.0]
    for g in members:
        level.append(level[-1] * _exp(group_phi[g]))
    level.append(level[-1] * intensity)
    if floating is None:
        level.append(move.before_gate)  # = level × f, without float drift
    else:
        level.append(move.risk_factor * move.off_balance)
        level.append(move.before_gate)  # × the floating factor
    level.append(move.after_gate)
    level.append(move.multiplier)
    factors = [
        (layer, level[k + 1] / level[k] if level[k] > 0 else math.inf if level[k + 1] else 1.0)
        for k, layer in enumerate(layers)
    ]
    # Each line's premium after it is the exact level rounded to the cent, the last one
    # the final premium; a line's effect is the difference. The effects add up exactly,
    # and each is the premium before it (as shown, in cents) times its factor − 1 to
    # within a cent.
    b = float(base_c)
    after = [round(min(100.0 * b * v, _MAX_CENTS)) for v in level[1:-1]]
    after.append(int(final * 100))
    cents = [a - p for a, p in zip(after, [int(base_c * 100), *after[:-1]], strict=True)]

    lines: list[Line] = []
    before = int(base_c * 100)
    for (layer, factor), c in zip(factors, cents, strict=True):
        lines.append(Line(layer, factor, _cny(before), _cny(c)))
        before += c

    feature_cents = [0] * len(names)
    group_effects = []
    for k, (g, idx) in enumerate(members.items()):
        total_phi = group_phi[g]
        if idx:
            # in proportion to φ: the line's cents × φ_j / Σφ, or, where Σφ is too near
            # zero to divide by, the premium before × g(Σφ) × φ_j (the same, exactly)
            if abs(total_phi) >= 1e-3:
                exact = [cents[k] * phi[i] / total_phi for i in idx]
            else:
                growth = 1.0 if total_phi == 0.0 else math.expm1(total_phi) / total_phi
                scale = float(lines[k].before * 100) * growth
                exact = [scale * phi[i] for i in idx]
            shares = _largest_remainder(exact, cents[k])
            for i, c in zip(idx, shares, strict=True):
                feature_cents[i] = c
        labels = _group_labels(g)
        group_effects.append(
            GroupEffect(
                name=g,
                zh=labels["zh"],
                en=labels["en"],
                contribution=total_phi,
                factor=_exp(total_phi),
                premium_effect=_cny(cents[k]),
                features=tuple([names[i] for i in idx]),
            )
        )
    exp, limit, inf = math.exp, _EXP_LIMIT, math.inf
    feature_factor = [exp(p) if p < limit else inf for p in phi]
    features = tuple(
        map(_feature_effect, zip(names, member_of, phi, feature_factor, feature_cents, strict=True))
    )
    withheld = Decimal("0.00")
    if move.gated:
        would = min(max(move.before_gate, 1.0 + band.lower), 1.0 + band.upper)
        withheld = base_c - round_cent(base_c * Decimal(repr(would)))
    return PlanPrice(
        base=base_c,
        final=final,
        change=final - base_c,
        log_relativity=log_rel,
        relativity=relativity,
        intensity=intensity,
        move=move,
        band=band,
        withheld_discount=withheld,
        lines=tuple(lines),
        features=features,
        groups=tuple(group_effects),
    )
