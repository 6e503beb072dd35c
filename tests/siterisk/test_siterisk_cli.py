"""The entry package: ``siterisk`` is the training side's and the service side's command
lines joined, every command where it was, and the console script points at it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from service.cli import app as service_app
from siterisk.cli import app
from training.cli import app as training_app

ROOT = Path(__file__).resolve().parents[2]


def _tree(command: Any) -> dict[str, Any]:
    """Command names as ``--help`` lists them (typer keeps the order of creation)."""
    commands = getattr(command, "commands", None) or {}
    return {name: _tree(sub) for name, sub in commands.items()}


def test_the_command_lists_every_command_of_both_sides_in_order() -> None:
    tree = _tree(typer.main.get_command(app))
    assert list(tree) == [
        "train", "score", "serve", "data", "model", "keys", "db", "quotes", "ratebook",
        "prevention", "agreements",
    ]  # fmt: skip
    assert list(tree["data"]) == ["validate", "generate", "aggregate", "push", "export"]
    assert tree == {
        "train": {},
        "score": {},
        "serve": {},
        "data": {"validate": {}, "generate": {}, "aggregate": {}, "push": {}, "export": {}},
        "model": {"compare": {}, "promote": {}, "list": {}},
        "keys": {"create": {}, "list": {}, "revoke": {}, "rotate": {}},
        "db": {"upgrade": {}, "current": {}, "revision": {}},
        "quotes": {"example": {}, "replay": {}},
        "ratebook": {
            "validate": {},
            "import": {},
            "activate": {},
            "diff": {},
            "impact": {},
            "list": {},
        },
        "prevention": {"report": {}},
        "agreements": {"replay": {}, "settle-due": {}},
    }


def test_each_side_holds_only_its_own_commands() -> None:
    training = _tree(typer.main.get_command(training_app))
    service = _tree(typer.main.get_command(service_app))
    assert training == {
        "train": {},
        "score": {},
        "data": {"validate": {}, "generate": {}, "aggregate": {}},
        "model": {"compare": {}, "promote": {}, "list": {}},
    }
    assert service == {
        "serve": {},
        "data": {"push": {}, "export": {}},
        "keys": {"create": {}, "list": {}, "revoke": {}, "rotate": {}},
        "db": {"upgrade": {}, "current": {}, "revision": {}},
        "quotes": {"example": {}, "replay": {}},
        "ratebook": {
            "validate": {},
            "import": {},
            "activate": {},
            "diff": {},
            "impact": {},
            "list": {},
        },
        "prevention": {"report": {}},
        "agreements": {"replay": {}, "settle-due": {}},
    }


def test_the_joined_data_group_keeps_its_help() -> None:
    result = CliRunner().invoke(app, ["data", "--help"], prog_name="siterisk")
    assert result.exit_code == 0
    assert (
        "Validate, generate, aggregate, push and export smart-site data folders." in result.output
    )
    for command in ("validate", "generate", "push", "export"):
        assert command in result.output


def test_the_console_script_is_the_entry_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"] == {"siterisk": "siterisk.cli:main"}
    assert "siterisk*" in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]


def test_help_imports_neither_side_s_heavy_modules() -> None:
    """Each command imports what it needs inside itself, so ``siterisk --help`` is quick."""
    code = (
        "import sys\n"
        "from siterisk.cli import app\n"
        "from typer.testing import CliRunner\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "heavy = ('mlflow', 'lightgbm', 'litestar', 'sqlalchemy', 'training.pipeline',\n"
        "         'service.app', 'service.db.engine')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_version_prints_the_installed_release() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"], prog_name="siterisk")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"siterisk {version('site-risk-pricing')}"


def test_help_shows_no_types_and_wraps_sentences_at_the_terminal_width() -> None:
    wide = CliRunner().invoke(
        app, ["data", "validate", "--help"], prog_name="siterisk", env={"COLUMNS": "160"}
    )
    assert wide.exit_code == 0
    # the docstring's line break is not kept: one sentence, one line when it fits
    assert "list the problems if it breaks it." in wide.stdout
    for command in (["train", "--help"], ["model", "promote", "--help"], ["quotes", "--help"]):
        result = CliRunner().invoke(app, command, prog_name="siterisk", env={"COLUMNS": "100"})
        assert result.exit_code == 0
        assert "<bool>" not in result.stdout
        assert "<int" not in result.stdout
        assert "<path>" not in result.stdout
        assert "<list[" not in result.stdout
        assert max(len(line) for line in result.stdout.splitlines()) <= 100
