"""The ASGI factory a server's worker processes call."""

from __future__ import annotations

import ctypes
import gc
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

from models.settings import Settings
from service import asgi
from service.app import create_app
from service.db import migrate

PROBE = """
import gc, sys
from service.asgi import app
from litestar.testing import TestClient
with TestClient(app()) as client:
    assert client.get("/health/live").status_code == 200
    frozen = gc.get_freeze_count()
import lightgbm
sklearn = sys.modules.get("sklearn", "absent")
print(frozen, sklearn, lightgbm.Booster.__name__, "scipy" in sys.modules)
"""


def test_a_fresh_worker_serves_without_scikit_learn_and_freezes_its_start_up(
    cli_env: Path,
) -> None:
    """A worker process starts with nothing imported; LightGBM is loaded without
    scikit-learn (which serving never uses) and the app answers."""
    from models.settings import get_settings

    migrate.upgrade(get_settings().db_url)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    frozen, *imports = done.stdout.split()[-4:]
    assert imports == ["None", "Booster", "True"]
    # what start-up made is out of the collector's sight (create_app's freeze_after_start)
    assert int(frozen) > 100_000


def test_a_process_that_already_has_lightgbm_keeps_scikit_learn(cli_env: Path) -> None:
    import lightgbm  # noqa: F401 - as in a process that trained or tested before serving

    from service.asgi import app

    app()
    assert sys.modules.get("sklearn") is not None


class _Libc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 1


def test_a_worker_limits_its_malloc_arenas_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    libc = _Libc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    asgi._few_malloc_arenas()
    assert libc.calls == [(-8, asgi.ARENAS)]  # glibc's M_ARENA_MAX
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # glibc reads it itself at start
    asgi._few_malloc_arenas()
    assert libc.calls == [(-8, asgi.ARENAS)]


def test_glibc_accepts_the_arena_limit() -> None:
    """Against the real library: mallopt accepts the parameter (it returns 1)."""
    libc = ctypes.CDLL("libc.so.6")
    assert libc.mallopt(-8, asgi.ARENAS) == 1


def test_an_app_freezes_its_start_up_only_when_asked(settings: Settings) -> None:
    gc.unfreeze()
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/health/live").status_code == 200
            assert gc.get_freeze_count() == 0  # tests make many apps: nothing frozen
        with TestClient(create_app(settings, freeze_after_start=True)) as client:
            assert client.get("/health/live").status_code == 200
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
