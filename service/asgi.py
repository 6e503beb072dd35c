"""Entry point for ASGI servers: ``uvicorn --factory service.asgi:app``.

A factory rather than an app object, so importing this module does nothing; each
worker builds its app from the environment when the server calls :func:`app`, with
the real model provider: ``SITERISK_MODEL_URI`` (default the registered model's
``@champion``) from the MLflow store, cached under ``SITERISK_MODEL_CACHE_DIR``.
"""

from __future__ import annotations

from litestar import Litestar

from models.settings import get_settings
from service.app import create_app
from service.model_provider import RegistryModelProvider


def app() -> Litestar:
    settings = get_settings()
    return create_app(settings, model_provider=RegistryModelProvider(settings))
