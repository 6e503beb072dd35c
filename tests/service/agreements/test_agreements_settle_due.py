"""Settlement at the end of the period (issue 19, item 4): ``settle-due`` issues the
statement of every agreement in effect whose period is over on the Shanghai calendar,
once, naming no key; agreements still running or not accepted wait."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from agreement_helpers import Parties, bearer, body
from litestar import Litestar
from litestar.testing import TestClient
from svc_helpers import PEPPER
from typer.testing import CliRunner

from models.settings import Settings, get_settings
from service.agreements.service import AgreementService
from service.cli import app as cli
from service.db.engine import Database


def _agreement(
    client: TestClient[Litestar], parties: Parties, *, accept: bool = True, **changes: Any
) -> str:
    created = client.post(
        "/v1/agreements", json=body(parties, **changes), headers=bearer(parties.keys["owner"])
    )
    assert created.status_code == 201, created.text
    agreement_id = str(created.json()["id"])
    for party in ("owner", "contractor") if accept else ():
        client.post(f"/v1/agreements/{agreement_id}/accept", headers=bearer(parties.keys[party]))
    return agreement_id


def _settle_due(database: Database, moment: dt.datetime) -> list[str]:
    with database.session() as session:
        issued = AgreementService(session, clock=lambda: moment).settle_due()
    return [info.agreement_id for info in issued]


def test_the_end_of_the_period_issues_the_statements_due_once(
    client: TestClient[Litestar], parties: Parties, database: Database
) -> None:
    closed = _agreement(client, parties)  # 2024-03 .. 2025-02
    running = _agreement(client, parties, first_month="2026-06", last_month="2027-05")
    unaccepted = _agreement(client, parties, accept=False, last_month="2025-03")
    assert _settle_due(database, dt.datetime(2026, 12, 5, tzinfo=dt.UTC)) == [closed]
    assert _settle_due(database, dt.datetime(2026, 12, 6, tzinfo=dt.UTC)) == []  # once
    # 23:30 on 31 May in Shanghai: May is not over; 00:30 on 1 June: it is
    assert _settle_due(database, dt.datetime(2027, 5, 31, 15, 30, tzinfo=dt.UTC)) == []
    assert _settle_due(database, dt.datetime(2027, 5, 31, 16, 30, tzinfo=dt.UTC)) == [running]
    owner = bearer(parties.keys["owner"])
    info = client.get(f"/v1/agreements/{running}", headers=owner).json()
    assert info["statement"] is not None
    replay = client.post(f"/v1/agreements/{running}/statement/replay", headers=owner).json()
    assert replay["same_bytes"] is True
    asked = client.post(f"/v1/agreements/{running}/statement", headers=owner).json()
    assert (asked["created"], asked["issued_by_key"]) == (False, None)
    assert client.get(f"/v1/agreements/{unaccepted}", headers=owner).json()["statement"] is None


def test_the_command_settles_what_is_due(
    client: TestClient[Litestar],
    parties: Parties,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed = _agreement(client, parties)
    monkeypatch.setenv("SITERISK_HOME", str(Path(settings.home)))
    monkeypatch.setenv("SITERISK_KEY_PEPPER", PEPPER)
    monkeypatch.setenv("SITERISK_ENV", "dev")
    for name in ("DATABASE_URL", "SITERISK_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(cli, ["agreements", "settle-due"])
        again = CliRunner().invoke(cli, ["agreements", "settle-due"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert first.stdout.split()[0] == closed
    assert "1 statement(s) issued" in first.stderr
    assert again.stdout == ""
