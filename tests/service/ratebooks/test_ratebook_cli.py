"""``siterisk ratebook validate|import|activate|diff|list``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from ratebook_helpers import book_document, with_rates
from typer.testing import CliRunner

from service.cli import app as cli

runner = CliRunner()


def _run(*args: str) -> Any:
    return runner.invoke(cli, list(args))


def _file(tmp_path: Path, doc: dict[str, Any], name: str) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_validate_names_every_problem_and_needs_no_database(cli_env: Path, tmp_path: Path) -> None:
    doc = book_document("acme", "2026.1")
    good = _file(tmp_path, doc, "good.yaml")
    result = _run("ratebook", "validate", good)
    assert result.exit_code == 0, result.output
    assert "acme@2026.1 is valid" in result.stdout
    broken = copy.deepcopy(doc)
    broken["tariff"]["bands"][2]["rate_per_mille"] = -1
    broken["floating"]["enabeld"] = True
    result = _run("ratebook", "validate", _file(tmp_path, broken, "bad.yaml"))
    assert result.exit_code == 2
    assert "$.tariff.bands[2].rate_per_mille:" in result.stderr
    assert "$.floating.enabeld: unknown key" in result.stderr
    assert "2 problem(s); the rate book is refused" in result.stderr


def test_import_activate_diff_and_list(cli_stores: Path, tmp_path: Path) -> None:
    old = _file(tmp_path, book_document("acme", "2026.1"), "old.yaml")
    new = _file(tmp_path, with_rates(book_document("acme", "2026.2"), 1.5), "new.yaml")
    result = _run("ratebook", "import", old, "--by", "alice")
    assert result.exit_code == 0, result.output
    assert "imported acme@2026.1" in result.stdout
    assert "not active" in result.stdout
    assert "already stored" in _run("ratebook", "import", old).stdout
    result = _run("ratebook", "import", new, "--by", "bob", "--activate")
    assert result.exit_code == 0, result.output
    assert "active since" in result.stdout
    assert "by bob" in result.stdout
    result = _run("ratebook", "activate", "acme", "2026.1", "--by", "carol")
    assert result.exit_code == 0
    assert "by carol" in result.stdout
    assert _run("ratebook", "activate", "acme", "1999.1").exit_code == 1
    diff = _run("ratebook", "diff", "acme@2026.1", "acme@2026.2", "--json")
    assert diff.exit_code == 0, diff.output
    changes = {c["path"]: (c["old"], c["new"]) for c in json.loads(diff.stdout)}
    assert changes["$.tariff.bands[0].rate_per_mille"] == (0.65, 0.975)
    files = _run("ratebook", "diff", old, new)
    assert '$.version: "2026.1" -> "2026.2"' in files.stdout
    listed = json.loads(_run("ratebook", "list", "--json").stdout)
    assert [(r["version"], r["activated_by"], r["imported_by"]) for r in listed] == [
        ("2026.1", "carol", "alice"),
        ("2026.2", "bob", "bob"),
    ]
