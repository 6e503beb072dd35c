"""Fixtures of the feed tests: a small model trained once (in memory, no MLflow), a
contract folder of a world the project never saw, keys of every feeding role, apps
serving a fresh database, and a real HTTP server for the command line to talk to."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from feed_helpers import Keys
from fixtures.alien_world import make_alien_world, write_alien_csv
from litestar import Litestar
from litestar.testing import TestClient

from models.bundle import ModelBundle
from models.contract import ContractData, load_folder, validate_frames
from models.settings import Settings
from service.app import create_app
from service.model_provider import StaticModelProvider
from training.fit import FitConfig
from training.pipeline import train_from_data
from training.synth import generate_world

FAST = FitConfig(max_rounds=200, early_stopping=30, threads=1)
ALIEN_SITES = 90


@pytest.fixture(scope="session")
def feed_bundle() -> ModelBundle:
    """A model trained on the project's own synthetic world (300 sites)."""
    world = generate_world(300, seed=8, months=36)
    data = validate_frames(world.sites, world.site_months, world.claims)
    return train_from_data(data, cfg=FAST).bundle


@pytest.fixture(scope="session")
def alien_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A contract folder exported as an outside platform would (CSV, extra columns,
    gaps, counts written as floats) from a world the model never saw."""
    world = make_alien_world(ALIEN_SITES, seed=2027)
    return write_alien_csv(world, tmp_path_factory.mktemp("alien") / "world")


@pytest.fixture(scope="session")
def alien_data(alien_folder: Path) -> ContractData:
    return load_folder(alien_folder)


@pytest.fixture
def keys(issue_key: Callable[..., object]) -> Keys:
    def key(role: str, **kwargs: object) -> str:
        return str(issue_key(role, **kwargs).key)  # type: ignore[attr-defined]

    return Keys(
        platform=key("platform"),
        insurer=key("insurer", insurer_id="INS-A"),
        other_insurer=key("insurer", insurer_id="INS-B"),
        admin=key("admin"),
        regulator=key("regulator", districts=["pudong"]),
        city_regulator=key("regulator", districts=["all"]),
        contractor=key("contractor", contractor_id="CN.0001-GC"),
    )


@pytest.fixture
def feed_app(settings: Settings, feed_bundle: ModelBundle) -> Litestar:
    return create_app(settings, model_provider=StaticModelProvider(feed_bundle, name="feed-test"))


@pytest.fixture
def client(feed_app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(feed_app) as test_client:
        yield test_client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(app: Litestar) -> Iterator[str]:
    """The app behind a real socket (uvicorn in a thread): the URL to push to."""
    config = uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
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


@pytest.fixture
def server(feed_app: Litestar) -> Iterator[str]:
    yield from _serve(feed_app)


@pytest.fixture
def bare_client(settings: Settings) -> Iterator[TestClient[Litestar]]:
    """The service without a model: the feed needs none."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def bare_server(settings: Settings) -> Iterator[str]:
    yield from _serve(create_app(settings))
