"""How many worker processes ``siterisk serve`` starts: ``--workers``, else
``SITERISK_WORKERS``, else one per CPU the process may run on (issue 21)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from models.settings import Settings, available_cpus, get_settings
from service.cli import app as cli

runner = CliRunner()


def _served_workers(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    get_settings.cache_clear()
    result = runner.invoke(cli, ["serve", *args])
    assert result.exit_code == 0, result.output
    (kwargs,) = calls
    return int(kwargs["workers"])


@pytest.fixture
def three_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process allowed on three CPUs of a bigger machine."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(os, "process_cpu_count", lambda: 3, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)


def test_the_cpus_counted_are_the_process_affinity_not_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "process_cpu_count", raising=False)  # Python before 3.13
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert available_cpus() == 2
    monkeypatch.setattr(os, "process_cpu_count", lambda: 5, raising=False)  # 3.13 and later
    assert available_cpus() == 5
    monkeypatch.setattr(os, "process_cpu_count", lambda: None, raising=False)  # unknown
    assert available_cpus() == 1


@pytest.mark.usefixtures("three_cpus")
def test_settings_default_to_one_worker_per_available_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SITERISK_WORKERS", raising=False)
    assert Settings().workers == 3
    monkeypatch.setenv("SITERISK_WORKERS", "1")
    assert Settings().workers == 1
    monkeypatch.setenv("SITERISK_WORKERS", "0")
    with pytest.raises(ValueError, match="workers"):
        Settings()
    assert "one per CPU" in (Settings.model_fields["workers"].description or "")


@pytest.mark.usefixtures("three_cpus")
def test_serve_runs_a_worker_per_cpu_unless_told(
    cli_stores: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SITERISK_WORKERS", raising=False)
    assert _served_workers(monkeypatch) == 3
    monkeypatch.setenv("SITERISK_WORKERS", "2")
    assert _served_workers(monkeypatch) == 2
    assert _served_workers(monkeypatch, "--workers", "1") == 1
