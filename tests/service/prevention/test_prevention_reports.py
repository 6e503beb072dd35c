"""Prevention reports (docs/prevention.md): an insurer's budgets by district and risk
grade from its stored quotes (the latest quote of each site and start month), what its
services found from hazard tickets of source ``insurer``, and a regulator's budgets by
district with districts of fewer than five sites suppressed; anyone else gets 404."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prevention_helpers import activate, bearer, book, quote_body, ready_sites

from models.pricing.grades import load_grades
from models.settings import Settings
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.prevention.report import Policy, Ticket, finding_cells
from training.synth import World


def _cents(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"))


def _by_district(world: World) -> dict[str, list[str]]:
    sites = world.sites.set_index("site_id")
    out: dict[str, list[str]] = defaultdict(list)
    for site_id in ready_sites(world):
        out[str(sites.loc[site_id, "district"])].append(site_id)
    return out


@pytest.fixture(scope="module")
def priced(
    app_client: TestClient[Litestar], keys: dict[str, str], prevention_world: World
) -> dict[str, Any]:
    """acme: six sites of the largest district and a few of two small ones, three of
    them quoted again for the same start (six months: another budget); zenith: two of
    the same sites; nobook: priced without a book."""
    activate(app_client, keys["admin"], book("acme", prevention_share=0.05))
    activate(app_client, keys["admin"], book("zenith", prevention_share=0.08))
    districts = sorted(_by_district(prevention_world).items(), key=lambda kv: -len(kv[1]))
    big, big_sites = districts[0]
    assert len(big_sites) >= 6
    small = [(d, s) for d, s in districts if 2 <= len(s) <= 4][:2]
    assert len(small) == 2
    acme_sites = big_sites[:6] + [site for _, sites in small for site in sites]

    def price(who: str, site_id: str, term: int = 12) -> dict[str, Any]:
        body = quote_body(prevention_world, site_id)
        body["policy"]["term_months"] = term
        got = app_client.post("/v1/quotes", json=body, headers=bearer(keys[who]))
        assert got.status_code == 201, got.text
        answer = got.json()
        answer["district"] = body["site"]["district"]
        return dict(answer)

    latest: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for site_id in acme_sites:
        latest["acme"][site_id] = price("acme", site_id)
    for site_id in acme_sites[:3]:
        again = price("acme", site_id, term=6)
        assert (
            again["pricing"]["prevention_budget_cny"]
            != (latest["acme"][site_id]["pricing"]["prevention_budget_cny"])
        )
        latest["acme"][site_id] = again
    for site_id in big_sites[:2]:
        latest["zenith"][site_id] = price("zenith", site_id)
    price("nobook", big_sites[0])
    return {"latest": latest, "big": big, "small": [d for d, _ in small]}


def test_an_insurer_reads_its_budgets_by_district_and_grade(
    app_client: TestClient[Litestar], keys: dict[str, str], priced: dict[str, Any]
) -> None:
    grades = load_grades()
    for who in ("acme", "zenith"):
        got = app_client.get("/v1/prevention/report", headers=bearer(keys[who]))
        assert got.status_code == 200, got.text
        report = got.json()
        answers = priced["latest"][who]
        expected: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for a in answers.values():
            expected[(a["district"], grades.grade(a["risk"]["percentile"]).grade)].append(a)
        assert report["insurer_id"] == who
        assert report["policies"] == report["sites"] == len(answers)
        assert [(c["district"], c["grade"]) for c in report["cells"]] == sorted(expected)
        for cell in report["cells"]:
            mine = expected[(cell["district"], cell["grade"])]
            assert cell["policies"] == cell["sites"] == len(mine)
            budget = sum(_cents(a["pricing"]["prevention_budget_cny"]) for a in mine)
            planned = sum(_cents(a["prevention"]["cost_cny"]) for a in mine)
            assert _cents(cell["budget_cny"]) == budget
            assert _cents(cell["planned_cny"]) == planned
        total = sum(_cents(a["pricing"]["prevention_budget_cny"]) for a in answers.values())
        assert _cents(report["budget_cny"]) == total
        assert report["findings"] is None
    nothing = app_client.get("/v1/prevention/report", headers=bearer(keys["nobook"])).json()
    assert (nothing["policies"], nothing["cells"], nothing["budget_cny"]) == (0, [], 0.0)


def test_a_regulator_sees_budgets_by_district_small_ones_suppressed(
    app_client: TestClient[Litestar],
    keys: dict[str, str],
    priced: dict[str, Any],
    module_settings: Settings,
) -> None:
    sites: dict[str, set[str]] = defaultdict(set)
    budget: dict[str, Decimal] = defaultdict(Decimal)
    for answers in priced["latest"].values():
        for site_id, a in answers.items():
            sites[a["district"]].add(site_id)
            budget[a["district"]] += _cents(a["pricing"]["prevention_budget_cny"])
    got = app_client.get("/v1/prevention/districts", headers=bearer(keys["regulator"]))
    assert got.status_code == 200, got.text
    report = got.json()
    assert report["min_sites"] == 5
    shown = {d["district"]: d for d in report["districts"]}
    assert set(shown) == set(sites)
    big = shown[priced["big"]]
    assert (big["suppressed"], big["sites"]) == (False, len(sites[priced["big"]]))
    assert _cents(big["budget_cny"]) == budget[priced["big"]]
    for district in priced["small"]:
        assert shown[district] == {
            "district": district,
            "district_label": shown[district]["district_label"],
            "suppressed": True,
            "sites": None,
            "budget_cny": None,
        }
    # never an insurer, a rate or a premium
    text = got.text
    for word in ("acme", "zenith", "premium", "rate", "insurer"):
        assert word not in text
    # a regulator of one small district sees only it, suppressed
    database = Database(module_settings.db_url)
    with database.session() as session:
        store = ApiKeyStore(session, module_settings.key_pepper.get_secret_value())
        one = store.create(KeySpec.parse("regulator", districts=[priced["small"][0]])).key
    database.dispose()
    mine = app_client.get("/v1/prevention/districts", headers=bearer(one)).json()
    assert [(d["district"], d["suppressed"]) for d in mine["districts"]] == [
        (priced["small"][0], True)
    ]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/v1/prevention/report", "acme"), ("/v1/prevention/districts", "regulator")],
)
def test_anyone_else_gets_the_404_of_a_missing_path(
    app_client: TestClient[Litestar], keys: dict[str, str], path: str, allowed: str
) -> None:
    missing = app_client.get("/v1/prevention/nothing-here", headers=bearer(keys["admin"]))
    assert missing.status_code == 404
    for who in ("acme", "regulator", "contractor", "admin", "nobook"):
        got = app_client.get(path, headers=bearer(keys[who]))
        if who == allowed or (allowed == "acme" and who == "nobook"):
            assert got.status_code == 200, (who, got.text)
        else:
            assert got.status_code == 404, (who, got.text)
            assert got.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert app_client.get(path).status_code == 401


def _policy(site: str, district: str, start: str, pct: float, term: int = 12) -> Policy:
    return Policy(site, district, start, term, pct, Decimal("100.00"), Decimal("50.00"))


def test_findings_count_the_insurer_tickets_within_each_policys_term() -> None:
    grades = load_grades()
    low, high = 5.0, 95.0  # the safest and the riskiest grade
    found = [
        _policy("S1", "pudong", "2025-01", low),
        _policy("S1", "pudong", "2025-07", high, term=6),  # a later policy of S1
        _policy("S2", "pudong", "2025-01", low),
        _policy("S3", "xuhui", "2025-03", high, term=3),
    ]
    day = dt.date.fromisoformat
    tickets = [
        Ticket("S1", day("2025-02-10"), "general", day("2025-02-20")),  # S1's first term
        Ticket("S1", day("2025-08-01"), "major", None),  # both terms: the later start's
        Ticket("S1", day("2026-01-01"), "general", None),  # after both terms: not counted
        Ticket("S2", day("2025-12-31"), "major", day("2026-01-05")),  # last day of the term
        Ticket("S3", day("2025-06-01"), "general", None),  # S3's term ended in May
        Ticket("S9", day("2025-03-01"), "general", None),  # no policy of this insurer
    ]
    cells = {(c.district, c.grade): c for c in finding_cells(found, tickets, grades)}
    a, e = grades.grade(low).grade, grades.grade(high).grade
    assert a != e
    first = cells[("pudong", a)]
    assert (first.sites, first.tickets, first.major, first.rectified, first.open) == (
        2, 2, 1, 2, 0,
    )  # fmt: skip
    later = cells[("pudong", e)]
    assert (later.sites, later.tickets, later.major, later.rectified, later.open) == (
        1, 1, 1, 0, 1,
    )  # fmt: skip
    xuhui = cells[("xuhui", e)]
    assert (xuhui.sites, xuhui.tickets) == (1, 0)
