"""Base premium, credibility and the explained adjustment."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from models.contract.spec import GROUP_LABELS, Group
from models.pricing import (
    Band,
    DataQualityRule,
    adjust,
    adjusted_premium,
    base_premium,
    credibility,
    expected_term_loss,
    load_band,
    load_tariff,
    project_premium,
    quote,
    round_cent,
)

TARIFF = load_tariff()
BAND = load_band()
GROUP_NAMES = [g.value for g in Group]
CENT = Decimal("0.01")


def _band(min_pct: float, max_pct: float) -> Band:
    return Band("test", "test band", "", min_pct, max_pct, DataQualityRule(6, 1, 0.8, 0.85))


# ------------------------------------------------------------------------- tariff


def test_project_premium_slides_through_the_default_bands() -> None:
    # 10M at 0.65‰ + 20M at 0.60‰ = 6,500 + 12,000
    assert project_premium(30_000_000, TARIFF) == Decimal("18500.00")
    # 10M·0.65 + 40M·0.60 + 50M·0.55 + 400M·0.50 + 500M·0.45 + 1B·0.40 (‰)
    expected = Decimal(6500) + 24000 + 27500 + 200000 + 225000 + 400000  # 2B contract: 883,000
    assert project_premium(2_000_000_000, TARIFF) == expected


def test_project_premium_is_continuous_at_every_band_edge() -> None:
    for band in TARIFF.bands[:-1]:
        assert band.upper_cny is not None
        edge = band.upper_cny
        below = project_premium(edge - 1, TARIFF)
        above = project_premium(edge + 1, TARIFF)
        # Two CNY of contract value at under 1‰ cost at most a cent, whatever the band.
        assert Decimal(0) <= above - below <= CENT


@given(
    st.floats(min_value=1.0, max_value=5e10, allow_nan=False),
    st.floats(min_value=1.0, max_value=5e10, allow_nan=False),
)
def test_project_premium_never_falls_as_the_contract_grows(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert project_premium(lo, TARIFF) <= project_premium(hi, TARIFF)


def test_effective_rate_falls_from_the_first_to_the_last_band_rate() -> None:
    first, last = TARIFF.bands[0].rate_per_mille, TARIFF.bands[-1].rate_per_mille
    rates = [
        project_premium(v, TARIFF) / Decimal(v) * 1000
        for v in (1e6, 1e7, 3e7, 8e7, 3e8, 8e8, 2e9, 2e10)
    ]
    assert all(a >= b for a, b in itertools.pairwise(rates))
    assert abs(rates[0] - first) < Decimal("0.0001")
    assert last < rates[-1] < first


def test_base_premium_is_pro_rata_over_the_planned_duration() -> None:
    value = 80_000_000
    whole = project_premium(value, TARIFF)
    assert base_premium(value, 24, 24, TARIFF) == whole
    half = base_premium(value, 12, 24, TARIFF)
    assert abs(half * 2 - whole) <= CENT
    assert base_premium(value, 6, 24, TARIFF) == round_cent(whole / 4)
    # An overrun extension beyond the planned duration pays pro rata too.
    assert base_premium(value, 30, 24, TARIFF) == round_cent(
        project_premium(value, TARIFF) * Decimal(30) / 24
    )


def test_base_premium_floors_term_and_duration_at_one_month() -> None:
    assert base_premium(5e6, 0.25, 10, TARIFF) == base_premium(5e6, 1, 10, TARIFF)
    assert base_premium(5e6, 0.5, 0.5, TARIFF) == project_premium(5e6, TARIFF)


@pytest.mark.parametrize(
    ("value", "term", "duration"), [(0, 12, 12), (-5, 12, 12), (1e7, 0, 12), (1e7, 12, -1)]
)
def test_base_premium_rejects_non_positive_inputs(
    value: float, term: float, duration: float
) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        base_premium(value, term, duration, TARIFF)


def test_expected_term_loss_is_rate_times_hours_to_the_cent() -> None:
    assert expected_term_loss(0.125, 1000.0) == Decimal("125.00")
    assert expected_term_loss(0.0, 5e6) == Decimal("0.00")
    with pytest.raises(ValueError, match="rate_per_hour"):
        expected_term_loss(-1.0, 10.0)


# -------------------------------------------------------------------- credibility


def test_credibility_is_e_over_e_plus_k() -> None:
    assert credibility(3000.0, 1000.0) == pytest.approx(0.75)
    assert credibility(0.0, 1000.0) == 0.0
    assert credibility(1e9, 0.0) == 1.0
    assert credibility(1e9, math.inf) == 0.0
    assert credibility(10.0, 1e6) < credibility(1e4, 1e6) < credibility(1e8, 1e6) < 1.0


@pytest.mark.parametrize(("e", "k"), [(-1.0, 10.0), (math.nan, 10.0), (10.0, -1.0)])
def test_credibility_rejects_bad_inputs(e: float, k: float) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        credibility(e, k)


# --------------------------------------------------------------------- adjustment


def test_band_clips_both_sides() -> None:
    base = Decimal("10000.00")
    up = adjust(base, {"a": 2.0, "b": 1.0}, {"a": "alerts", "b": "training"}, 1.0, BAND, True)
    assert up.final == base * (1 + Decimal(BAND.max_pct) / 100)
    assert up.clipped_high
    assert not up.clipped_low
    assert up.adjustment_pct == pytest.approx(BAND.max_pct)
    down = adjust(base, {"a": -2.0}, {"a": "alerts"}, 1.0, BAND, True)
    assert down.final == base * (1 + Decimal(BAND.min_pct) / 100)
    assert down.clipped_low
    assert down.flags == ("clipped_low",)
    inside = adjust(base, {"a": 0.1}, {"a": "alerts"}, 0.5, BAND, True)
    assert inside.flags == ()
    assert inside.final == round_cent(base * Decimal(math.exp(0.05)))


def test_clipped_change_is_still_shared_in_proportion_to_contributions() -> None:
    out = adjust(Decimal("50000.00"), {"a": 1.5, "b": 0.5}, {"a": "x", "b": "y"}, 1.0, BAND, True)
    a, b = (f.premium_effect for f in out.features)
    assert a + b == out.change == Decimal("15000.00")
    assert abs(a - 3 * b) <= 3 * CENT


def test_discount_withheld_only_for_discounts() -> None:
    base = Decimal("8000.00")
    groups = {"a": "alerts", "b": "training"}
    cut = {"a": -0.3, "b": 0.1}
    given_ = adjust(base, cut, groups, 0.8, BAND, True)
    held = adjust(base, cut, groups, 0.8, BAND, False)
    assert given_.final < base
    assert held.final == base
    assert held.discount_withheld
    assert held.flags == ("discount_withheld",)
    assert held.withheld_discount == base - given_.final
    assert all(f.premium_effect == 0 for f in held.features)
    raise_ = {"a": 0.3, "b": 0.1}
    assert adjust(base, raise_, groups, 0.8, BAND, False) == adjust(
        base, raise_, groups, 0.8, BAND, True
    )
    assert adjust(base, raise_, groups, 0.8, BAND, False).withheld_discount == 0


def test_zero_credibility_moves_nothing() -> None:
    out = adjust(Decimal("1234.56"), {"a": 1.0, "b": -3.0}, {"a": "x", "b": "x"}, 0.0, BAND, True)
    assert out.final == out.base == Decimal("1234.56")
    assert all(f.premium_effect == 0 for f in out.features)
    assert out.relativity == pytest.approx(math.exp(-2.0))


def test_exactly_offsetting_contributions_show_offsetting_effects() -> None:
    # R = 0: the price stays put, but each feature's effect is the limit base·z·φ.
    out = adjust(Decimal("10000.00"), {"a": 0.5, "b": -0.5}, {"a": "x", "b": "y"}, 0.4, BAND, True)
    a, b = (f.premium_effect for f in out.features)
    assert out.change == 0
    assert a == -b == Decimal("2000.00")
    assert [g.premium_effect for g in out.groups] == [a, b]


def test_groups_carry_contract_labels_and_sum_their_features() -> None:
    phi = {"f1": 0.2, "f2": -0.05, "f3": 0.1}
    groups = {"f1": "behaviour", "f2": "training", "f3": "behaviour"}
    out = adjust(Decimal("5000.00"), phi, groups, 0.7, BAND, True)
    behaviour = next(g for g in out.groups if g.name == "behaviour")
    assert behaviour.zh == GROUP_LABELS[Group.behaviour]["zh"]
    assert behaviour.features == ("f1", "f3")
    assert (
        behaviour.premium_effect == out.features[0].premium_effect + out.features[2].premium_effect
    )
    assert behaviour.factor == pytest.approx(math.exp(0.3), rel=1e-12)


def test_adjust_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="no group"):
        adjust(Decimal(100), {"a": 0.1}, {}, 0.5, BAND, True)
    with pytest.raises(ValueError, match="not finite"):
        adjust(Decimal(100), {"a": math.nan}, {"a": "x"}, 0.5, BAND, True)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust(Decimal(100), {"a": 0.1}, {"a": "x"}, 1.5, BAND, True)
    with pytest.raises(ValueError, match="min_pct"):
        _band(5.0, 30.0)


def test_quote_carries_the_rule_versions() -> None:
    q = quote(
        contract_value_cny=6e7,
        term_months=12,
        planned_duration_months=18,
        contributions={"a": -0.2},
        groups={"a": "alerts"},
        observed_worker_hours=2e5,
        credibility_k=2e5,
        tariff=TARIFF,
        band=BAND,
        discount_allowed=True,
    )
    assert (q.tariff_version, q.band_version) == (TARIFF.version, BAND.version)
    assert q.adjustment.band_version == BAND.version
    assert q.base == base_premium(6e7, 12, 18, TARIFF)
    assert q.adjustment.credibility == pytest.approx(0.5)
    assert q.final == round_cent(q.base * Decimal(math.exp(-0.1)))


# ------------------------------------------------------------ properties (hypothesis)

phis = st.lists(st.floats(min_value=-3.0, max_value=3.0, allow_nan=False), min_size=1, max_size=40)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, object]:
    phi = draw(phis)
    shape = draw(st.sampled_from(["free", "near_zero", "negative", "tiny", "big"]))
    if shape == "near_zero":  # R ≈ 0 up to float noise
        phi.append(-math.fsum(phi))
    elif shape == "negative":
        phi = [-abs(p) for p in phi]
    elif shape == "tiny":
        phi = [p * 1e-9 for p in phi]
    elif shape == "big":  # mostly clipped
        phi = [p * 5 for p in phi]
    names = [f"f{i}" for i in range(len(phi))]
    picks = draw(st.lists(st.sampled_from(GROUP_NAMES), min_size=len(names), max_size=len(names)))
    groups = dict(zip(names, picks, strict=True))
    band = draw(st.sampled_from([BAND, _band(-10.0, 10.0), _band(0.0, 25.0), _band(-99.0, 200.0)]))
    return {
        "base": Decimal(draw(st.integers(min_value=0, max_value=10**10))) * CENT,
        "contributions": dict(zip(names, phi, strict=True)),
        "groups": groups,
        "z": draw(st.one_of(st.just(1.0), st.just(0.0), st.floats(0.0, 1.0))),
        "band": band,
        "discount_allowed": draw(st.booleans()),
    }


def _check_effects(case: dict[str, object]) -> tuple[str, ...]:
    out = adjust(**case)  # type: ignore[arg-type]
    assert out.change == out.final - out.base
    assert sum(f.premium_effect for f in out.features) == out.change
    assert sum(g.premium_effect for g in out.groups) == out.change
    assert all(f.premium_effect == f.premium_effect.quantize(CENT) for f in out.features)
    band = case["band"]
    assert isinstance(band, Band)
    assert band.min_pct - 1e-9 <= out.adjustment_pct <= band.max_pct + 1e-9
    # the cents round the exact pct, never the band
    assert out.base * (1 + Decimal(band.min_pct) / 100) - CENT <= out.final
    assert out.final <= out.base * (1 + Decimal(band.max_pct) / 100) + CENT
    if out.discount_withheld:
        assert out.final == out.base
        assert out.withheld_discount >= 0
    # a feature that lowered the risk never shows as raising the price, and vice versa
    for f in out.features:
        assert f.premium_effect * Decimal(f.contribution) >= 0
        if f.contribution == 0:
            assert f.premium_effect == 0
    if case["z"] == 0:
        assert out.final == out.base
        assert not out.flags
        assert all(f.premium_effect == 0 for f in out.features)
    return out.flags


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_effects_add_up_exactly_to_the_change(case: dict[str, object]) -> None:
    _check_effects(case)


def _random_cases(n: int, seed: int) -> list[dict[str, object]]:
    # A plain seeded sweep: thousands of cases cost little without hypothesis's search.
    rng = np.random.default_rng(seed)
    bands = [BAND, _band(-10.0, 10.0), _band(0.0, 25.0), _band(-99.0, 200.0)]
    out: list[dict[str, object]] = []
    for i in range(n):
        p = int(rng.integers(1, 60))
        phi = rng.normal(0.0, float(rng.choice([1e-9, 0.01, 0.1, 0.5, 2.0])), p)
        match i % 4:
            case 1:
                phi[-1] = -math.fsum(phi[:-1])  # R ≈ 0
            case 2:
                phi = -np.abs(phi)
        names = [f"f{j}" for j in range(p)]
        out.append(
            {
                "base": Decimal(int(rng.integers(0, 10**10))) * CENT,
                "contributions": dict(zip(names, phi.tolist(), strict=True)),
                "groups": dict(zip(names, rng.choice(GROUP_NAMES, p).tolist(), strict=True)),
                "z": float(rng.choice([0.0, 1.0, rng.uniform()])),
                "band": bands[int(rng.integers(0, len(bands)))],
                "discount_allowed": bool(rng.integers(0, 2)),
            }
        )
    return out


def test_effects_add_up_exactly_over_thousands_of_random_cases() -> None:
    seen: set[str] = set()
    for case in _random_cases(4000, seed=20250101):
        seen.update(_check_effects(case))
    assert seen == {"clipped_low", "clipped_high", "discount_withheld"}


def test_raising_any_contribution_never_lowers_the_price_over_random_cases() -> None:
    rng = np.random.default_rng(7)
    for case in _random_cases(1500, seed=11):
        phi = case["contributions"]
        assert isinstance(phi, dict)
        name = sorted(phi)[int(rng.integers(0, len(phi)))]
        higher = {**phi, name: phi[name] + float(rng.exponential(0.3))}
        before = adjust(**case)  # type: ignore[arg-type]
        after = adjust(**{**case, "contributions": higher})  # type: ignore[arg-type]
        assert after.final >= before.final


@settings(max_examples=300, deadline=None)
@given(phis)
def test_factors_multiply_to_the_relativity(phi: list[float]) -> None:
    names = [f"f{i}" for i in range(len(phi))]
    out = adjust(Decimal("1000.00"), dict(zip(names, phi, strict=True)),
                 dict.fromkeys(names, "alerts"), 1.0, BAND, True)  # fmt: skip
    assert math.prod(f.factor for f in out.features) == pytest.approx(out.relativity, rel=1e-12)
    assert out.groups[0].factor == pytest.approx(out.relativity, rel=1e-12)
    assert out.relativity == pytest.approx(math.exp(math.fsum(phi)), rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(cases())
def test_zero_credibility_never_moves_the_price(case: dict[str, object]) -> None:
    out = adjust(**{**case, "z": 0.0})  # type: ignore[arg-type]
    assert out.final == out.base
    assert all(f.premium_effect == 0 for f in out.features)
    assert not out.flags


@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_raising_a_contribution_never_lowers_the_price(
    case: dict[str, object], data: st.DataObject
) -> None:
    contributions = case["contributions"]
    assert isinstance(contributions, dict)
    name = data.draw(st.sampled_from(sorted(contributions)))
    step = data.draw(st.floats(min_value=0.0, max_value=5.0))
    higher = {**contributions, name: contributions[name] + step}
    assume(math.isfinite(higher[name]))
    before = adjust(**case)  # type: ignore[arg-type]
    after = adjust(**{**case, "contributions": higher})  # type: ignore[arg-type]
    assert after.final >= before.final


@settings(max_examples=300, deadline=None)
@given(
    base=st.decimals(Decimal("0.00"), Decimal("1e7"), places=2),
    phi=st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=5),
    z=st.floats(0.0, 1.0),
    allowed=st.booleans(),
    band=st.sampled_from([BAND, _band(-10.0, 10.0), _band(-30.0, 5.0)]),
)
def test_adjusted_premium_is_the_adjustments_final_premium(
    base: Decimal, phi: list[float], z: float, allowed: bool, band: Band
) -> None:
    """What-ifs are priced without their explanation; the premium is the same."""
    names = [f"f{i}" for i in range(len(phi))]
    contributions = dict(zip(names, phi, strict=True))
    full = adjust(base, contributions, dict.fromkeys(names, "alerts"), z, band, allowed)
    assert adjusted_premium(base, math.fsum(phi), z, band, allowed) == full.final


def test_adjusted_premium_refuses_what_adjust_refuses() -> None:
    with pytest.raises(ValueError, match="not finite"):
        adjusted_premium(Decimal("100.00"), math.nan, 0.5, BAND, True)
    with pytest.raises(ValueError, match="credibility"):
        adjusted_premium(Decimal("100.00"), 0.1, 1.5, BAND, True)
    with pytest.raises(ValueError, match="base"):
        adjusted_premium(Decimal("-1.00"), 0.1, 0.5, BAND, True)
