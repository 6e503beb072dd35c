"""The quote API from outside: a complete quote for a site of an unseen world, strict
refusals that name the field and store nothing, portfolios, and reading quotes back."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import ModelStore, cents, request_for, sites_with_history
from sqlmodel import func, select
from svc_helpers import bearer, make_settings

from models.pricing import load_incentives
from models.settings import Settings
from service.app import create_app
from service.auth.store import ApiKeyStore, IssuedKey, KeySpec
from service.db import migrate
from service.db.engine import Database
from service.db.tables import Quote
from service.model_provider import RegistryModelProvider
from service.quotes.schemas import MAX_MONTHS
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"
Body = dict[str, Any]


@pytest.fixture
def insurer(issue_key: Callable[..., IssuedKey]) -> str:
    return issue_key("insurer", insurer_id="INS-A").key


@pytest.fixture
def body_of(unseen_world: World) -> Callable[..., Body]:
    """The i-th site of the unseen world with at least six months before the start."""
    sites = sites_with_history(unseen_world, START)

    def make(i: int = 0, **kwargs: Any) -> Body:
        return request_for(unseen_world, sites[i], START, **kwargs)

    return make


def _stored(settings: Settings) -> int:
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            return int(session.exec(select(func.count()).select_from(Quote)).one())
    finally:
        database.dispose()


def test_a_quote_for_an_unseen_site_is_complete_stored_and_adds_up(
    client: TestClient[Any],
    insurer: str,
    body_of: Callable[..., Body],
    model_store: ModelStore,
    quote_settings: Settings,
) -> None:
    response = client.post("/v1/quotes", json=body_of(5, months=24), headers=bearer(insurer))
    assert response.status_code == 201, response.text
    quote = response.json()
    # Chinese unless asked otherwise; the same quote read back in English for its words
    assert quote["language"] == "zh"
    assert response.headers["content-language"] == "zh"
    english = client.get(f"/v1/quotes/{quote['quote_id']}?lang=en", headers=bearer(insurer))
    assert english.status_code == 200, english.text
    assert english.headers["content-language"] == "en"
    en = english.json()
    assert en["language"] == "en"
    assert set(quote) >= {
        "quote_id", "model", "risk", "pricing", "explanation", "recommendations",
        "incentives", "data_quality", "warnings",
    }  # fmt: skip
    assert quote["model"]["name"] == "site-risk"
    assert quote["model"]["version"] == model_store.version
    risk, pricing = quote["risk"], quote["pricing"]
    assert risk["expected_loss_cny"] > 0
    assert risk["expected_claims"] > 0
    assert 0 <= risk["percentile"] <= 100
    assert pricing["band"]["min_pct"] <= pricing["adjustment_pct"] <= pricing["band"]["max_pct"]
    assert pricing["tariff_version"] == "default-2025.1"
    assert pricing["plan_version"] == "2026.1"
    assert pricing["risk_factor"] == pytest.approx(
        pricing["relativity"] * pricing["exposure_intensity"], rel=1e-9
    )
    # Money is numbers to the cent.
    for amount in (pricing["base_premium_cny"], pricing["final_premium_cny"]):
        assert cents(amount) == pytest.approx(amount * 100, abs=1e-6)
    change = cents(pricing["final_premium_cny"]) - cents(pricing["base_premium_cny"])
    factors = quote["explanation"]["factors"]
    groups = quote["explanation"]["groups"]
    assert math.prod(f["factor"] for f in factors) == pytest.approx(pricing["relativity"], rel=1e-9)
    layers = pricing["layers"]
    assert [x["layer"] for x in layers] == [
        *(g["group"] for g in groups), "exposure_intensity", "off_balance",
        "data_quality_gate", "band",
    ]  # fmt: skip
    # the lines add up to the cent, and each states its effect over the premium before it
    assert sum(cents(x["premium_effect_cny"]) for x in layers) == change
    running = pricing["base_premium_cny"]
    for line, en_line in zip(layers, en["pricing"]["layers"], strict=True):
        assert cents(line["premium_before_cny"]) == cents(running)
        if line["premium_effect_cny"]:
            assert 100 * line["premium_effect_cny"] / running == pytest.approx(line["pct"], abs=0.1)
        assert en_line["layer"] == line["layer"]
        assert line["text"]
        assert en_line["text"]
        running = round(running + line["premium_effect_cny"], 2)
    by_layer = {x["layer"]: x for x in layers}
    for g in groups:
        assert cents(g["premium_effect_cny"]) == cents(by_layer[g["group"]]["premium_effect_cny"])
    group_cents = sum(cents(g["premium_effect_cny"]) for g in groups)
    assert sum(cents(f["premium_effect_cny"]) for f in factors) == group_cents
    assert {g["group"] for g in groups} == {
        "behaviour", "training", "hazardous_works", "hazard_inspection", "alerts",
        "equipment", "claims_history", "project",
    }  # fmt: skip
    en_groups, en_factors = en["explanation"]["groups"], en["explanation"]["factors"]
    assert [g["group"] for g in en_groups] == [g["group"] for g in groups]
    assert all(g["label"] and e["label"] for g, e in zip(groups, en_groups, strict=True))
    assert [f["feature"] for f in en_factors] == [f["feature"] for f in factors]
    top, en_top = factors[0], en_factors[0]
    assert top["text"]
    assert en_top["text"]
    assert "peer median" in en_top["text"] or "同类工地" not in top["text"]
    # Every factor has words; a category (district, kind of works, stage) has no median.
    assert all(f["text"] and e["text"] for f, e in zip(factors, en_factors, strict=True))
    for f, e in zip(factors, en_factors, strict=True):
        if f["feature"] in ("district", "project_type", "stage_last"):
            assert "中位数" not in f["text"]
            assert "median" not in e["text"]
        if f["feature"] == "district":
            assert f["text"].startswith("所属区：")
            assert "区" in f["text"][4:]
            assert f["value_label"] not in f["text"]  # the name, not the code
    # The metrics fold a metric's windows: every factor once, cents add up per group.
    metrics = quote["explanation"]["metrics"]
    assert sorted(n for m in metrics for n in m["features"]) == sorted(
        f["feature"] for f in factors
    )
    by_feature = {f["feature"]: f for f in factors}
    en_metrics = en["explanation"]["metrics"]
    assert [m["metric"] for m in en_metrics] == [m["metric"] for m in metrics]
    for m, en_m in zip(metrics, en_metrics, strict=True):
        assert m["text"]
        assert en_m["text"]
        assert cents(m["premium_effect_cny"]) == sum(
            cents(by_feature[n]["premium_effect_cny"]) for n in m["features"]
        )
        assert {by_feature[n]["group"] for n in m["features"]} == {m["group"]}
    for g in groups:
        assert sum(
            cents(m["premium_effect_cny"]) for m in metrics if m["group"] == g["group"]
        ) == cents(g["premium_effect_cny"])
    assert len({m["metric"] for m in metrics}) == len(metrics)
    rules = load_incentives()
    tiers = quote["incentives"]["tiers"]
    assert quote["incentives"]["rule_set_version"] == rules.version
    assert [t["tier"] for t in tiers] == [t.name for t in rules.tiers]
    for tier, rule in zip(tiers, rules.tiers, strict=True):
        assert [c["name"] for c in tier["criteria"]] == [c.name for c in rule.criteria]
        assert tier["eligible"] == all(c["met"] for c in tier["criteria"])
        for c in tier["criteria"]:
            assert {"actual", "threshold", "met", "gap"} <= set(c)
    for rec in quote["recommendations"]:
        assert rec["basis"] == "model_estimate"
        assert rec["estimated_premium_cny"] <= pricing["final_premium_cny"]

    # Stored, and read back exactly as answered.
    assert _stored(quote_settings) == 1
    again = client.get(f"/v1/quotes/{quote['quote_id']}", headers=bearer(insurer))
    assert again.status_code == 200
    assert again.json() == quote
    page = client.get("/v1/quotes", headers=bearer(insurer)).json()
    assert page["total"] == 1
    assert page["items"][0]["quote_id"] == quote["quote_id"]
    assert page["items"][0]["final_premium_cny"] == pricing["final_premium_cny"]


def test_the_insurers_own_base_premium_is_used(
    client: TestClient[Any], insurer: str, body_of: Callable[..., Body]
) -> None:
    body = body_of(7)
    body["policy"]["base_premium_cny"] = 12345.67
    quote = client.post("/v1/quotes", json=body, headers=bearer(insurer)).json()
    pricing = quote["pricing"]
    assert pricing["base_premium_cny"] == 12345.67
    assert pricing["base_premium_source"] == "policy"
    assert pricing["tariff_version"] is None
    expected = round(12345.67 * (1 + pricing["adjustment_pct"] / 100), 2)
    assert pricing["final_premium_cny"] == pytest.approx(expected, abs=0.011)


def _bad(body: Body, edit: Callable[[Body], None]) -> Body:
    changed = copy.deepcopy(body)
    edit(changed)
    return changed


def _set(path: str, value: Any) -> Callable[[Body], None]:
    """An edit that sets e.g. ``months.3.worker_hours`` (numbers index lists)."""

    def edit(body: Body) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return edit


def _drop(path: str) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return edit


def _both(*edits: Callable[[Body], None]) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        for one in edits:
            one(body)

    return edit


CASES: list[tuple[str, Callable[[Body], None], str]] = [
    # wrong types
    ("string for a number", _set("months.3.worker_hours", "7"), "months[3].worker_hours"),
    ("fraction for a count", _set("months.0.ai_alerts_ppe", 1.5), "months[0].ai_alerts_ppe"),
    ("number for a date", _set("site.start_date", 20240101), "site.start_date"),
    ("bool for a number", _set("site.contract_value_cny", True), "site.contract_value_cny"),
    ("string term", _set("policy.term_months", "12"), "policy.term_months"),
    ("object for months", _set("months", {"a": 1}), "months"),
    # out of range and badly formed
    ("negative hours", _set("months.2.worker_hours", -1.0), "months[2].worker_hours"),
    ("rate above one", _set("months.1.training_coverage", 1.2), "months[1].training_coverage"),
    ("unknown district", _set("site.district", "atlantis"), "site.district"),
    ("bad month", _set("months.0.month", "2025-13"), "months[0].month"),
    ("bad start", _set("policy.start_month", "July"), "policy.start_month"),
    ("zero term", _set("policy.term_months", 0), "policy.term_months"),
    ("zero base premium", _set("policy.base_premium_cny", 0), "policy.base_premium_cny"),
    ("bad site id", _set("site.site_id", "no spaces"), "site.site_id"),
    ("unknown field", _set("months.0.worker_hour", 5.0), "months[0].worker_hour"),
    ("unknown top field", _set("extra", 1), "extra"),
    ("missing field", _drop("months.0.data_completeness"), "months[0].data_completeness"),
    ("missing policy", _drop("policy"), "policy"),
    ("null required", _set("months.0.inspection_violations", None),
     "months[0].inspection_violations"),
    # oversized
    ("no months", _set("months", []), "months"),
    # contradictory
    ("month at the start", _set("months.0.month", START), "months[0].month"),
    ("another site's month", _set("months.1.site_id", "OTHER"), "months[1].site_id"),
    ("major above found", _both(_set("months.2.hazards_found", 2),
                                _set("months.2.major_hazards", 3)), "months[2].major_hazards"),
    ("over-scale above all", _set("site.over_scale_hazardous_works", 10**4),
     "site.over_scale_hazardous_works"),
    ("end before start", _set("site.planned_end_date", "2000-01-01"), "site.start_date"),
]  # fmt: skip


@pytest.fixture
def counted(
    client: TestClient[Any], quote_settings: Settings, insurer: str
) -> Iterator[Callable[..., Any]]:
    """``post(path, **kwargs)`` that counts 201 answers; afterwards the stored quotes
    must number exactly the 201s (batch items included) and no answer may be a 5xx."""
    created = 0

    def post(path: str, **kwargs: Any) -> Any:
        nonlocal created
        kwargs.setdefault("headers", bearer(insurer))
        response = client.post(path, **kwargs)
        assert response.status_code < 500, response.text
        if response.status_code == 201:
            created += 1
        if path.endswith("/batch") and response.status_code == 200:
            created += sum(item["status"] == 201 for item in response.json()["items"])
        return response

    yield post
    assert _stored(quote_settings) == created


@pytest.mark.parametrize(("case", "edit", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_requests_are_refused_naming_the_field(
    counted: Callable[..., Any],
    body_of: Callable[..., Body],
    case: str,
    edit: Callable[[Body], None],
    field: str,
) -> None:
    response = counted("/v1/quotes", json=_bad(body_of(1), edit))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [f["field"] for f in error["fields"]], error


def test_more_months_than_the_limit_or_a_duplicated_month_is_refused(
    counted: Callable[..., Any], body_of: Callable[..., Body]
) -> None:
    body = body_of(2)
    row = body["months"][-1]
    # MAX_MONTHS + 1 distinct months up to 2025-06, all before the start
    too_many = copy.deepcopy(body)
    first = 2025 * 12 + 5 - MAX_MONTHS
    too_many["months"] = [
        {**row, "month": f"{(first + k) // 12}-{(first + k) % 12 + 1:02d}"}
        for k in range(MAX_MONTHS + 1)
    ]
    assert too_many["months"][-1]["month"] == "2025-06"
    refused = counted("/v1/quotes", json=too_many)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "months"
    twice = copy.deepcopy(body)
    twice["months"][5]["month"] = twice["months"][4]["month"]
    refused = counted("/v1/quotes", json=twice)
    assert refused.status_code == 422
    assert "months[5].month" in [f["field"] for f in refused.json()["error"]["fields"]]


def test_malformed_oversized_and_unauthenticated_requests(
    counted: Callable[..., Any],
    body_of: Callable[..., Body],
    insurer: str,
    issue_key: Callable[..., IssuedKey],
) -> None:
    body = body_of(3)
    headers = {**bearer(insurer), "Content-Type": "application/json"}
    not_json = counted("/v1/quotes", content=b"{not json", headers=headers)
    assert not_json.status_code == 400
    assert counted("/v1/quotes", json=[1, 2]).status_code == 422
    huge = {"padding": "x" * (3 * 1024 * 1024), **body}
    assert counted("/v1/quotes", json=huge).status_code == 413
    assert counted("/v1/quotes", json=body, headers={}).status_code == 401
    wrong = counted("/v1/quotes", json=body, headers=bearer("srk_0123456789ab_" + "x" * 43))
    assert wrong.status_code == 401
    contractor = issue_key("contractor", contractor_id="GC-1").key
    assert counted("/v1/quotes", json=body, headers=bearer(contractor)).status_code == 403


def test_a_portfolio_prices_good_items_and_names_the_bad_ones(
    counted: Callable[..., Any],
    client: TestClient[Any],
    insurer: str,
    body_of: Callable[..., Body],
) -> None:
    good = [body_of(i) for i in range(10, 16)]
    items = [
        good[0],
        _bad(good[1], _set("months.0.worker_hours", "many")),
        good[2],
        _bad(good[3], _both(_set("months.1.hazards_found", 1), _set("months.1.major_hazards", 5))),
        good[4],
        _bad(good[5], _set("months.0.month", "2030-01")),
        good[0],  # the same site twice prices the same
    ]
    response = counted("/v1/quotes/batch", json={"items": items})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "content-length" not in response.headers  # streamed, a few items at a time
    answer = response.json()
    assert (answer["priced"], answer["failed"]) == (4, 3)
    statuses = [item["status"] for item in answer["items"]]
    assert statuses == [201, 422, 201, 422, 201, 422, 201]
    fields = {
        item["index"]: [f["field"] for f in item["error"]["fields"]]
        for item in answer["items"]
        if item["error"]
    }
    assert fields == {
        1: ["items[1].months[0].worker_hours"],
        3: ["items[3].months[1].major_hazards"],
        5: ["items[5].months[0].month"],
    }
    # A portfolio prices each site exactly as a single quote would.
    for index in (0, 2, 4):
        single = counted("/v1/quotes", json=items[index]).json()
        batched = answer["items"][index]["quote"]
        assert batched["pricing"] == single["pricing"]
        assert batched["risk"] == single["risk"]
        assert batched["recommendations"] == single["recommendations"]
        assert batched["incentives"] == single["incentives"]
    assert answer["items"][6]["quote"]["pricing"] == answer["items"][0]["quote"]["pricing"]
    first = answer["items"][0]["quote"]["quote_id"]
    assert client.get(f"/v1/quotes/{first}", headers=bearer(insurer)).status_code == 200


def test_a_portfolio_over_the_limit_is_refused_whole(counted: Callable[..., Any]) -> None:
    response = counted("/v1/quotes/batch", json={"items": [{}] * 1001})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "items"
    assert counted("/v1/quotes/batch", json={"items": []}).status_code == 422


def test_callers_see_only_their_own_quotes_and_pages_are_bounded(
    client: TestClient[Any],
    insurer: str,
    issue_key: Callable[..., IssuedKey],
    body_of: Callable[..., Body],
) -> None:
    other = issue_key("insurer", insurer_id="INS-B").key
    admin = issue_key("admin").key
    mine = [
        client.post("/v1/quotes", json=body_of(i), headers=bearer(insurer)).json()["quote_id"]
        for i in (20, 21, 22)
    ]
    theirs = client.post("/v1/quotes", json=body_of(23), headers=bearer(other)).json()
    assert (
        client.get(f"/v1/quotes/{theirs['quote_id']}", headers=bearer(insurer)).status_code == 404
    )
    assert client.get(f"/v1/quotes/{mine[0]}", headers=bearer(admin)).status_code == 404
    assert client.get("/v1/quotes/no-such-id", headers=bearer(insurer)).status_code == 404
    first = client.get("/v1/quotes?limit=2", headers=bearer(insurer)).json()
    second = client.get("/v1/quotes?limit=2&offset=2", headers=bearer(insurer)).json()
    assert first["total"] == second["total"] == 3
    listed = [q["quote_id"] for q in first["items"] + second["items"]]
    assert sorted(listed) == sorted(mine)
    assert client.get("/v1/quotes?limit=0", headers=bearer(insurer)).status_code == 422
    assert client.get("/v1/quotes?limit=abc", headers=bearer(insurer)).status_code == 422
    assert client.get("/v1/quotes", headers=bearer(other)).json()["total"] == 1


def test_model_card_rules_and_the_openapi_document(
    client: TestClient[Any], insurer: str, model_store: ModelStore
) -> None:
    card = client.get("/v1/model", headers=bearer(insurer)).json()
    assert card["version"] == model_store.version
    assert card["trained_at"] == model_store.bundle.meta.trained_at
    assert card["metrics"] == pytest.approx(model_store.bundle.meta.metrics)
    assert card["data"]["first_month"] == "2023-01"
    assert card["served_from_cache"] is False
    assert client.get("/v1/model").status_code == 401
    rules = client.get("/v1/incentives/rules", headers=bearer(insurer)).json()
    assert rules["version"] == load_incentives().version
    assert all(t["criteria"] for t in rules["tiers"])
    schema = client.get("/schema/openapi.json").json()
    single = schema["paths"]["/v1/quotes"]["post"]["requestBody"]["content"]["application/json"]
    batch = schema["paths"]["/v1/quotes/batch"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    components = schema["components"]["schemas"]
    # A quote sends the site's rows, or names a stored site (QuoteReference).
    refs = [s["$ref"].rsplit("/", 1)[-1] for s in single["schema"]["oneOf"]]
    refs_sorted = sorted(refs)
    assert refs_sorted == ["QuoteReference", "QuoteRequest"]
    assert {"site", "months", "policy", "claims"} <= set(components["QuoteRequest"]["properties"])
    assert set(components["QuoteReference"]["properties"]) == {"site_id", "policy"}
    # so may each item of a portfolio, 1 to 1,000 of them (anything else is that item's 422)
    items = components[batch["schema"]["$ref"].rsplit("/", 1)[-1]]["properties"]["items"]
    shapes = [s.get("$ref", "").rsplit("/", 1)[-1] for s in items["items"]["anyOf"]]
    assert sorted(shape for shape in shapes if shape) == refs_sorted
    assert (items["minItems"], items["maxItems"]) == (1, 1000)
    # the streamed answer is documented as the answer it is
    answered = schema["paths"]["/v1/quotes/batch"]["post"]["responses"]["200"]
    answer_ref = answered["content"]["application/json"]["schema"]["$ref"]
    assert answer_ref.rsplit("/", 1)[-1] == "QuoteBatchResponse"


def test_quotes_are_stored_in_postgresql_too(
    pg_database: str, model_store: ModelStore, shared_cache: Any, tmp_path: Any,
    body_of: Callable[..., Body],
) -> None:  # fmt: skip
    migrate.upgrade(pg_database)
    settings = make_settings(
        tmp_path,
        database_url=pg_database,
        mlflow_tracking_uri=model_store.settings.tracking_uri,
        model_cache_dir=shared_cache,
    )
    database = Database(settings.db_url)
    with database.session() as session:
        key = ApiKeyStore(session, settings.key_pepper.get_secret_value()).create(
            KeySpec.parse("insurer", insurer_id="INS-PG")
        )
    app = create_app(settings, model_provider=RegistryModelProvider(settings))
    with TestClient(app) as client:
        quote = client.post("/v1/quotes", json=body_of(30), headers=bearer(key.key)).json()
        batch = client.post(
            "/v1/quotes/batch",
            json={"items": [body_of(31), _bad(body_of(32), _set("months.0.stage", "x"))]},
            headers=bearer(key.key),
        ).json()
        assert batch["priced"] == 1
        again = client.get(f"/v1/quotes/{quote['quote_id']}", headers=bearer(key.key)).json()
        assert again == quote
    with database.session() as session:
        rows = session.exec(select(Quote)).all()
        assert len(rows) == 2
        row = next(r for r in rows if r.id == quote["quote_id"])
        assert row.model_version == model_store.version
        assert row.model_uri == f"models:/site-risk/{model_store.version}"
        assert row.final_premium == quote["pricing"]["final_premium_cny"]
        assert row.request["site"]["site_id"] == quote["site_id"]
        assert len(row.input_hash) == 64
    database.dispose()


def test_other_insurers_claims_are_counted_and_checked(
    counted: Callable[..., Any], body_of: Callable[..., Body]
) -> None:
    """``other_claims``: another insurer's claims of the site, counted with the caller's
    in the claims history features; one after the start is refused naming its field."""
    body = body_of(2)
    start = body["policy"]["start_month"]

    def claims_count(answer: dict[str, Any]) -> float:
        factors = answer["explanation"]["factors"]
        return next(f["value"] for f in factors if f["feature"] == "claims_count_all")

    alone = counted("/v1/quotes", json=body)
    assert alone.status_code == 201, alone.text
    others = copy.deepcopy(body)
    others["other_claims"] = [
        {"incident_date": "2023-03-14", "severity": "serious_injury"},
        {"incident_date": "2023-05-02", "severity": "minor_injury"},
    ]
    counted_too = counted("/v1/quotes", json=others)
    assert counted_too.status_code == 201, counted_too.text
    assert claims_count(counted_too.json()) == claims_count(alone.json()) + 2
    late = copy.deepcopy(others)
    late["other_claims"][1]["incident_date"] = f"{start}-01"
    refused = counted("/v1/quotes", json=late)
    assert refused.status_code == 422
    assert [f["field"] for f in refused.json()["error"]["fields"]] == [
        "other_claims[1].incident_date"
    ]
    amounts = copy.deepcopy(others)
    amounts["other_claims"][0]["paid_cny"] = 100.0
    assert counted("/v1/quotes", json=amounts).status_code == 422
