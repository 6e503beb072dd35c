"""The training commands and their MLflow store: each says which it uses; only ``train``
makes one; the others refuse a missing store, or a server that does not answer, in one
line, and make nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.settings import get_settings
from training.cli import app

runner = CliRunner()


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home with nothing in it, and the command run from another empty folder."""
    monkeypatch.setenv("SITERISK_HOME", str(tmp_path / "home"))
    for name in ("MLFLOW_TRACKING_URI", "SITERISK_MLFLOW_TRACKING_URI", "SITERISK_MODEL_URI"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "cwd").mkdir()
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _made(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


COMMANDS = [
    ["model", "list"],
    ["model", "compare"],
    ["model", "promote"],
    ["score", "--data", "../data", "--out", "scores.csv"],
]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_mlflow_store_is_refused_in_one_line_and_never_made(
    empty: Path, command: list[str]
) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    store = (empty / "home" / "mlflow.db").resolve()
    assert line == (
        f"error: no MLflow store at {store}: run `siterisk train --data DIR` (or `make demo`) "
        "first, or set SITERISK_HOME (or MLFLOW_TRACKING_URI) to where it is"
    )
    assert _made(empty) == ["cwd", "data"]


@pytest.mark.parametrize("command", [*COMMANDS, ["train", "--data", "../data"]])
def test_a_tracking_server_that_does_not_answer_is_one_line(
    empty: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://mlflow:s3cret@127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", closed)
    get_settings.cache_clear()
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the MLflow server http://mlflow:***@127.0.0.1:")
    assert "does not answer" in line
    assert "s3cret" not in result.output
    assert _made(empty) == ["cwd", "data"]


def test_score_with_a_model_folder_needs_no_store(empty: Path) -> None:
    result = runner.invoke(
        app, ["score", "--data", "../data", "--out", "s.csv", "--model", "../no-model"]
    )
    assert result.exit_code == 1
    assert "cannot load model ../no-model" in result.stderr
    assert "MLflow store" not in result.stderr
    assert _made(empty) == ["cwd", "data"]
