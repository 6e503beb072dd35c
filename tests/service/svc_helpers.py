"""Helpers shared by the service tests (fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.settings import Settings

PEPPER = "test-pepper-0123456789"


def make_settings(home: Path, **overrides: Any) -> Settings:
    """Settings for a test: everything that matters given, nothing read from the machine."""
    values: dict[str, Any] = {
        "home": home,
        "database_url": f"sqlite:///{home / 'siterisk.db'}",
        "env": "dev",
        "key_pepper": PEPPER,
        "rate_limit_per_second": 5000.0,
        "auth_cache_seconds": 1.0,
        "max_body_bytes": 2 * 1024 * 1024,
        "cors_origins": [],
        "model_poll_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
