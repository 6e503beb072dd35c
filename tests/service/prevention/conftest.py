"""A small model trained once per session (in memory, served as version 7), an unseen
world to price, and an app per module over a copy of the migrated SQLite database with
keys for two insurers, a contractor, a regulator and an admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prevention_helpers import issue_keys, portal_free_settings

from models.bundle import ModelBundle
from models.contract import validate_frames
from models.settings import Settings
from service.app import create_app
from service.model_provider import StaticModelProvider
from training.fit import FitConfig
from training.pipeline import train_from_data
from training.synth import World, generate_world


@pytest.fixture(scope="session")
def prevention_bundle() -> ModelBundle:
    world = generate_world(400, seed=1, months=36)
    data = validate_frames(world.sites, world.site_months, world.claims)
    outcome = train_from_data(data, cfg=FitConfig(max_rounds=200, early_stopping=30, threads=1))
    return outcome.bundle


@pytest.fixture(scope="session")
def prevention_world() -> World:
    return generate_world(160, seed=2024, months=36)


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory, migrated_db: Path) -> Settings:
    return portal_free_settings(tmp_path_factory.mktemp("prevention-home"), migrated_db)


@pytest.fixture(scope="module")
def app_client(
    module_settings: Settings, prevention_bundle: ModelBundle
) -> Iterator[TestClient[Litestar]]:
    provider = StaticModelProvider(prevention_bundle, name="site-risk", version="7")
    with TestClient(create_app(module_settings, model_provider=provider)) as client:
        yield client


@pytest.fixture(scope="module")
def keys(module_settings: Settings, prevention_world: World) -> dict[str, str]:
    return issue_keys(module_settings, prevention_world)
