"""Base premium, credibility and the explained adjustment."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.contract.spec import GROUP_LABELS, Group
from models.pricing import (
    LAYER_ORDER,
    Band,
    DataQualityRule,
    base_premium,
    expected_term_loss,
    exposure_intensity,
    load_band,
    load_tariff,
    plan_move,
    plan_premium,
    price,
    project_premium,
    round_cent,
)
from models.pricing.premium import BAND as BAND_LINE
from models.pricing.premium import FLOATING, GATE, INTENSITY, OFF_BALANCE

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


# ------------------------------------------------------------------------ the plan


def test_plan_move_is_risk_times_off_balance_then_gate_then_band() -> None:
    band = _band(-30.0, 30.0)
    assert plan_move(1.2, 1.0, band, True).multiplier == pytest.approx(1.2)
    assert plan_move(1.2, 0.5, band, True).multiplier == pytest.approx(0.7)  # 0.6 -> band
    assert plan_move(2.0, 1.0, band, True).multiplier == pytest.approx(1.3)
    gated = plan_move(0.8, 1.0, band, False)
    assert (gated.multiplier, gated.gated) == (1.0, True)
    # the gate withholds discounts only: a surcharge always applies
    assert plan_move(1.1, 1.0, band, False).multiplier == pytest.approx(1.1)
    # the off-balance factor applies inside the band
    assert plan_move(1.25, 1.1, band, True).multiplier == pytest.approx(1.3)


def test_exposure_intensity_is_book_rate_hours_season_over_c_base() -> None:
    # 0.02 CNY an hour × 60,000 hours × 1.1 = 1,320 of expected loss; the base's
    # 2,000 at a loss ratio of 0.6 implies 1,200: intensity 1.1
    assert exposure_intensity(0.02, 60_000.0, 1.1, 0.6, 2000) == pytest.approx(1.1)
    with pytest.raises(ValueError, match="book loss ratio"):
        exposure_intensity(0.02, 1.0, 1.0, 0.0, 100)
    with pytest.raises(ValueError, match="base premium"):
        exposure_intensity(0.02, 1.0, 1.0, 0.6, 0)


def _phi(groups: dict[str, float]) -> tuple[dict[str, float], dict[str, str]]:
    contributions, names = {}, {}
    for k, (g, v) in enumerate(groups.items()):
        contributions[f"f{k}a"], contributions[f"f{k}b"] = v * 0.75, v * 0.25
        names[f"f{k}a"], names[f"f{k}b"] = g, g
    return contributions, names


def test_lines_apply_in_order_and_each_pct_is_its_effect_over_the_premium_before() -> None:
    phi, groups = _phi({"behaviour": math.log(1.2), "project": math.log(0.9)})
    out = price(Decimal("1000.00"), phi, groups, 1.05, 0.98, _band(-30, 30), True)
    # no floating line: no rate book turned the schedule on
    assert [line.layer for line in out.lines] == [x for x in LAYER_ORDER if x != FLOATING]
    # by hand: 1000 × 1.2 × 0.9 × 1.05 × 0.98 = 1111.32
    assert out.final == Decimal("1111.32")
    by = {line.layer: line for line in out.lines}
    assert by["behaviour"].effect == Decimal("200.00")  # 1000 → 1200
    assert by["project"].effect == Decimal("-120.00")  # 1200 → 1080
    assert by[INTENSITY].effect == Decimal("54.00")  # 1080 → 1134
    assert by[OFF_BALANCE].effect == Decimal("-22.68")  # 1134 → 1111.32
    assert by[GATE].effect == by[BAND_LINE].effect == Decimal("0.00")
    assert sum(line.effect for line in out.lines) == out.final - out.base
    for line in out.lines:
        if line.effect:
            assert float(line.effect / line.before) * 100 == pytest.approx(line.pct, abs=0.01)


def test_clipping_is_its_own_line_and_the_other_lines_keep_their_size() -> None:
    phi, groups = _phi({"behaviour": math.log(2.0)})
    out = price(Decimal("1000.00"), phi, groups, 1.0, 1.0, _band(-30, 30), True)
    by = {line.layer: line for line in out.lines}
    assert by["behaviour"].effect == Decimal("1000.00")  # the model's own word: twice
    assert by[BAND_LINE].effect == Decimal("-700.00")  # 2000 → 1300
    assert out.final == Decimal("1300.00")
    assert out.clipped_high
    assert by[BAND_LINE].pct == pytest.approx(100 * (1300 / 2000 - 1))


def test_the_gate_line_takes_back_the_discount_and_says_how_much() -> None:
    phi, groups = _phi({"training": math.log(0.8)})
    out = price(Decimal("1000.00"), phi, groups, 1.0, 1.0, _band(-30, 30), False)
    by = {line.layer: line for line in out.lines}
    assert by["training"].effect == Decimal("-200.00")
    assert by[GATE].effect == Decimal("200.00")
    assert out.final == out.base
    assert out.discount_withheld
    assert out.withheld_discount == Decimal("200.00")


def test_features_share_their_groups_line_in_proportion_to_contributions() -> None:
    phi, groups = _phi({"alerts": math.log(1.5)})
    out = price(Decimal("1000.00"), phi, groups, 1.0, 1.0, _band(-99, 200), True)
    effects = {f.name: f.premium_effect for f in out.features if f.group == "alerts"}
    assert sum(effects.values()) == Decimal("500.00")
    assert effects["f0a"] == Decimal("375.00")
    assert effects["f0b"] == Decimal("125.00")


def test_groups_carry_contract_labels_and_sum_their_features() -> None:
    phi, groups = _phi({g: 0.05 * (k - 3) for k, g in enumerate(GROUP_NAMES)})
    out = price(Decimal("5000.00"), phi, groups, 1.0, 1.0, BAND, True)
    for g in out.groups:
        labels = GROUP_LABELS[Group(g.name)]
        assert (g.zh, g.en) == (labels["zh"], labels["en"])
        assert g.premium_effect == sum(f.premium_effect for f in out.features if f.group == g.name)


def test_price_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="not finite"):
        price(100, {"a": math.nan}, {"a": "project"}, 1.0, 1.0, BAND, True)
    with pytest.raises(ValueError, match="no group"):
        price(100, {"a": 0.1}, {}, 1.0, 1.0, BAND, True)
    with pytest.raises(ValueError, match="base"):
        price(0, {"a": 0.1}, {"a": "project"}, 1.0, 1.0, BAND, True)
    with pytest.raises(ValueError, match="off-balance"):
        price(100, {"a": 0.1}, {"a": "project"}, 1.0, 0.0, BAND, True)


phis = st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=1, max_size=12)


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
    band = draw(st.sampled_from([BAND, _band(-10.0, 10.0), _band(0.0, 25.0), _band(-99.0, 200.0)]))
    return {
        "base": Decimal(draw(st.integers(min_value=1, max_value=10**10))) * CENT,
        "contributions": dict(zip(names, phi, strict=True)),
        "groups": dict(zip(names, picks, strict=True)),
        "intensity": draw(st.floats(0.01, 20.0)),
        "off_balance": draw(st.floats(0.5, 2.0)),
        "band": band,
        "discount_allowed": draw(st.booleans()),
        # a rate book's floating schedule, off (None) or on
        "floating": draw(st.one_of(st.none(), st.sampled_from([0.0, 0.7, 0.9, 1.0, 1.3]))),
    }


def _check(case: dict[str, object]) -> None:
    out = price(**case)  # type: ignore[arg-type]
    band = case["band"]
    assert isinstance(band, Band)
    assert out.change == out.final - out.base
    assert sum(line.effect for line in out.lines) == out.change
    assert sum(f.premium_effect for f in out.features) == sum(
        line.effect for line in out.lines if line.layer in GROUP_NAMES
    )
    for g in out.groups:
        assert g.premium_effect == sum(f.premium_effect for f in out.features if f.group == g.name)
    # never a cent outside the band
    assert out.base * (1 + Decimal(repr(band.min_pct)) / 100) <= out.final
    assert out.final <= out.base * (1 + Decimal(repr(band.max_pct)) / 100)
    if out.discount_withheld or not case["discount_allowed"]:
        assert out.final >= out.base
    # the same final premium as the what-if path
    r = math.exp(math.fsum(case["contributions"].values())) * case["intensity"]  # type: ignore[union-attr]
    assert plan_premium(
        out.base, r, case["off_balance"], band, case["discount_allowed"], case["floating"]
    ) == pytest.approx(out.final, abs=Decimal("0.01"))  # type: ignore[arg-type]
    assert (FLOATING in [line.layer for line in out.lines]) == (case["floating"] is not None)
    # each line is the premium before it (in cents) times its factor − 1, to the cents'
    # rounding, and states that as its percentage
    for line in out.lines:
        if 0 < line.before < 10**10 and math.isfinite(line.factor) and line.factor < 1e6:
            exact = line.before * (Decimal(repr(line.factor)) - 1)
            slack = Decimal("0.02") * (1 + abs(Decimal(repr(line.factor)) - 1))
            assert abs(line.effect - exact) <= slack
            assert line.pct == pytest.approx(float(100 * line.effect / line.before))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_lines_add_up_exactly_and_stay_in_the_band(case: dict[str, object]) -> None:
    _check(case)


@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_raising_a_contribution_never_lowers_the_price(
    case: dict[str, object], data: st.DataObject
) -> None:
    contributions = dict(case["contributions"])  # type: ignore[call-overload]
    name = data.draw(st.sampled_from(sorted(contributions)))
    before = price(**case).final  # type: ignore[arg-type]
    contributions[name] += data.draw(st.floats(0.0, 2.0))
    after = price(**{**case, "contributions": contributions}).final  # type: ignore[arg-type]
    assert after >= before
