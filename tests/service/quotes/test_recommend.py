"""Recommendations never advise hiding risk (data contract v1.1): no candidate cuts the
hazards found or lowers the device-online rate or data completeness, however the
thresholds and peer medians are set, and unrectified hazards are advised as
rectifying them."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from msgspec import structs
from quote_helpers import ModelStore, request_for, sites_with_history

from models.contract import ContractData, spec, validate_frames
from models.features.definition import FEATURE_NAMES
from models.features.single import (
    SiteSeries,
    month_number,
    series_features,
    site_features,
    site_series,
)
from models.pricing.rulesets import load_incentives
from models.pricing.site_history import histories
from service.model_provider import StaticModelProvider
from service.quotes import intake, recommend
from service.quotes.pricing_service import PricedQuote, QuotePricer
from service.quotes.schemas import QuoteResponse, Recommendation
from service.quotes.texts import render
from training.synth import World, generate_world

NUMERIC = tuple(c.name for c in spec.SITE_MONTHS if c.kind in ("float", "int"))
START = "2025-01"
HIDING = ("hazards_found", "device_online_rate", "data_completeness")


@pytest.fixture(scope="module")
def world() -> ContractData:
    w = generate_world(120, seed=9, months=24, start="2023-01")
    return validate_frames(w.sites, w.site_months, w.claims)


@pytest.fixture(scope="module")
def answer(model_store: ModelStore, unseen_world: World) -> QuoteResponse:
    """A quote as the pricer answers it (facts only), to carry a recommendation to be
    written out."""
    snapshot = StaticModelProvider(model_store.bundle, name="site-risk").current()
    assert snapshot is not None
    site = sites_with_history(unseen_world, START)[0]
    (priced,) = QuotePricer().price(
        [intake.read_item(request_for(unseen_world, site, START))], snapshot
    )
    assert isinstance(priced, PricedQuote), priced
    return priced.response


def _texts(answer: QuoteResponse, rec: Recommendation) -> tuple[str, str]:
    """``rec``'s sentence in Chinese and in English, as a quote carrying it reads."""
    assert rec.text is None  # the pricer's recommendation is facts only
    quote = structs.replace(answer, recommendations=[rec])
    zh = render(quote, "zh").recommendations[0].text
    en = render(quote, "en").recommendations[0].text
    assert zh is not None
    assert en is not None
    return zh, en


def _every_threshold() -> dict[str, list[tuple[float, str]]]:
    """A threshold on every site-month metric that any site misses, both ways."""
    out: dict[str, list[tuple[float, str]]] = {}
    for c in spec.SITE_MONTHS:
        if c.kind in ("float", "int"):
            out[c.name] = [(0.0, f"forged.{c.name}.low"), (1.0, f"forged.{c.name}.high")]
    return out


def _every_median() -> dict[str, float]:
    """Peer medians that make every site lag on every metric, under any name."""
    out = {}
    for c in spec.SITE_MONTHS:
        out[f"{c.name}_6m"] = 1.0
        out[f"{c.name}_per_10kwh_6m"] = 0.0
    return out


def _candidates(world: ContractData, thresholds: Any, medians: Any) -> list[recommend.Candidate]:
    ids = list(world.sites["site_id"])
    found = []
    for position, h in enumerate(histories(world, ids, NUMERIC)):
        found += recommend.candidates(position, h, START, thresholds, medians)
    return found


def test_no_metric_that_would_hide_risk_is_advised_down() -> None:
    assert set(HIDING) <= recommend.NEVER_FEWER
    for column in HIDING:
        assert recommend.CONTROLLABLE.get(column, -1) < 0, column
    assert "hazards_found" not in recommend.CONTROLLABLE
    assert recommend.CONTROLLABLE["hazard_rectification_rate"] == -1


@pytest.mark.parametrize("setting", ["shipped", "forged"])
def test_no_candidate_targets_hazards_found_or_reporting_downward(
    world: ContractData, setting: str
) -> None:
    if setting == "shipped":
        thresholds = recommend.incentive_targets(load_incentives())
        medians: dict[str, float] = {}
    else:
        thresholds, medians = _every_threshold(), _every_median()
    found = _candidates(world, thresholds, medians)
    assert found
    for c in found:
        if c.column in HIDING:
            assert c.direction < 0, c
            assert c.target >= c.current, c
    assert not [c for c in found if c.column == "hazards_found"]
    # every safety metric the contract lists is still advised somewhere
    if setting == "forged":
        assert {c.column for c in found} == set(spec.controllable())


def _series(world: ContractData) -> tuple[list[SiteSeries], list[int], np.ndarray]:
    months = world.site_months.groupby("site_id", sort=False)
    series, targets = [], []
    for site in world.sites.astype(object).where(world.sites.notna(), None).itertuples():
        rows = months.get_group(site.site_id)
        rows = rows.astype(object).where(rows.notna(), None)
        series.append(site_series(site, list(rows.itertuples()), []))
        targets.append(month_number(START))
    base = np.vstack([site_features(s, t) for s, t in zip(series, targets, strict=True)])
    return series, targets, base


@pytest.mark.xdist_group("model")
def test_unrectified_hazards_are_advised_as_rectifying_them(
    world: ContractData, answer: QuoteResponse
) -> None:
    found = [
        c
        for c in _candidates(world, _every_threshold(), _every_median())
        if c.column == "hazard_rectification_rate"
    ]
    assert found
    series, targets, base = _series(world)
    extra = recommend.what_if_sites(found, series, targets)
    rows = series_features(extra.series, extra.targets)[: len(found)]
    for k in (3, 6):
        j = FEATURE_NAMES.index(f"unrectified_hazards_per_10kwh_{k}m")
        before = base[[c.position for c in found], j]
        after = rows[:, j]
        seen = ~np.isnan(before)
        assert (after[seen] <= before[seen]).all()
        assert (after[seen] < before[seen]).any()
    # hazards found are never touched: only the rectification rate moves
    allowed = {f"hazard_rectification_rate_{k}m" for k in (1, 3, 6)}
    allowed |= {f"unrectified_hazards_per_10kwh_{k}m" for k in (3, 6)}
    for c, row in zip(found, rows, strict=True):
        b = base[c.position]
        differ = ~((row == b) | (np.isnan(row) & np.isnan(b)))
        assert {FEATURE_NAMES[j] for j in np.flatnonzero(differ)} <= allowed
    rec = recommend.recommendation(found[0], Decimal("1000.00"), Decimal("12.34"))
    assert rec.direction == "increase"
    zh, en = _texts(answer, rec)
    assert "整改" in zh
    assert "提高至" in zh
    assert "rectified" in en
    for text in (zh, en):
        assert "排查隐患数" not in text
        assert "fewer" not in text


@pytest.mark.xdist_group("model")
@pytest.mark.parametrize("column", sorted(recommend.CONTROLLABLE))
def test_texts_never_advise_looking_or_reporting_less(column: str, answer: QuoteResponse) -> None:
    direction = recommend.CONTROLLABLE[column]
    c = recommend.Candidate(0, column, direction, 0.5, 0.9 if direction < 0 else 0.1,
                            "incentive", "tier.criterion")  # fmt: skip
    rec = recommend.recommendation(c, Decimal("1000.00"), Decimal("5.00"))
    zh, en = _texts(answer, rec)
    if direction > 0:
        # a count comes down by removing the risk, with inspections and reporting kept up
        assert "消除风险" in zh
        assert "上报不减" in zh
        assert "removing the risk" in en
        assert "reporting and devices kept up" in en
    assert rec.metric not in ("hazards_found", "device_online_rate", "data_completeness")
    assert math.isfinite(rec.estimated_saving_cny)
    assert "此为模型估算，非承诺报价。" in zh
    assert "A model estimate, not an offer." in en
    assert rec.metric == column
