"""Entry point for ASGI servers: ``uvicorn --factory service.asgi:app``.

A factory rather than an app object, so importing this module does nothing; each
worker builds its app from the environment when the server calls :func:`app`.
"""

from __future__ import annotations

from litestar import Litestar

from service.app import create_app


def app() -> Litestar:
    return create_app()
