"""The audit trail: a stored quote keeps what produced it, and ``siterisk quotes replay``
re-prices it with the recorded model version and rule versions to the cent, after
another model has become champion, and from the local model cache when the registry
is gone; a quote that does not reproduce is reported field by field."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from quote_helpers import ModelStore, PrivateRegistry, request_for, sites_with_history
from svc_helpers import PEPPER, bearer
from typer.testing import CliRunner

from models.bundle import ModelBundle
from models.settings import Settings, get_settings
from service.app import create_app
from service.auth.store import IssuedKey
from service.cli import app as cli
from service.db.engine import Database
from service.db.tables import Quote
from service.model_provider import RegistryModelProvider, StaticModelProvider
from service.quotes.intake import read_item
from service.quotes.pricing_service import PricedQuote, QuotePricer
from service.quotes.replay import CACHE_WARNING, compare, replay_quote
from service.quotes.stored import stored_answer
from service.quotes.texts import render
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"
runner = CliRunner()


def steeper(bundle: ModelBundle, by: float) -> ModelBundle:
    """Another valid model: every tree's say in the log rate scaled by ``by``, so
    relativities (and premiums) differ from the original's."""
    terms = tuple((name, slope * by) for name, slope in bundle.meta.loss_terms)
    return ModelBundle(bundle.boosters, dataclasses.replace(bundle.meta, loss_terms=terms))


@pytest.fixture
def cli_settings(
    private_registry: PrivateRegistry, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The environment ``siterisk`` reads, pointing at the service's database, registry
    and model cache."""
    service = private_registry.settings
    env = {
        "SITERISK_HOME": str(service.home),
        "DATABASE_URL": service.db_url,
        "MLFLOW_TRACKING_URI": service.tracking_uri,
        "SITERISK_REGISTERED_MODEL_NAME": service.registered_model_name,
        "SITERISK_MODEL_CACHE_DIR": str(service.model_cache),
        "SITERISK_KEY_PEPPER": PEPPER,
        "SITERISK_ENV": "dev",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SITERISK_MODEL_URI", raising=False)
    get_settings.cache_clear()
    yield service
    get_settings.cache_clear()


def _replay(*args: str) -> Any:
    return runner.invoke(cli, ["quotes", "replay", *args])


def _stored(settings: Settings, quote_id: str) -> Quote:
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            row = session.get(Quote, quote_id)
    finally:
        database.dispose()
    assert row is not None
    return row


def test_a_stored_quote_replays_to_the_cent_after_a_new_champion(
    model_store: ModelStore, private_registry: PrivateRegistry, cli_settings: Settings,
    issue_key: Callable[..., IssuedKey], unseen_world: World,
) -> None:  # fmt: skip
    first = private_registry.register(model_store.bundle)
    insurer = issue_key("insurer", insurer_id="INS-A").key
    admin = issue_key("admin").key
    sites = sites_with_history(unseen_world, START)
    body = request_for(unseen_world, sites[0], START)
    own_base = request_for(unseen_world, sites[1], START)
    own_base["policy"]["base_premium_cny"] = 123_456.78
    app = create_app(cli_settings, model_provider=RegistryModelProvider(cli_settings))
    with TestClient(app) as client:
        quote = client.post("/v1/quotes", json=body, headers=bearer(insurer)).json()
        batch = client.post(
            "/v1/quotes/batch", json={"items": [own_base]}, headers=bearer(insurer)
        ).json()
        second = private_registry.register(steeper(model_store.bundle, 1.6))
        reload = client.post("/v1/admin/model/reload", headers=bearer(admin))
        assert reload.json()["current"]["version"] == second
        now = client.post("/v1/quotes", json=body, headers=bearer(insurer)).json()
    # The champion now rates this site differently (its premium may sit at the band's
    # edge under both): a replay with it would not match.
    assert now["pricing"]["risk_factor"] != quote["pricing"]["risk_factor"]

    # What the audit trail holds.
    row = _stored(cli_settings, quote["quote_id"])
    assert row.model_uri == f"models:/{cli_settings.registered_model_name}/{first}"
    assert (row.model_version, row.band_version) == (first, quote["pricing"]["band"]["version"])
    assert row.tariff_version == quote["pricing"]["tariff_version"]
    assert row.incentive_version == quote["incentives"]["rule_set_version"]
    # stored as language-neutral facts, which read back as exactly what was answered
    assert row.response["language"] is None
    assert row.response["explanation"]["note"] is None
    assert quote["language"] == "zh"
    assert msgspec.to_builtins(render(stored_answer(row.response), "zh")) == quote
    assert quote["service_version"] == version("site-risk-pricing")  # the release that priced it
    assert row.request["site"]["site_id"] == sites[0]
    assert len(row.input_hash) == len(row.request_hash) == 64
    assert row.api_key_id is not None
    assert row.insurer_id == "INS-A"

    result = _replay(quote["quote_id"])
    assert result.exit_code == 0, result.output
    assert f"/{first} (registry)" in result.stdout
    release = version("site-risk-pricing")
    assert f"priced by release {release}, replayed by release {release}" in result.stdout
    assert result.stdout.strip().endswith("MATCH")
    report = json.loads(_replay(quote["quote_id"], "--json").stdout)
    assert report["matched"] is True
    assert report["replayed_final_premium_cny"] == quote["pricing"]["final_premium_cny"]
    assert report["stored_service_version"] == report["replay_service_version"] == release
    batch_id = batch["items"][0]["quote"]["quote_id"]
    assert _replay(batch_id).exit_code == 0  # the insurer's own base premium, no tariff

    # Asked to use the champion instead, the replay reports the differences and fails.
    champion = f"models:/{cli_settings.registered_model_name}@champion"
    other = _replay(quote["quote_id"], "--model-uri", champion, "--json")
    assert other.exit_code == 1
    paths = {d["path"] for d in json.loads(other.stdout)["differences"]}
    assert {"pricing.risk_factor", "model.version"} <= paths


def test_replay_works_from_the_model_cache_when_the_registry_is_gone(
    model_store: ModelStore, private_registry: PrivateRegistry, cli_settings: Settings,
    issue_key: Callable[..., IssuedKey], unseen_world: World,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    private_registry.register(model_store.bundle)
    insurer = issue_key("insurer", insurer_id="INS-A").key
    body = request_for(unseen_world, sites_with_history(unseen_world, START)[2], START)
    app = create_app(cli_settings, model_provider=RegistryModelProvider(cli_settings))
    with TestClient(app) as client:
        quote_id = client.post("/v1/quotes", json=body, headers=bearer(insurer)).json()["quote_id"]
    online = _replay(quote_id)  # from the registry; the version is now cached
    assert online.exit_code == 0, online.output
    database = f"store: database {cli_settings.db_url}"
    assert f"{database}; mlflow {cli_settings.tracking_uri}\n" in online.stderr
    gone = tmp_path / "empty-registry.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{gone}")
    get_settings.cache_clear()
    offline = _replay(quote_id, "--json")
    assert offline.exit_code == 0, offline.output
    assert json.loads(offline.stdout)["model_source"] == "cache"
    # a missing registry is said, and never made
    assert f"note: no MLflow store at {gone}: " in offline.stderr
    assert f"{database}; model cache {cli_settings.model_cache}\n" in offline.stderr
    assert not gone.exists()


def _one_quote(
    settings: Settings, issue_key: Callable[..., IssuedKey], world: World, site: int
) -> str:
    insurer = issue_key("insurer", insurer_id="INS-A").key
    body = request_for(world, sites_with_history(world, START)[site], START)
    app = create_app(settings, model_provider=RegistryModelProvider(settings))
    with TestClient(app) as client:
        quote = client.post("/v1/quotes", json=body, headers=bearer(insurer)).json()
    return str(quote["quote_id"])


def _error_line(result: Any) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_model_version_the_registry_does_not_hold_is_named_as_missing(
    model_store: ModelStore, private_registry: PrivateRegistry, cli_settings: Settings,
    issue_key: Callable[..., IssuedKey], unseen_world: World,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    from mlflow.tracking import MlflowClient

    version = private_registry.register(model_store.bundle)
    quote_id = _one_quote(cli_settings, issue_key, unseen_world, 4)
    name, registry = cli_settings.registered_model_name, cli_settings.tracking_uri
    # No local copy to fall back on.
    monkeypatch.setenv("SITERISK_MODEL_CACHE_DIR", str(tmp_path / "no-cache"))
    get_settings.cache_clear()

    asked = _error_line(_replay(quote_id, "--model-uri", f"models:/{name}/99"))
    assert asked.startswith(
        f"error: version 99 of {name} does not exist in the registry {registry} "
        f"(it holds versions {version}), and the local model cache"
    )
    assert "unreachable" not in asked
    alias = _error_line(_replay(quote_id, "--model-uri", f"models:/{name}@retired"))
    assert f"alias 'retired' of {name} does not exist in the registry {registry}" in alias

    # The quote's own version, deleted from the registry since.
    MlflowClient(tracking_uri=registry, registry_uri=registry).delete_model_version(name, version)
    recorded = _error_line(_replay(quote_id))
    assert recorded.startswith(
        f"error: version {version} of {name} does not exist in the registry {registry}"
    )


def test_a_registry_that_does_not_answer_is_not_a_missing_version(
    model_store: ModelStore, private_registry: PrivateRegistry, cli_settings: Settings,
    issue_key: Callable[..., IssuedKey], unseen_world: World,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    import socket

    private_registry.register(model_store.bundle)
    quote_id = _one_quote(cli_settings, issue_key, unseen_world, 5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", closed)
    monkeypatch.setenv("SITERISK_MODEL_CACHE_DIR", str(tmp_path / "no-cache"))
    get_settings.cache_clear()
    result = _replay(quote_id)
    line = _error_line(result)
    assert line.startswith(f"error: the MLflow server {closed} does not answer (")
    assert "and the local model cache" in line
    assert "does not exist" not in line
    assert f"note: the MLflow server {closed} does not answer" in result.stderr


def test_a_quote_that_does_not_reproduce_is_reported(
    model_store: ModelStore, private_registry: PrivateRegistry, cli_settings: Settings,
    issue_key: Callable[..., IssuedKey], unseen_world: World,
) -> None:  # fmt: skip
    private_registry.register(model_store.bundle)
    insurer = issue_key("insurer", insurer_id="INS-A").key
    body = request_for(unseen_world, sites_with_history(unseen_world, START)[3], START)
    app = create_app(cli_settings, model_provider=RegistryModelProvider(cli_settings))
    with TestClient(app) as client:
        quote = client.post("/v1/quotes", json=body, headers=bearer(insurer)).json()
    # Stored quotes cannot be changed, so a tampered copy is stored as another quote.
    row = _stored(cli_settings, quote["quote_id"])
    forged = json.loads(json.dumps(row.response))
    forged["pricing"]["final_premium_cny"] += 0.01
    database = Database(cli_settings.db_url)
    with database.session() as session:
        copy = Quote(**{**row.model_dump(), "id": "forged-quote", "response": forged})
        session.add(copy)
        session.commit()
    database.dispose()
    result = _replay("forged-quote")
    assert result.exit_code == 1
    assert "differs  pricing.final_premium_cny" in result.stdout
    assert "MISMATCH in 1 fields" in result.stdout
    missing = _replay("no-such-quote")
    assert missing.exit_code == 2
    assert "no stored quote" in missing.stderr
    # a unique prefix of the id is enough (the README shows ids cut short: 3f1c…)
    by_prefix = _replay("forged-q…")
    assert by_prefix.exit_code == 1
    assert "quote forged-quote:" in by_prefix.stdout
    with database.session() as session:
        session.add(Quote(**{**row.model_dump(), "id": "forged-quote-2", "response": forged}))
        session.commit()
    database.dispose()
    ambiguous = _replay("forged-q")
    assert ambiguous.exit_code == 2
    assert "forged-quote, forged-quote-2" in ambiguous.stderr
    assert "no stored quote" in _replay("zz").stderr


def test_replay_of_a_quote_row_with_any_snapshot(
    model_store: ModelStore, unseen_world: World
) -> None:
    """``replay_quote`` itself: the answer the pricer gave, stored as the store stores it,
    replays exactly; a steeper model does not."""
    snapshot = StaticModelProvider(model_store.bundle).current()
    assert snapshot is not None
    body = request_for(unseen_world, sites_with_history(unseen_world, START)[4], START)
    (priced,) = QuotePricer().price([read_item(body)], snapshot)
    assert isinstance(priced, PricedQuote)
    row = Quote(
        id=priced.response.quote_id,
        created_at=priced.response.created_at,
        api_key_id=1,
        insurer_id="I",
        site_id=body["site"]["site_id"],
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
    assert replay_quote(row, snapshot).matched
    # Another release that prices alike still matches, and says which release priced it;
    # a quote stored before releases were recorded replays as well.
    for recorded in ("0.0.1", None):
        answer = {k: v for k, v in row.response.items() if k != "service_version"}
        if recorded is not None:
            answer["service_version"] = recorded
        report = replay_quote(row.model_copy(update={"response": answer}), snapshot)
        assert report.matched, report.differences
        assert report.stored_service_version == recorded
        assert report.added == []
    other = StaticModelProvider(steeper(model_store.bundle, 1.6)).current()
    assert other is not None
    assert not replay_quote(row, other).matched
    assert report.stored_plan_version == report.replay_plan_version == "2026.1"
    # A quote priced before the layered plan (credibility, no plan version, no layers)
    # is replayed with the current plan, and the report names both versions.
    legacy = json.loads(json.dumps(row.response))
    for key in ("plan_version", "layers", "risk_factor", "book_loss_ratio",
                "exposure_intensity", "off_balance_factor"):  # fmt: skip
        del legacy["pricing"][key]
    legacy["pricing"]["credibility"] = 0.024
    old = replay_quote(row.model_copy(update={"response": legacy}), snapshot)
    assert (old.stored_plan_version, old.replay_plan_version) == ("pre-2026.1", "2026.1")
    assert not old.matched
    assert "pricing.credibility" in [d.path for d in old.differences]


def test_compare_rules() -> None:
    stored = {
        "quote_id": "a",
        "created_at": "2025-01-01T00:00:00Z",
        "model": {"source": "registry", "version": "3"},
        "pricing": {"final_premium_cny": 1234.56, "relativity": 1.0},
        "warnings": ["w1"],
        "inputs": {"site_version": 3},  # provenance of a by-reference quote
    }
    same = {
        "quote_id": "b",
        "created_at": "2030-01-01T00:00:00Z",
        "model": {"source": "cache", "version": "3"},
        "pricing": {"final_premium_cny": 1234.56 + 1e-9, "relativity": 1.0 + 1e-12},
        "warnings": ["w1", f"{CACHE_WARNING} site-risk v3: unreachable"],
        "new_in_this_release": 1.0,
    }
    differences, added = compare(stored, same)
    assert differences == []
    assert added == ["new_in_this_release"]
    off = {**same, "pricing": {"final_premium_cny": 1234.57, "relativity": 1.001}}
    off["warnings"] = ["w2"]
    off.pop("model")
    differences, _ = compare(stored, off)
    assert {d.path for d in differences} == {
        "model", "pricing.final_premium_cny", "pricing.relativity", "warnings[0]",
    }  # fmt: skip
