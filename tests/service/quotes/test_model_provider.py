"""The registry model provider: the champion at start, the on-disk cache when the
registry is gone, reloads that swap only a model that passed its smoke test."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar.testing import TestClient
from quote_helpers import (
    ModelStore,
    PrivateRegistry,
    broken,
    request_for,
    shifted,
    sites_with_history,
)
from svc_helpers import bearer, make_settings

from models.settings import Settings
from service.app import create_app
from service.auth.store import IssuedKey
from service.model_provider import (
    ModelRejectedError,
    RegistryError,
    RegistryModelProvider,
    StaticModelProvider,
)
from service.model_smoke import smoke_test
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")


@pytest.fixture
def dead_registry(monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of an MLflow server that is not there (connections are refused)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a server that accepts connections and never answers."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[None]:
    """MLflow's process-wide URIs pointing at another, empty store: the provider must
    find its model through its own settings alone."""
    import mlflow

    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    empty = (tmp_path / "elsewhere").as_uri()
    mlflow.set_tracking_uri(empty)
    mlflow.set_registry_uri(empty)
    yield
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def _started(settings: Settings) -> RegistryModelProvider:
    provider = RegistryModelProvider(settings, start_timeout=60)
    anyio.run(provider.start)
    return provider


def _quote(client: TestClient[Any], key: str, world: World) -> dict[str, Any]:
    site = sites_with_history(world, "2025-07")[3]
    body = request_for(world, site, "2025-07")
    response = client.post("/v1/quotes", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_smoke_test_passes_the_trained_model_and_refuses_a_broken_one(
    model_store: ModelStore,
) -> None:
    smoke_test(model_store.bundle)
    with pytest.raises(ModelRejectedError, match="not finite"):
        smoke_test(broken(model_store.bundle))
    with pytest.raises(ModelRejectedError):
        StaticModelProvider(broken(model_store.bundle))


def test_start_serves_the_champion_and_caches_it(model_store: ModelStore, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        mlflow_tracking_uri=model_store.settings.tracking_uri,
        model_cache_dir=tmp_path / "cache",
    )
    provider = _started(settings)
    ok, detail = provider.ready()
    assert ok
    assert "from the registry" in detail
    snapshot = provider.current()
    assert snapshot is not None
    assert (snapshot.name, snapshot.version) == ("site-risk", model_store.version)
    assert snapshot.uri == f"models:/site-risk/{model_store.version}"
    assert snapshot.source == "registry"
    card = provider.card()
    assert card["version"] == model_store.version
    assert card["served_from_cache"] is False
    assert card["metrics"] == model_store.bundle.meta.metrics
    assert card["data"]["sites"] == 400
    assert list((tmp_path / "cache" / "pointers").glob("*.json"))
    assert (tmp_path / "cache" / "models" / "site-risk" / model_store.version).is_dir()


def test_unreachable_registry_at_start_serves_the_cached_model_and_says_so(
    model_store: ModelStore,
    tmp_path: Path,
    settings: Settings,
    issue_key: Any,
    unseen_world: World,
    dead_registry: str,
) -> None:
    cache = tmp_path / "cache"
    reachable = make_settings(
        tmp_path, mlflow_tracking_uri=model_store.settings.tracking_uri, model_cache_dir=cache
    )
    _started(reachable)  # fills the cache
    offline = make_settings(tmp_path, mlflow_tracking_uri=dead_registry, model_cache_dir=cache)
    app = create_app(offline, model_provider=RegistryModelProvider(offline))
    admin: IssuedKey = issue_key("admin")
    insurer: IssuedKey = issue_key("insurer", insurer_id="I1")
    with TestClient(app) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        detail = ready.json()["checks"]["model"]["detail"]
        assert "local cache" in detail
        assert "unreachable" in detail
        card = client.get("/v1/model", headers=bearer(insurer.key)).json()
        assert card["served_from_cache"] is True
        assert card["source"] == "cache"
        assert card["version"] == model_store.version
        assert "unreachable" in card["note"]
        quote = _quote(client, insurer.key, unseen_world)
        assert quote["model"]["source"] == "cache"
        assert any("cached model" in w for w in quote["warnings"])
        # The registry is still gone: a reload says so and the cached model keeps serving.
        reload = client.post("/v1/admin/model/reload", headers=bearer(admin.key))
        assert reload.status_code == 503
        assert client.get("/v1/model", headers=bearer(admin.key)).json()["source"] == "cache"


def test_a_registry_that_does_not_answer_is_given_up_on_at_start(
    model_store: ModelStore, tmp_path: Path, silent_registry: str
) -> None:
    cache = tmp_path / "cache"
    _started(
        make_settings(
            tmp_path, mlflow_tracking_uri=model_store.settings.tracking_uri, model_cache_dir=cache
        )
    )
    hanging = make_settings(tmp_path, mlflow_tracking_uri=silent_registry, model_cache_dir=cache)
    provider = RegistryModelProvider(hanging, start_timeout=1.0)
    started = time.monotonic()
    anyio.run(provider.start)
    assert time.monotonic() - started < 10
    ok, detail = provider.ready()
    assert ok
    assert "did not answer" in detail
    assert provider.card()["version"] == model_store.version


def test_no_registry_and_no_cache_is_not_ready_and_does_not_price(
    tmp_path: Path, settings: Settings, issue_key: Any, unseen_world: World, dead_registry: str
) -> None:
    offline = make_settings(
        tmp_path, mlflow_tracking_uri=dead_registry, model_cache_dir=tmp_path / "c"
    )
    insurer: IssuedKey = issue_key("insurer", insurer_id="I1")
    app = create_app(offline, model_provider=RegistryModelProvider(offline))
    with TestClient(app) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert "no cached model" in ready.json()["checks"]["model"]["detail"]
        site = sites_with_history(unseen_world, "2025-07")[0]
        body = request_for(unseen_world, site, "2025-07")
        response = client.post("/v1/quotes", json=body, headers=bearer(insurer.key))
        assert response.status_code == 503
        assert client.get("/v1/model", headers=bearer(insurer.key)).status_code == 503
        assert client.get("/v1/quotes", headers=bearer(insurer.key)).json()["total"] == 0


def test_reload_swaps_to_a_newly_promoted_version_and_refuses_a_broken_one(
    model_store: ModelStore,
    private_registry: PrivateRegistry,
    settings: Settings,
    issue_key: Any,
    unseen_world: World,
) -> None:
    first = private_registry.register(model_store.bundle)
    service = private_registry.settings
    admin: IssuedKey = issue_key("admin")
    insurer: IssuedKey = issue_key("insurer", insurer_id="I1")
    app = create_app(service, model_provider=RegistryModelProvider(service))
    with TestClient(app) as client:
        before = _quote(client, insurer.key, unseen_world)
        assert before["model"]["version"] == first

        # Nothing promoted yet: nothing changes.
        same = client.post("/v1/admin/model/reload", headers=bearer(admin.key))
        assert same.status_code == 200
        assert same.json()["status"] == "unchanged"
        # Only admins reload.
        denied = client.post("/v1/admin/model/reload", headers=bearer(insurer.key))
        assert denied.status_code == 403

        second = private_registry.register(shifted(model_store.bundle, 0.5))
        swapped = client.post("/v1/admin/model/reload", headers=bearer(admin.key))
        assert swapped.status_code == 200, swapped.text
        answer = swapped.json()
        assert answer["status"] == "swapped"
        assert answer["previous"]["version"] == first
        assert answer["current"]["version"] == second
        assert client.get("/v1/model", headers=bearer(admin.key)).json()["version"] == second
        after = _quote(client, insurer.key, unseen_world)
        assert after["model"]["version"] == second
        # The new version rates every site e^0.5 times the old; relativities (against
        # the model's own baseline) stay: proof the new version priced this quote.
        rate = "loss_rate_per_10k_worker_hours"
        assert after["risk"][rate] / before["risk"][rate] == pytest.approx(math.exp(0.5), rel=1e-9)
        assert after["pricing"]["relativity"] == pytest.approx(
            before["pricing"]["relativity"], rel=1e-9
        )

        third = private_registry.register(broken(model_store.bundle))
        refused = client.post("/v1/admin/model/reload", headers=bearer(admin.key))
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "model_refused"
        assert "keeps serving" in refused.json()["error"]["message"]
        card = client.get("/v1/model", headers=bearer(admin.key)).json()
        assert card["version"] == second
        assert _quote(client, insurer.key, unseen_world)["model"]["version"] == second
        assert client.get("/health/ready").status_code == 200
        assert third not in {first, second}


def test_polling_follows_the_alias_but_never_swaps_in_a_broken_model(
    model_store: ModelStore, private_registry: PrivateRegistry, settings: Settings
) -> None:
    first = private_registry.register(model_store.bundle)
    service = private_registry.settings.model_copy(update={"model_poll_seconds": 0.2})
    provider = RegistryModelProvider(service)

    def version() -> str | None:
        snapshot = provider.current()
        return None if snapshot is None else snapshot.version

    async def scenario() -> tuple[list[str | None], str]:
        await provider.start()
        try:
            seen = [version()]
            await anyio.to_thread.run_sync(private_registry.register, broken(model_store.bundle))
            await anyio.sleep(1.5)  # several polls
            seen.append(version())
            good = shifted(model_store.bundle, 0.1)
            second = await anyio.to_thread.run_sync(private_registry.register, good)
            with anyio.fail_after(30):
                while version() != second:
                    await anyio.sleep(0.1)
            seen.append(version())
            return seen, second
        finally:
            await provider.stop()

    seen, second = anyio.run(scenario)
    assert seen == [first, first, second]


def test_registry_errors_name_the_model(tmp_path: Path, model_store: ModelStore) -> None:
    missing = make_settings(
        tmp_path,
        mlflow_tracking_uri=model_store.settings.tracking_uri,
        model_uri="models:/no-such-model@champion",
        model_cache_dir=tmp_path / "c",
    )
    provider = RegistryModelProvider(missing)
    with pytest.raises(RegistryError, match="no-such-model"):
        anyio.run(provider.reload)
    assert provider.current() is None
