"""Issue 19's acceptance, from outside: a site of a generated world, under an agreement,
is evaluated through the feed month by month for 12 months (``siterisk data push`` to a
running service, one month at a time), then settled; replaying the settlement (API and
``siterisk agreements replay``) gives the same bytes."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from agreement_helpers import INSURER, Parties, bearer, body, owned_world
from litestar.testing import TestClient
from svc_helpers import PEPPER
from typer.testing import CliRunner

from models.incentives import period_months
from models.settings import Settings, get_settings
from service.app import create_app
from service.cli import app as cli
from training.synth import World

PERIOD = ("2025-01", "2025-12")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=_free_port(), log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{config.port}"
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def acceptance_world() -> World:
    return owned_world(n_sites=40, months=24, start="2024-01")


def _folder(path: Path, world: World, months: pd.Series, claims: pd.Series) -> Path:
    path.mkdir(parents=True)
    world.sites.to_csv(path / "sites.csv", index=False)
    world.site_months[months].to_csv(path / "site_months.csv", index=False)
    world.claims[claims].to_csv(path / "claims.csv", index=False)
    return path


def _push(folder: Path, url: str, key: str) -> None:
    result = CliRunner().invoke(cli, ["data", "push", str(folder), "--url", url, "--key", key])
    assert result.exit_code == 0, result.output


def _site(world: World) -> pd.Series:
    """An owned site with a row in every month of the period and claims on it."""
    sm = world.site_months[world.site_months["month"].between(*PERIOD)]
    full = sm.groupby("site_id")["month"].nunique()
    with_claims = set(world.claims["site_id"])
    owned = world.sites[world.sites["owner_id"] == "OWN-A"]
    ranked = sorted(
        (s for _, s in owned.iterrows() if full.get(s["site_id"], 0) == 12),
        key=lambda s: s["site_id"] not in with_claims,
    )
    return ranked[0]


def test_a_site_evaluated_monthly_through_the_feed_for_a_year_then_settled_and_replayed(
    server: str,
    settings: Settings,
    acceptance_world: World,
    issue_key: Callable[..., object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SITERISK_HOME", str(settings.home))
    monkeypatch.setenv("SITERISK_KEY_PEPPER", PEPPER)
    monkeypatch.setenv("SITERISK_ENV", "dev")
    for name in ("DATABASE_URL", "SITERISK_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    world = acceptance_world
    site = _site(world)

    def key(role: str, **kwargs: object) -> str:
        return str(issue_key(role, **kwargs).key)  # type: ignore[attr-defined]

    platform, insurer = key("platform"), key("insurer", insurer_id=INSURER)
    owner = key("owner", owner_id="OWN-A")
    contractor = key("contractor", contractor_id=str(site["contractor_id"]))
    parties = Parties(str(site["site_id"]), "OWN-A", str(site["contractor_id"]), {})

    # everything before the period, then the agreement
    incident = pd.to_datetime(world.claims["incident_date"]).dt.strftime("%Y-%m")
    before = _folder(
        tmp_path / "before",
        world,
        world.site_months["month"] < PERIOD[0],
        incident < PERIOD[0],
    )
    _push(before, server, platform)
    _push(before, server, insurer)
    with TestClient(create_app(settings)) as client:
        created = client.post(
            "/v1/agreements",
            json=body(parties, first_month=PERIOD[0], last_month=PERIOD[1]),
            headers=bearer(owner),
        )
        assert created.status_code == 201, created.text
        agreement_id = created.json()["id"]
        for party in (owner, contractor):
            client.post(f"/v1/agreements/{agreement_id}/accept", headers=bearer(party))
        url = f"/v1/agreements/{agreement_id}"
        assert client.get(url, headers=bearer(owner)).json()["status"] == "in_effect"

        # month by month: the platform pushes the month, the insurer its claims
        for month in period_months(*PERIOD):
            folder = _folder(
                tmp_path / month, world, world.site_months["month"] == month, incident == month
            )
            _push(folder, server, platform)
            if (incident == month).any():
                _push(folder, server, insurer)
            for reader in (owner, contractor):
                got = client.get(f"{url}/evaluation", headers=bearer(reader))
                assert got.status_code == 200, got.text
            evaluation = got.json()
            assert evaluation["through_month"] == month
            assert evaluation["months"] == list(period_months(PERIOD[0], month))
            assert evaluation["months_used"] == evaluation["months"]
            assert evaluation["revisions"] == dict.fromkeys(evaluation["months"], 1)
            claims = next(
                c for c in evaluation["tiers"][0]["criteria"] if c["metric"] == "claims_count"
            )
            assert len(claims["by_month"]) == len(evaluation["months"])
        final = evaluation

        issued = client.post(f"{url}/statement", headers=bearer(owner))
        assert issued.status_code == 201, issued.text
        info = issued.json()
        stored = client.get(f"{url}/statement", headers=bearer(contractor))
        assert "sha256:" + hashlib.sha256(stored.content).hexdigest() == info["content_hash"]
        statement = json.loads(stored.content)
        rewards = {line["name"]: line["outcome"] for line in statement["lines"]}
        assert {t["name"]: t["outcome"] for t in final["tiers"]}.items() <= rewards.items()
        assert statement["revisions"] == final["revisions"]
        replay = client.post(f"{url}/statement/replay", headers=bearer(owner)).json()
        assert (replay["same_bytes"], replay["replayed_hash"]) == (True, info["content_hash"])

    result = CliRunner().invoke(cli, ["agreements", "replay", agreement_id, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["same_bytes"], report["feed_rows_match"]) == (True, True)
    assert report["replayed_hash"] == info["content_hash"]
    get_settings.cache_clear()
