"""Entry point for ASGI servers: ``uvicorn --factory service.asgi:app``.

A factory rather than an app object, so importing this module does nothing; each
worker builds its app from the environment when the server calls :func:`app`, with
the real model provider: ``SITERISK_MODEL_URI`` (default the registered model's
``@champion``) from the MLflow store, cached under ``SITERISK_MODEL_CACHE_DIR``.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from litestar import Litestar


# glibc's mallopt parameter for the most malloc arenas a process may have
_M_ARENA_MAX: Final = -8
ARENAS: Final = 2


def app() -> Litestar:
    _without_sklearn()
    _few_malloc_arenas()
    from models.settings import get_settings
    from service.app import create_app
    from service.model_provider import RegistryModelProvider

    settings = get_settings()
    return create_app(
        settings, model_provider=RegistryModelProvider(settings), freeze_after_start=True
    )


def _without_sklearn() -> None:
    """LightGBM imports scikit-learn when it is installed, for its estimator classes,
    which serving never uses; that is 66 MB of each worker's memory (docs/performance.md).
    A worker process that has imported neither yet is told there is no scikit-learn
    (``None`` in ``sys.modules`` makes its import fail). A process that already has
    either (``siterisk serve`` with one worker, tests) is left as it is."""
    if "sklearn" not in sys.modules and "lightgbm" not in sys.modules:
        sys.modules["sklearn"] = None  # type: ignore[assignment]


def _few_malloc_arenas() -> None:
    """glibc gives each thread that allocates an arena of its own, up to eight per core,
    and memory freed in one arena serves only its own later requests: a portfolio priced
    in one handler thread and encoded in another leaves its peak in both, and the peak
    grows portfolio after portfolio. With two arenas a worker's peak over four
    1,000-site portfolios stayed at 464 MB; it reached 592 MB with glibc's default
    (docs/performance.md). ``MALLOC_ARENA_MAX`` in the environment wins; without glibc
    nothing is done."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_ARENA_MAX, ARENAS)
