"""Helpers for the portal tests: quote requests from a synthetic world, a scenario of
two insurers and two contractors with priced quotes, a live server, and reading
money back from page text."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from litestar import Litestar

from models.bundle import ModelBundle
from models.settings import Settings
from service.app import create_app
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.model_provider import StaticModelProvider
from service.quotes.example import contract_rows as rows
from training.synth import World

PEPPER = "portal-test-pepper-0123456789"
SECRET = "portal-test-secret-abcdefghijklmnop"
EARLY, START = "2025-01", "2025-07"


def portal_settings(home: Path, migrated_db: Path, **overrides: Any) -> Settings:
    """A fresh migrated SQLite database in ``home`` and settings for it."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_db, home / "siterisk.db")
    values: dict[str, Any] = {
        "home": home,
        "database_url": f"sqlite:///{home / 'siterisk.db'}",
        "env": "dev",
        "key_pepper": PEPPER,
        "portal_secret": SECRET,
        "portal_cookie_secure": False,
        "rate_limit_per_second": 0.0,
        "auth_cache_seconds": 0.0,
        "cors_origins": [],
    }
    values.update(overrides)
    return Settings(**values)


def portal_app(settings: Settings, bundle: ModelBundle) -> Litestar:
    """The service with ``bundle`` as its model (version 7), as ``serve`` builds it."""
    provider = StaticModelProvider(bundle, name="site-risk", version="7")
    return create_app(settings, model_provider=provider)


def quote_body(world: World, site_id: str, start_month: str, months: int = 12) -> dict[str, Any]:
    """The contract's rows of ``site_id`` before ``start_month`` as a quote request."""
    site = world.sites[world.sites["site_id"] == site_id]
    history = (
        world.site_months[
            (world.site_months["site_id"] == site_id) & (world.site_months["month"] < start_month)
        ]
        .sort_values("month")
        .tail(months)
    )
    before = pd.to_datetime(world.claims["incident_date"]) < pd.Timestamp(f"{start_month}-01")
    claims = world.claims[(world.claims["site_id"] == site_id) & before]
    return {
        "site": rows(site, "sites")[0],
        "months": rows(history, "site_months"),
        "claims": rows(claims, "claims"),
        "policy": {"start_month": start_month, "term_months": 12},
    }


def poor_data(body: dict[str, Any]) -> dict[str, Any]:
    """The same request with devices mostly offline: no discount can be earned."""
    months = [{**m, "device_online_rate": 0.2} for m in body["months"]]
    return {**body, "months": months}


class Client(Protocol):
    def post(self, url: str, **kwargs: Any) -> Any: ...
    def get(self, url: str, **kwargs: Any) -> Any: ...


@dataclass
class Scenario:
    """Two insurers, two contractors, quotes priced through the API."""

    keys: dict[str, str]
    c1: str  # contractor ids
    c2: str
    site_a: str  # C1, two quotes (EARLY, START): the trend
    site_b: str  # C1, poor data quality
    site_c: str  # C2
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> API answer

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def issue_keys(settings: Settings, c1: str, c2: str) -> dict[str, str]:
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            store = ApiKeyStore(session, settings.key_pepper.get_secret_value())
            specs = {
                "ins_a": KeySpec.parse("insurer", insurer_id="INS-A"),
                "ins_b": KeySpec.parse("insurer", insurer_id="INS-B"),
                "c1": KeySpec.parse("contractor", contractor_id=c1),
                "c2": KeySpec.parse("contractor", contractor_id=c2),
                "admin": KeySpec.parse("admin"),
            }
            return {name: store.create(s).key for name, s in specs.items()}
    finally:
        database.dispose()


def pick_sites(world: World) -> tuple[str, str, list[str], list[str]]:
    """Two contractors whose sites report all six months before both policy starts: the
    first with two such sites, the second with one."""
    months = world.site_months

    def full(lo: str, hi: str) -> set[str]:
        window = months[(months["month"] >= lo) & (months["month"] < hi)]
        counts = window.groupby("site_id").size()
        return {str(s) for s in counts[counts >= 6].index}

    ready = full("2024-07", EARLY) & full(EARLY, START)
    sites = world.sites[world.sites["site_id"].isin(ready)]
    by_contractor = sites.groupby("contractor_id")["site_id"].apply(sorted)
    many = [c for c, s in by_contractor.items() if len(s) >= 2]
    c1 = str(many[0])
    c2 = str(next(c for c in by_contractor.index if c != c1))
    return c1, c2, [str(s) for s in by_contractor[c1]], [str(s) for s in by_contractor[c2]]


def build_scenario(client: Client, settings: Settings, world: World) -> Scenario:
    c1, c2, sites1, sites2 = pick_sites(world)
    keys = issue_keys(settings, c1, c2)
    scenario = Scenario(keys, c1, c2, sites1[0], sites1[1], sites2[0])

    def price(name: str, body: dict[str, Any], who: str = "ins_a") -> None:
        answer = client.post("/v1/quotes", json=body, headers=scenario.bearer(who))
        assert answer.status_code == 201, answer.text
        scenario.quotes[name] = answer.json()

    price("a_early", quote_body(world, scenario.site_a, EARLY))
    price("a", quote_body(world, scenario.site_a, START))
    price("b", poor_data(quote_body(world, scenario.site_b, START)))
    price("c", quote_body(world, scenario.site_c, START), who="ins_b")
    return scenario


# --- reading pages ---------------------------------------------------------------------

_MONEY = re.compile(r"([+\-−]?)¥([\d,]+\.\d{2})")


def cents_of(text: str) -> int:
    """The one ¥ amount in ``text``, in cents (signed)."""
    found = _MONEY.findall(text)
    assert len(found) == 1, f"expected one amount in {text!r}, found {found}"
    sign, digits = found[0]
    value = round(float(digits.replace(",", "")) * 100)
    return -value if sign in "-−" and sign else value


def percent_of(text: str) -> float:
    match = re.search(r"([+\-−]?)([\d,]+\.\d)%", text)
    assert match, f"no percentage in {text!r}"
    value = float(match[2].replace(",", ""))
    return -value if match[1] in ("-", "−") else value


def cents(amount: float) -> int:
    return round(amount * 100)


# --- a live server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="portal-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
