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


@pytest.mark.parametrize("forbidden", ["service", "training"])
def test_models_imports_neither_service_nor_training(forbidden: str) -> None:
    bad = [
        (str(p.relative_to(ROOT)), mod)
        for p, mod in _imports("models")
        if mod == forbidden or mod.startswith(forbidden + ".")
    ]
    assert bad == []


def test_training_does_not_import_the_web_service() -> None:
    bad = [
        (str(p.relative_to(ROOT)), mod)
        for p, mod in _imports("training")
        if "cli" not in p.parts and (mod == "service" or mod.startswith("service."))
    ]
    assert bad == []


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
