"""``siterisk prevention report`` (admin, docs/prevention.md): an insurer's budgets by
district and grade as the API gives them, and with --events what its services found:
the event contract's hazard tickets of source insurer within the policies' terms; a
folder that breaks the contract is refused (exit 2) and nothing is reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prevention_helpers import activate, bearer, book, quote_body, ready_sites, write_events
from typer.testing import CliRunner

from models.settings import Settings, get_settings
from service.cli import app as cli
from training.synth import World


@pytest.fixture(scope="module")
def quoted(
    app_client: TestClient[Litestar], keys: dict[str, str], prevention_world: World
) -> list[dict[str, Any]]:
    activate(app_client, keys["admin"], book("acme"))
    out = []
    for site_id in ready_sites(prevention_world)[:4]:
        got = app_client.post(
            "/v1/quotes",
            json=quote_body(prevention_world, site_id),
            headers=bearer(keys["acme"]),
        )
        assert got.status_code == 201, got.text
        out.append(got.json())
    return out


@pytest.fixture
def env(module_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SITERISK_HOME", str(module_settings.home))
    monkeypatch.setenv("SITERISK_DATABASE_URL", module_settings.db_url)
    monkeypatch.setenv("SITERISK_KEY_PEPPER", module_settings.key_pepper.get_secret_value())
    monkeypatch.setenv("SITERISK_ENV", "dev")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _ticket(n: int, site: str, found: str, source: str, **over: Any) -> dict[str, Any]:
    row = {
        "ticket_id": f"T{n}",
        "site_id": site,
        "found_on": found,
        "source": source,
        "level": "general",
        "deadline": found,
        "rectified_on": None,
    }
    row.update(over)
    return row


def test_the_report_with_the_services_findings(
    env: None,
    quoted: list[dict[str, Any]],
    app_client: TestClient[Litestar],
    keys: dict[str, str],
    prevention_world: World,
    tmp_path: Path,
) -> None:
    sites = [q["site_id"] for q in quoted]  # policies from 2025-07, twelve months
    tickets = [
        _ticket(1, sites[0], "2025-08-01", "insurer", level="major"),
        _ticket(2, sites[0], "2025-09-01", "insurer", rectified_on="2025-09-03"),
        _ticket(3, sites[1], "2026-06-30", "insurer"),  # the term's last month
        _ticket(4, sites[1], "2025-06-30", "insurer"),  # before the term
        _ticket(5, sites[2], "2025-08-01", "self"),  # the site's own: not the service's
        _ticket(6, sites[3], "2025-08-01", "government"),
    ]
    folder = write_events(tmp_path / "events", prevention_world, sites, tickets)
    ran = CliRunner().invoke(
        cli, ["prevention", "report", "acme", "--events", str(folder), "--json"]
    )
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    api = app_client.get("/v1/prevention/report", headers=bearer(keys["acme"])).json()
    assert report["cells"] == api["cells"]
    assert report["budget_cny"] == api["budget_cny"]
    findings = report["findings"]
    assert sum(f["tickets"] for f in findings) == 3
    assert sum(f["major"] for f in findings) == 1
    assert sum(f["rectified"] for f in findings) == 1
    assert sum(f["open"] for f in findings) == 2
    assert sum(f["sites"] for f in findings) == len(sites)
    assert report["findings_source"] == str(folder)
    table = CliRunner().invoke(cli, ["prevention", "report", "acme", "--events", str(folder)])
    assert table.exit_code == 0, table.output
    assert "found by the insurer's services" in table.stdout
    assert f"CNY {api['budget_cny']:,.2f}" in table.stdout


def test_a_broken_events_folder_is_refused(
    env: None, quoted: list[dict[str, Any]], prevention_world: World, tmp_path: Path
) -> None:
    site = quoted[0]["site_id"]
    bad = [_ticket(1, site, "2025-08-01", "broker")]  # no such source
    folder = write_events(tmp_path / "events", prevention_world, [site], bad)
    ran = CliRunner().invoke(cli, ["prevention", "report", "acme", "--events", str(folder)])
    assert ran.exit_code == 2
    assert "source" in ran.output
    assert "found by" not in ran.output
