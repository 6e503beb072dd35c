"""A small model trained for real once per session, logged and registered in an MLflow
store of its own and promoted to champion; apps that serve it; keys to call them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from quote_helpers import ModelStore, PrivateRegistry
from svc_helpers import make_settings

from models.contract import validate_frames
from models.settings import Settings
from service.app import create_app
from service.model_provider import ModelSnapshot, RegistryModelProvider, StaticModelProvider
from training import tracking
from training.fit import FitConfig
from training.pipeline import train_from_data
from training.synth import World, generate_world

FAST = FitConfig(max_rounds=200, early_stopping=30, threads=1)


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """400 synthetic sites, 36 months; trained, logged, registered and champion."""
    home = tmp_path_factory.mktemp("mlflow-home")
    world = generate_world(400, seed=1, months=36)
    data = validate_frames(world.sites, world.site_months, world.claims)
    outcome = train_from_data(data, cfg=FAST)
    # The fixture is only useful if the plan lets the model move premiums.
    assert 0 < outcome.bundle.meta.rating["book_loss_ratio"] < 1e6
    settings = Settings(home=home, mlflow_tracking_uri=None, env="dev")
    with tempfile.TemporaryDirectory() as tmp:
        _, version = tracking.log_training_run(outcome, settings, Path(tmp), FAST, register=True)
    assert version is not None
    client = tracking.configure(settings)
    client.set_registered_model_alias(settings.registered_model_name, tracking.CHAMPION, version)
    return ModelStore(home, settings, version, outcome)


@pytest.fixture(scope="module")
def snapshot(model_store: ModelStore) -> ModelSnapshot:
    """The session's model as the service holds it, without a registry round trip."""
    found = StaticModelProvider(model_store.bundle, name="site-risk").current()
    assert found is not None
    return found


@pytest.fixture(scope="session")
def unseen_world() -> World:
    """Sites of a world the model never saw (another seed)."""
    return generate_world(120, seed=2024, months=36)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the apps of the session, so the champion downloads once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def quote_settings(settings: Settings, model_store: ModelStore, shared_cache: Path) -> Settings:
    """A fresh migrated database, the session's registry and model cache."""
    return make_settings(
        settings.home,
        mlflow_tracking_uri=model_store.settings.tracking_uri,
        model_cache_dir=shared_cache,
    )


@pytest.fixture
def client(quote_settings: Settings) -> Iterator[TestClient[object]]:
    app = create_app(quote_settings, model_provider=RegistryModelProvider(quote_settings))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def private_registry(
    request: pytest.FixtureRequest, settings: Settings, model_store: ModelStore, tmp_path: Path
) -> PrivateRegistry:
    name = f"site-risk-{request.node.name}"[:100].replace("[", "-").replace("]", "")
    store = model_store.settings.model_copy(update={"registered_model_name": name})
    service = make_settings(
        settings.home,
        mlflow_tracking_uri=model_store.settings.tracking_uri,
        registered_model_name=name,
        model_cache_dir=tmp_path / "model-cache",
    )
    return PrivateRegistry(service, store)
