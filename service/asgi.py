"""Entry point for ASGI servers: ``uvicorn --factory service.asgi:app``.

A factory rather than an app object, so importing this module does nothing; each
worker builds its app from the environment when the server calls :func:`app`, with
the real model provider: ``SITERISK_MODEL_URI`` (default the registered model's
``@champion``) from the MLflow store, cached under ``SITERISK_MODEL_CACHE_DIR``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar import Litestar


def app() -> Litestar:
    _without_sklearn()
    from models.settings import get_settings
    from service.app import create_app
    from service.model_provider import RegistryModelProvider

    settings = get_settings()
    return create_app(settings, model_provider=RegistryModelProvider(settings))


def _without_sklearn() -> None:
    """LightGBM imports scikit-learn when it is installed, for its estimator classes,
    which serving never uses; that is 66 MB of each worker's memory (docs/performance.md).
    A worker process that has imported neither yet is told there is no scikit-learn
    (``None`` in ``sys.modules`` makes its import fail). A process that already has
    either (``siterisk serve`` with one worker, tests) is left as it is."""
    if "sklearn" not in sys.modules and "lightgbm" not in sys.modules:
        sys.modules["sklearn"] = None  # type: ignore[assignment]
