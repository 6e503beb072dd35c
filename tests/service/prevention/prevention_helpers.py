"""Helpers for the prevention tests: settings over a copy of the migrated database,
keys, rate books and quote requests from a synthetic world."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from models.pricing.ratebook import load_ratebook
from models.settings import Settings
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.quotes.example import contract_rows as rows
from training.synth import World

PEPPER = "prevention-test-pepper-0123456789"
START = "2025-07"


class Client(Protocol):
    def post(self, url: str, **kwargs: Any) -> Any: ...
    def get(self, url: str, **kwargs: Any) -> Any: ...


def portal_free_settings(home: Path, migrated_db: Path) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_db, home / "siterisk.db")
    return Settings(
        home=home,
        database_url=f"sqlite:///{home / 'siterisk.db'}",
        env="dev",
        key_pepper=PEPPER,
        portal_secret="prevention-test-secret-abcdefghij",
        portal_cookie_secure=False,
        rate_limit_per_second=0.0,
        auth_cache_seconds=0.0,
        cors_origins=[],
    )


def contractor_of(world: World) -> str:
    """The contractor of the most sites in the world."""
    return str(world.sites["contractor_id"].value_counts().index[0])


def issue_keys(settings: Settings, world: World) -> dict[str, str]:
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            store = ApiKeyStore(session, settings.key_pepper.get_secret_value())
            specs = {
                "acme": KeySpec.parse("insurer", insurer_id="acme"),
                "zenith": KeySpec.parse("insurer", insurer_id="zenith"),
                "nobook": KeySpec.parse("insurer", insurer_id="nobook"),
                "contractor": KeySpec.parse("contractor", contractor_id=contractor_of(world)),
                "regulator": KeySpec.parse("regulator", districts=["all"]),
                "admin": KeySpec.parse("admin"),
            }
            return {name: store.create(s).key for name, s in specs.items()}
    finally:
        database.dispose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def book(insurer: str, version: str = "2025.1", **changes: Any) -> dict[str, Any]:
    """The shipped default book as ``insurer``'s, with ``changes``."""
    doc = copy.deepcopy(dict(load_ratebook().document))
    doc.update(insurer_id=insurer, version=version, label=f"{insurer} filing {version}")
    doc.update(changes)
    return doc


def activate(client: Client, admin: str, doc: dict[str, Any]) -> None:
    made = client.post("/v1/admin/ratebooks/", json=doc, headers=bearer(admin))
    assert made.status_code == 201, made.text
    done = client.post(
        f"/v1/admin/ratebooks/{doc['insurer_id']}/{doc['version']}/activate",
        headers=bearer(admin),
    )
    assert done.status_code == 200, done.text


def ready_sites(world: World, start: str = START) -> list[str]:
    """Sites reporting all six months before ``start``, in id order."""
    months = world.site_months
    window = months[(months["month"] >= "2025-01") & (months["month"] < start)]
    counts = window.groupby("site_id").size()
    return sorted(str(s) for s in counts[counts >= 6].index)


def quote_body(world: World, site_id: str, start: str = START) -> dict[str, Any]:
    """The contract's rows of ``site_id`` before ``start`` as a quote request."""
    site = world.sites[world.sites["site_id"] == site_id]
    history = (
        world.site_months[
            (world.site_months["site_id"] == site_id) & (world.site_months["month"] < start)
        ]
        .sort_values("month")
        .tail(12)
    )
    before = pd.to_datetime(world.claims["incident_date"]) < pd.Timestamp(f"{start}-01")
    claims = world.claims[(world.claims["site_id"] == site_id) & before]
    return {
        "site": rows(site, "sites")[0],
        "months": rows(history, "site_months"),
        "claims": rows(claims, "claims"),
        "policy": {"start_month": start, "term_months": 12},
    }


def write_events(
    folder: Path, world: World, site_ids: list[str], tickets: list[dict[str, Any]]
) -> Path:
    """An events folder (the event contract) for ``site_ids`` as the world has them:
    a stage and one day's attendance each, ``tickets`` as the hazard tickets, nothing
    else happened."""
    import csv

    from models.contract import spec as contract_spec
    from models.events import spec as events_spec

    sites = world.sites[world.sites["site_id"].isin(site_ids)]
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": rows(sites, "sites"),
        "claims": [],
        "site_stages": [
            {"site_id": s, "stage": "structure", "from_date": "2024-01-01"} for s in site_ids
        ],
        "attendance": [
            {"site_id": s, "worker_id": "W1", "date": "2025-03-02", "hours": 8.0} for s in site_ids
        ],
        "hazard_tickets": tickets,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for table in (*events_spec.PASSED_THROUGH, *events_spec.TABLES):
        columns = contract_spec.TABLES.get(table) or events_spec.TABLES[table]
        names = [c.name for c in columns]
        with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            for record in tables.get(table, []):
                writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return folder
