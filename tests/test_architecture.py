"""The import rules of docs/architecture.md, checked on the source text."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def _offending(package: str, forbidden: str) -> list[tuple[str, str]]:
    return [
        (str(p.relative_to(ROOT)), mod)
        for p, mod in _imports(package)
        if mod == forbidden or mod.startswith(forbidden + ".")
    ]


# Who may import whom (docs/architecture.md), with no exemption: each package and the
# packages it must never import. ``models`` is the shared layer; ``training`` and
# ``service`` each import ``models`` and never the other; only the entry package
# ``siterisk`` (and the ``bench`` harness, and the tests) import both; nothing but the
# tests imports ``siterisk``, and nothing imports ``bench``.
FORBIDDEN = {
    "models": ("service", "training", "siterisk", "bench"),
    "training": ("service", "siterisk", "bench"),
    "service": ("training", "siterisk", "bench"),
    "siterisk": ("bench",),
    "bench": ("siterisk",),
}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [(package, forbidden) for package, banned in FORBIDDEN.items() for forbidden in banned],
)
def test_package_does_not_import(package: str, forbidden: str) -> None:
    assert _offending(package, forbidden) == []


def test_every_package_has_its_rules() -> None:
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if not path.parent.name.startswith(".")
    }
    assert packages == set(FORBIDDEN)


def test_the_entry_package_only_composes_the_two_command_lines() -> None:
    """``siterisk`` holds no logic of either side: of ``training`` and ``service`` it
    imports their command lines only, and it imports both of them."""
    layered = [
        mod
        for _, mod in _imports("siterisk")
        if mod.split(".")[0] in ("training", "service", "models")
    ]
    assert sorted(set(layered)) == ["service.cli", "training.cli"]


WEB_OR_DB = ("litestar", "sqlmodel", "sqlalchemy", "alembic", "mlflow", "lightgbm", "service.")


def test_pricing_rules_import_no_web_db_or_model_code() -> None:
    if not (ROOT / "models" / "pricing").exists():
        pytest.skip("models/pricing not written yet")
    bad = [
        (str(p.relative_to(ROOT)), mod)
        for p, mod in _imports("models/pricing")
        if any(mod == w.rstrip(".") or mod.startswith(w) for w in WEB_OR_DB)
        and not mod.startswith("models.pricing")
    ]
    assert bad == []
