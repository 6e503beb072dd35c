"""A small model trained once per session (in memory, no registry), an unseen world
to price, an app serving the portal over a copy of the migrated SQLite database
(``migrated_db`` of tests/service/conftest.py), and the headless browser.

The browser is Debian's chromium driven by Playwright. Without it the browser tests
skip, except under CI (``CI=true``) or make (``SITERISK_REQUIRE_BROWSER=1``), where
they fail, as the PostgreSQL tests do."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from portal_helpers import Scenario, build_scenario, portal_app, portal_settings

from models.bundle import ModelBundle
from models.contract import validate_frames
from models.settings import Settings
from training.fit import FitConfig
from training.pipeline import train_from_data
from training.synth import World, generate_world

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def portal_bundle() -> ModelBundle:
    world = generate_world(400, seed=1, months=36)
    data = validate_frames(world.sites, world.site_months, world.claims)
    outcome = train_from_data(data, cfg=FitConfig(max_rounds=200, early_stopping=30, threads=1))
    # Premiums only move if the rating plan was calibrated on a book.
    assert 0 < outcome.bundle.meta.rating["book_loss_ratio"] < 1e6
    return outcome.bundle


@pytest.fixture(scope="session")
def portal_world() -> World:
    return generate_world(120, seed=2024, months=36)


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory, migrated_db: Path) -> Settings:
    return portal_settings(tmp_path_factory.mktemp("portal-home"), migrated_db)


@pytest.fixture(scope="module")
def portal_client(
    module_settings: Settings, portal_bundle: ModelBundle
) -> Iterator[TestClient[Litestar]]:
    with TestClient(portal_app(module_settings, portal_bundle)) as client:
        yield client


@pytest.fixture(scope="module")
def scenario(
    portal_client: TestClient[Litestar], module_settings: Settings, portal_world: World
) -> Scenario:
    return build_scenario(portal_client, module_settings, portal_world)


# --- the browser -----------------------------------------------------------------------

BROWSER_VARIABLE = "SITERISK_CHROMIUM"


def _browser_required() -> bool:
    """Under CI or make a missing browser fails the tests: skipping would hide that the
    portal was never seen in a browser."""
    return (
        os.environ.get("CI", "").strip().lower() == "true"
        or os.environ.get("SITERISK_REQUIRE_BROWSER", "").strip() == "1"
    )


def _missing(reason: str) -> None:
    how = (
        "run 'make browser' (apt-get install chromium fonts-noto-cjk) and 'pip install playwright'"
    )
    if _browser_required():
        pytest.fail(f"{reason} but the browser tests are required: {how}", pytrace=False)
    pytest.skip(f"{reason}: {how}")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = (
        os.environ.get(BROWSER_VARIABLE, "").strip()
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not path or not Path(path).exists():
        _missing("no chromium found")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed")
    return str(path)


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded build)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_executable,
            headless=True,
            # Root in a container has no user namespaces for the sandbox.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go: var/test-artifacts/portal (ignored by git)."""
    root = os.environ.get("SITERISK_TEST_ARTIFACTS", "").strip()
    base = Path(root) if root else Path(__file__).resolve().parents[3] / "var" / "test-artifacts"
    folder = base / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
