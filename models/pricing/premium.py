"""Premium arithmetic as pure functions: the tariff's base premium, credibility, and
the model's adjustment inside the band, explained feature by feature to the cent.

Base premium. The tariff rate applies to the contract value once for the whole
planned project, as construction 安责险 is sold per project rather than per year. A
policy term of ``T`` months pays ``project premium × T / D`` where ``D`` is the planned
project duration in months; both are floored at the tariff's ``min_months``. A term
longer than ``D`` (an overrun extension) pays pro rata beyond the project premium.

Adjustment. The model explains a site's log loss rate against the book average as
TreeSHAP contributions φ_j, so the relativity exp(Σφ) is exactly the product of the
per-feature factors exp(φ_j). Credibility z shrinks the log relativity toward zero;
the band clips the result; the change in premium is then shared among the features in
proportion to φ_j and rounded so the cents add up exactly.

Money is :class:`~decimal.Decimal`, rounded half-up to the cent where it leaves a
function; the exponential arithmetic in between is float.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, NamedTuple

from models.contract.spec import GROUP_LABELS
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


def _expm1(x: float) -> float:
    return math.expm1(x) if x < _EXP_LIMIT else math.inf


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


# ------------------------------------------------------------------------- credibility


def credibility(observed_worker_hours: float, k: float) -> float:
    """Bühlmann–Straub weight Z = E / (E + k) of a site's own experience of E hours."""
    if not math.isfinite(observed_worker_hours) or observed_worker_hours < 0:
        raise ValueError(
            f"observed_worker_hours must be finite and >= 0, got {observed_worker_hours!r}"
        )
    if math.isnan(k) or k < 0:
        raise ValueError(f"k must be >= 0, got {k!r}")
    if observed_worker_hours == 0 or math.isinf(k):
        return 0.0
    return observed_worker_hours / (observed_worker_hours + k)


# -------------------------------------------------------------------------- adjustment


class FeatureEffect(NamedTuple):
    # a named tuple, not a frozen dataclass: a quote makes one per feature, and a
    # portfolio tens of thousands; building a tuple costs a fraction of the dataclass
    name: str
    group: str
    contribution: float  # TreeSHAP φ in log space
    factor: float  # exp(φ): this feature's multiplicative relativity
    premium_effect: Decimal  # this feature's share of final − base, in cents


@dataclass(frozen=True, slots=True)
class GroupEffect:
    name: str
    zh: str
    en: str
    contribution: float  # Σφ over the group's features
    factor: float  # exp(Σφ)
    premium_effect: Decimal  # sum of the features' cents
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """The experience adjustment of one base premium, with its explanation.

    ``adjustment_pct`` is in percent (−12.5 means 12.5 % off), the same unit as the
    band; ``final`` is ``base × (1 + adjustment_pct / 100)`` to the cent, and the
    feature and group ``premium_effect``s each add up exactly to ``change``.
    """

    base: Decimal
    final: Decimal
    change: Decimal
    log_relativity: float  # R = Σφ
    relativity: float  # exp(R)
    credibility: float  # z
    log_adjustment: float  # L: z·R, after the discount gate and the band
    adjustment_pct: float
    band: Band
    withheld_discount: Decimal  # discount the data-quality gate held back (>= 0)
    clipped_low: bool
    clipped_high: bool
    discount_withheld: bool
    features: tuple[FeatureEffect, ...]
    groups: tuple[GroupEffect, ...]

    @property
    def band_version(self) -> str:
        return self.band.version

    @property
    def flags(self) -> tuple[str, ...]:
        names = ("clipped_low", "clipped_high", "discount_withheld")
        return tuple(n for n in names if getattr(self, n))


def _largest_remainder(exact: Sequence[float], total: int) -> list[int]:
    """Whole cents close to ``exact`` that add up to ``total``: floor everything, then
    hand the missing cents to the largest remainders. Zero weights go last either way,
    so a feature that did not move the price never gets a cent."""
    if not exact:
        if total != 0:
            raise ValueError(f"cannot share {total} cents among no features")
        return []
    floors = [math.floor(x) for x in exact]
    rem = [x - f for x, f in zip(exact, floors, strict=True)]
    short = total - sum(floors)
    n = len(exact)
    out = list(floors)
    if short >= 0:
        order = sorted(range(n), key=lambda i: (exact[i] == 0, -rem[i], i))
        step = 1
    else:
        order = sorted(range(n), key=lambda i: (exact[i] == 0, rem[i], i))
        step = -1
    whole, part = divmod(abs(short), n)
    for rank, i in enumerate(order):
        out[i] += step * (whole + (1 if rank < part else 0))
    return out


def _clip(raw: float, band: Band) -> float:
    return min(max(raw, band.lower), band.upper)


_LABELS: Final = {g.value: labels for g, labels in GROUP_LABELS.items()}


def _group_labels(name: str) -> dict[str, str]:
    return _LABELS.get(name) or {"zh": name, "en": name}


@dataclass(frozen=True, slots=True)
class _Move:
    """How far the premium moves, before the explanation shares the change out."""

    final: Decimal
    log_adjustment: float
    pct: float
    share: float  # L / R: the part of each φ that reaches the premium
    withheld: Decimal
    gated: bool
    clipped_low: bool
    clipped_high: bool


def _checked(base: Money, z: float) -> Decimal:
    base_c = round_cent(_money(base, "base"))
    if base_c < 0:
        raise ValueError(f"base must be >= 0, got {base!r}")
    if not (math.isfinite(z) and 0.0 <= z <= 1.0):
        raise ValueError(f"credibility z must lie in [0, 1], got {z!r}")
    return base_c


def _move(base_c: Decimal, log_rel: float, z: float, band: Band, discount_allowed: bool) -> _Move:
    log_adj = z * log_rel
    withheld = Decimal("0.00")
    gated = log_adj < 0 and not discount_allowed
    if gated:
        would = _clip(_expm1(log_adj), band)
        withheld = base_c - round_cent(base_c * (1 + Decimal(would)))
        log_adj = 0.0
    raw = _expm1(log_adj)
    pct = _clip(raw, band)
    clipped_low, clipped_high = raw < band.lower, raw > band.upper
    if clipped_low or clipped_high:
        log_adj = math.log1p(pct)
        share = log_adj / log_rel  # clipping needs z·R != 0, so R != 0
    else:
        share = 0.0 if gated else z
    final = round_cent(base_c * (1 + Decimal(pct)))
    return _Move(final, log_adj, pct, share, withheld, gated, clipped_low, clipped_high)


def adjusted_premium(
    base: Money, log_relativity: float, z: float, band: Band, discount_allowed: bool
) -> Decimal:
    """The final premium :func:`adjust` gives for contributions adding up to
    ``log_relativity``, without explaining it: for what-ifs priced by the hundred."""
    if not math.isfinite(log_relativity):
        raise ValueError(f"log relativity is not finite: {log_relativity!r}")
    return _move(_checked(base, z), log_relativity, z, band, discount_allowed).final


def adjust(
    base: Money,
    contributions: Mapping[str, float],
    groups: Mapping[str, str],
    z: float,
    band: Band,
    discount_allowed: bool,
) -> Adjustment:
    """Move ``base`` by the credibility-weighted model relativity, inside ``band``.

    With R = Σφ, the log adjustment is L = z·R, set to 0 when it is a discount and
    ``discount_allowed`` is false (the amount is reported as ``withheld_discount``);
    the percentage exp(L) − 1 is clipped to the band (then L = log(1 + pct)), and
    final = base × (1 + pct) to the cent.

    The change D = final − base is shared in proportion to φ_j:
    effect_j = base · g(L) · (L/R) · φ_j with g(L) = (e^L − 1)/L, which adds up to
    base · (e^L − 1) and needs no division when R = 0 (L/R = z unless clipped or
    withheld). The cents are then rounded by largest remainder so that they add up
    exactly to D, and a group's effect is the sum of its features' cents.
    """
    base_c = _checked(base, z)
    names = list(contributions)
    phi = [float(contributions[n]) for n in names]
    bad = [n for n, p in zip(names, phi, strict=True) if not math.isfinite(p)]
    if bad:
        raise ValueError(f"contribution of {bad[0]!r} is not finite")
    ungrouped = [n for n in names if n not in groups]
    if ungrouped:
        raise ValueError(f"no group for feature(s): {', '.join(ungrouped[:5])}")

    log_rel = math.fsum(phi)
    move = _move(base_c, log_rel, z, band, discount_allowed)
    final, log_adj, pct = move.final, move.log_adjustment, move.pct
    change = final - base_c

    growth = 1.0 if log_adj == 0.0 else math.expm1(log_adj) / log_adj
    scale = 100.0 * float(base_c) * growth * move.share
    cents = _largest_remainder([scale * p for p in phi], int(change * 100))

    exp, limit = math.exp, _EXP_LIMIT
    features = tuple(
        FeatureEffect(n, groups[n], p, exp(p) if p < limit else math.inf, Decimal(c) * CENT)
        for n, p, c in zip(names, phi, cents, strict=True)
    )
    members: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        members.setdefault(groups[n], []).append(i)
    group_effects = []
    for g, idx in members.items():
        total_phi = math.fsum([phi[i] for i in idx])
        labels = _group_labels(g)
        group_effects.append(
            GroupEffect(
                name=g,
                zh=labels["zh"],
                en=labels["en"],
                contribution=total_phi,
                factor=_exp(total_phi),
                # whole cents add up exactly: the same sum as the features' effects
                premium_effect=Decimal(sum([cents[i] for i in idx])) * CENT,
                features=tuple([names[i] for i in idx]),
            )
        )
    return Adjustment(
        base=base_c,
        final=final,
        change=change,
        log_relativity=log_rel,
        relativity=_exp(log_rel),
        credibility=z,
        log_adjustment=log_adj,
        adjustment_pct=100.0 * pct,
        band=band,
        withheld_discount=move.withheld,
        clipped_low=move.clipped_low,
        clipped_high=move.clipped_high,
        discount_withheld=move.gated,
        features=features,
        groups=tuple(group_effects),
    )


# ------------------------------------------------------------------------------ quote


@dataclass(frozen=True, slots=True)
class Quote:
    """A base premium and its adjustment, with the versions of the rules used."""

    tariff_version: str
    band_version: str
    project_premium: Decimal
    base: Decimal
    adjustment: Adjustment

    @property
    def final(self) -> Decimal:
        return self.adjustment.final


def quote(
    *,
    contract_value_cny: Money,
    term_months: Money,
    planned_duration_months: Money,
    contributions: Mapping[str, float],
    groups: Mapping[str, str],
    observed_worker_hours: float,
    credibility_k: float,
    tariff: Tariff,
    band: Band,
    discount_allowed: bool,
) -> Quote:
    """Tariff premium for the term, then the credibility-weighted adjustment."""
    base = base_premium(contract_value_cny, term_months, planned_duration_months, tariff)
    z = credibility(observed_worker_hours, credibility_k)
    adjustment = adjust(base, contributions, groups, z, band, discount_allowed)
    return Quote(
        tariff_version=tariff.version,
        band_version=band.version,
        project_premium=project_premium(contract_value_cny, tariff),
        base=base,
        adjustment=adjustment,
    )
