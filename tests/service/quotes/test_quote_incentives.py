"""The quote's incentive section under rule set 2026.1 (issue 19): claims criteria need
claims data (an inline request that leaves ``claims`` out has none), the risk
percentile ranks the model's rate only within the site's project type and stage, and
quotes priced under 2025.1 keep their meaning and replay byte for byte."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import msgspec
import pytest
from quote_helpers import ModelStore, request_for, sites_with_history

from models.bundle import ModelBundle
from models.pricing import load_band, load_incentives, load_plan, load_tariff
from service.db.tables import Quote
from service.model_provider import ModelSnapshot, StaticModelProvider
from service.quotes.intake import claims_known, read_item
from service.quotes.pricing_service import PricedQuote, PricingRules, QuotePricer
from service.quotes.replay import recorded_rules, replay_quote
from service.quotes.texts import LANGUAGES, Lang, render
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"


def _snapshot(bundle: ModelBundle) -> ModelSnapshot:
    snapshot = StaticModelProvider(bundle).current()
    assert snapshot is not None
    return snapshot


@pytest.fixture(scope="module")
def bodies(unseen_world: World) -> list[dict[str, Any]]:
    return [request_for(unseen_world, s, START) for s in sites_with_history(unseen_world, START)]


def _price(body: dict[str, Any], snapshot: ModelSnapshot, pricer: QuotePricer) -> PricedQuote:
    (priced,) = pricer.price([read_item(copy.deepcopy(body))], snapshot)
    assert isinstance(priced, PricedQuote), priced
    return priced


def _criteria(priced: PricedQuote, metric: str, lang: Lang | None = None) -> list[dict[str, Any]]:
    """The criteria on ``metric`` as answered: the pricer's facts, or written in ``lang``."""
    quote = priced.response if lang is None else render(priced.response, lang)
    answer = msgspec.to_builtins(quote)["incentives"]
    return [c for t in answer["tiers"] for c in t["criteria"] if c["metric"] == metric]


def _row(priced: PricedQuote, snapshot: ModelSnapshot) -> Quote:
    return Quote(
        id=priced.response.quote_id,
        created_at=priced.response.created_at,
        api_key_id=1,
        insurer_id="I",
        site_id=priced.item.request.site.site_id,  # type: ignore[attr-defined]
        request_hash="a" * 64,
        input_hash="b" * 64,
        request=priced.item.body(),
        response=msgspec.to_builtins(priced.response),  # as the store keeps it
        model_name=snapshot.name,
        model_version=snapshot.version,
        model_uri=snapshot.uri,
        tariff_version=priced.tariff_version,
        band_version=priced.band_version,
        incentive_version=priced.incentive_version,
        final_premium=float(priced.final_premium),
    )


def test_a_new_quote_without_claims_data_meets_no_claims_criterion(
    model_store: ModelStore, bodies: list[dict[str, Any]]
) -> None:
    snapshot = _snapshot(model_store.bundle)
    absent = {k: v for k, v in bodies[0].items() if k != "claims"}
    assert not claims_known(read_item(absent).request)
    unknown = _price(absent, snapshot, QuotePricer())
    assert unknown.incentive_version == "2026.1"
    claims = _criteria(unknown, "claims_count")
    assert len(claims) == 3  # one in each of three tiers
    for c in claims:
        assert (c["met"], c["outcome"], c["actual"]) == (False, "not_evaluable", None)
        assert c["reason_code"] == "no_claims_data"
        assert "reason" not in c  # the facts carry the code, the answer its sentence
    for c in _criteria(unknown, "claims_count", "en"):
        assert c["reason"] == "not evaluable: no claims data (the request did not send claims)"
    zh = _criteria(unknown, "claims_count", "zh")
    assert len(zh) == 3
    for c in zh:
        assert c["reason"].startswith("无法评估：无理赔数据")
    answer = msgspec.to_builtins(unknown.response)["incentives"]
    with_claims = [
        t for t in answer["tiers"] if any(c["metric"] == "claims_count" for c in t["criteria"])
    ]
    assert len(with_claims) == 3
    assert not any(t["eligible"] for t in with_claims)
    # sent empty: the claims are known to be none, and every claims criterion is met
    empty = _price({**absent, "claims": []}, snapshot, QuotePricer())
    assert claims_known(empty.item.request)
    for lang in (None, *LANGUAGES):
        for c in _criteria(empty, "claims_count", lang):
            assert (c["met"], c["outcome"], c["actual"]) == (True, "met", 0.0)
            assert "reason" not in c
            assert "reason_code" not in c
    # the stored request keeps the difference: each replays as it was priced
    for priced in (unknown, empty):
        report = replay_quote(_row(priced, snapshot), snapshot)
        assert report.matched, report.differences
        assert report.added == []


def test_other_insurers_claims_count_under_2026_1(
    model_store: ModelStore, bodies: list[dict[str, Any]]
) -> None:
    snapshot = _snapshot(model_store.bundle)
    body = {**bodies[1], "claims": []}
    fatal = {"incident_date": "2025-03-02", "severity": "fatality"}
    priced = _price({**body, "other_claims": [fatal]}, snapshot, QuotePricer())
    fatal_rule = next(
        c for c in _criteria(priced, "claims_count") if c["name"] == "no_fatal_claims"
    )
    assert (fatal_rule["met"], fatal_rule["actual"]) == (False, 1.0)
    # 2025.1 counted the insurer's own claims only, as it always did
    legacy = QuotePricer(
        PricingRules(load_tariff(), load_band(), load_incentives("2025.1"), load_plan())
    )
    old = _price({**body, "other_claims": [fatal]}, snapshot, legacy)
    old_rule = next(c for c in _criteria(old, "claims_count") if c["name"] == "no_fatal_claims")
    assert (old_rule["met"], old_rule["actual"]) == (True, 0.0)


def test_the_risk_criterion_ranks_within_the_site_s_class(
    model_store: ModelStore, bodies: list[dict[str, Any]]
) -> None:
    bundle = model_store.bundle
    snapshot = _snapshot(bundle)
    differs = 0
    for body in bodies[:12]:
        priced = _price(body, snapshot, QuotePricer())
        risk = priced.response.risk
        stage = max(body["months"], key=lambda m: m["month"])["stage"]
        site_class = (body["site"]["project_type"], stage)
        rate = risk.loss_rate_per_10k_worker_hours / 1e4
        (expected,) = bundle.class_percentile([rate], [site_class])  # type: ignore[arg-type]
        (rule,) = [c for c in _criteria(priced, "model_class_percentile") if c["threshold"] == 30]
        if math.isnan(expected):
            assert rule["outcome"] == "not_evaluable"
            continue
        assert rule["actual"] == pytest.approx(expected, abs=1e-9)
        assert rule["met"] == (expected <= 30)
        differs += abs(expected - risk.percentile) > 1.0
    assert differs > 0  # not the all-peers percentile under another name


def test_a_model_without_class_percentiles_meets_no_risk_criterion(
    model_store: ModelStore, bodies: list[dict[str, Any]]
) -> None:
    meta = dataclasses.replace(model_store.bundle.meta, class_rates={}, class_sites={})
    snapshot = _snapshot(ModelBundle(model_store.bundle.boosters, meta))
    priced = _price(bodies[2], snapshot, QuotePricer())
    rules = _criteria(priced, "model_class_percentile")
    assert len(rules) == 2
    for c in rules:
        assert (c["met"], c["outcome"], c["actual"]) == (False, "not_evaluable", None)
    for c in _criteria(priced, "model_class_percentile", "en"):
        assert "same type and stage" in c["reason"]
    zh = _criteria(priced, "model_class_percentile", "zh")
    assert len(zh) == 2
    for c in zh:
        assert "同类工地" in c["reason"]
    assert priced.response.risk.percentile == pytest.approx(
        float(
            model_store.bundle.percentile(
                [priced.response.risk.loss_rate_per_10k_worker_hours / 1e4]
            )[0]
        ),  # type: ignore[list-item]
        abs=1e-6,
    )


def test_quotes_priced_under_2025_1_keep_their_meaning_and_replay_byte_for_byte(
    model_store: ModelStore, bodies: list[dict[str, Any]]
) -> None:
    snapshot = _snapshot(model_store.bundle)
    rules = PricingRules(load_tariff(), load_band(), load_incentives("2025.1"), load_plan())
    absent = {k: v for k, v in bodies[3].items() if k != "claims"}
    priced = _price(absent, snapshot, QuotePricer(rules))
    assert priced.incentive_version == "2025.1"
    for c in _criteria(priced, "claims_count"):
        # 2025.1's meaning: the claims given are all there are; no outcome or reason keys
        assert (c["met"], c["actual"]) == (True, 0.0)
        assert "outcome" not in c
        assert "reason" not in c
        assert "reason_code" not in c
    assert _criteria(priced, "risk_percentile")
    row = _row(priced, snapshot)
    assert recorded_rules(row).incentives.version == "2025.1"
    report = replay_quote(row, snapshot)
    assert report.matched, report.differences
    assert report.added == []
    again = _price(absent, snapshot, QuotePricer(recorded_rules(row)))
    stored = msgspec.json.encode(row.response["incentives"])
    assert msgspec.json.encode(msgspec.to_builtins(again.response)["incentives"]) == stored


def test_the_contractors_explanation_says_which_criteria_could_not_be_evaluated(
    model_store: ModelStore, bodies: list[dict[str, Any]]
) -> None:
    from service.quotes.contractor_view import site_explanation

    snapshot = _snapshot(model_store.bundle)
    absent = {k: v for k, v in bodies[0].items() if k != "claims"}
    priced = _price(absent, snapshot, QuotePricer())
    for lang in LANGUAGES:
        view = site_explanation(priced.response, lang)
        criteria = [((t.tier, c.name), c) for t in view.incentives for c in t.criteria]
        answered = {
            (t["tier"], c["name"]): c
            for t in msgspec.to_builtins(render(priced.response, lang))["incentives"]["tiers"]
            for c in t["criteria"]
        }
        assert {c.outcome for _, c in criteria} >= {"not_evaluable"}
        for name, c in criteria:
            assert c.outcome == answered[name]["outcome"]
            if c.outcome == "not_evaluable":
                assert c.reason == answered[name]["reason"]
                assert not c.met
            else:
                assert c.reason is None
