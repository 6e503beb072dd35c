"""Zero-downtime model updates: a replica polls the registry for a new champion, asks
one cheap question while nothing moved, and swaps while requests keep being answered."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
from svc_helpers import bearer

from models.settings import Settings
from service.app import create_app
from service.auth.store import IssuedKey
from service.model_provider import ModelRejectedError, RegistryModelProvider
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")


class _CallLog:
    """Wraps the provider's MLflow client factory and records every registry call."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self.calls: list[str] = []

    def __call__(self) -> Any:
        client = self.factory()
        calls = self.calls

        class Spy:
            def __getattr__(self, name: str) -> Any:
                calls.append(name)
                return getattr(client, name)

        return Spy()


def test_a_poll_asks_one_question_and_loads_only_a_new_version(
    model_store: ModelStore,
    private_registry: PrivateRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = private_registry.register(model_store.bundle)
    provider = RegistryModelProvider(private_registry.settings)
    anyio.run(provider.start)
    assert not provider.polling  # poll interval 0: only at start and on reload
    registry = _CallLog(provider._client)
    monkeypatch.setattr(provider, "_client", registry)
    loads: list[str] = []
    real_load = provider._load

    def counted_load(resolved: Any) -> Any:
        loads.append(resolved.version)
        return real_load(resolved)

    monkeypatch.setattr(provider, "_load", counted_load)

    for _ in range(3):
        assert anyio.run(provider.poll_once) is None
    assert registry.calls == ["get_model_version_by_alias"] * 3
    assert loads == []

    second = private_registry.register(shifted(model_store.bundle, 0.2))
    outcome = anyio.run(provider.poll_once)
    assert outcome is not None
    assert outcome.status == "swapped"
    assert (outcome.previous and outcome.previous.version, outcome.current.version) == (
        first,
        second,
    )
    assert loads == [second]

    # A version that fails its smoke test is tried once, then left alone by the poller.
    third = private_registry.register(broken(model_store.bundle))
    with pytest.raises(ModelRejectedError, match="not finite"):
        anyio.run(provider.poll_once)
    registry.calls.clear()
    assert anyio.run(provider.poll_once) is None
    assert registry.calls == ["get_model_version_by_alias"]
    assert loads == [second, third]
    snapshot = provider.current()
    assert snapshot is not None
    assert snapshot.version == second


def test_requests_keep_succeeding_while_the_poller_swaps_the_model(
    model_store: ModelStore,
    private_registry: PrivateRegistry,
    issue_key: Any,
    unseen_world: World,
) -> None:
    first = private_registry.register(model_store.bundle)
    service: Settings = private_registry.settings.model_copy(update={"model_poll_seconds": 0.2})
    provider = RegistryModelProvider(service)
    app = create_app(service, model_provider=provider)
    insurer: IssuedKey = issue_key("insurer", insurer_id="I1")
    sites = sites_with_history(unseen_world, "2025-07")[:3]
    bodies = [request_for(unseen_world, site, "2025-07") for site in sites]
    seen: list[list[str]] = [[] for _ in bodies]
    statuses: list[int] = []
    second: list[str] = []
    deadline = time.monotonic() + 180

    def keep_pricing(client: TestClient[Any], worker: int) -> None:
        # Until this worker has been priced by the new version twice in a row.
        while not second or seen[worker][-2:] != [second[0]] * 2:
            assert time.monotonic() < deadline, "the new version never priced"
            response = client.post("/v1/quotes", json=bodies[worker], headers=bearer(insurer.key))
            statuses.append(response.status_code)
            assert response.status_code == 201, response.text
            seen[worker].append(response.json()["model"]["version"])

    # The test client's requests run concurrently on the app's event loop, as a real
    # server's would; the poller runs there too.
    with TestClient(app) as client, ThreadPoolExecutor(len(bodies)) as pool:
        polling_while_up = provider.polling
        workers = [pool.submit(keep_pricing, client, i) for i in range(len(bodies))]
        while not all(seen) and not any(w.done() for w in workers):
            time.sleep(0.05)  # every worker priced by the first version before the promotion
        second.append(private_registry.register(shifted(model_store.bundle, 0.3)))
        for worker in workers:
            worker.result()

    assert polling_while_up
    assert not provider.polling  # the app's shutdown stopped the poller
    assert len(statuses) > len(seen)
    assert set(statuses) == {201}
    for versions in seen:
        # Each worker saw the first version, then only the second: no mixing, no going back.
        switch = versions.index(second[0])
        assert switch > 0
        assert set(versions[:switch]) == {first}
        assert set(versions[switch:]) == {second[0]}
