"""``GET /``: what this service is and where to go next, for a person or a script that
reaches the bare address. Public, like health: it names nothing but public paths."""

from __future__ import annotations

from typing import Final

import msgspec
from litestar import get

from service.controllers.health import PUBLIC
from service.release import service_version

SERVICE_NAME: Final = "siterisk"
TITLE: Final = "Site-risk pricing API"


class HomeLinks(msgspec.Struct, frozen=True):
    docs: str
    openapi: str
    portal: str
    ready: str
    quotes: str


class Home(msgspec.Struct, frozen=True):
    service: str
    title: str
    version: str
    links: HomeLinks


HOME_LINKS: Final = HomeLinks(
    docs="/schema",
    openapi="/schema/openapi.json",
    portal="/portal",
    ready="/health/ready",
    quotes="/v1/quotes",
)


@get(
    "/",
    sync_to_thread=False,
    opt=PUBLIC,
    security=[{}],  # "no key needed" in OpenAPI terms
    tags=["health"],
    summary="This service, its version and where to start",
)
def home() -> Home:
    """The interactive API docs are at ``links.docs``; pricing (``links.quotes``) needs
    ``Authorization: Bearer <key>``; ``links.ready`` says whether a model is loaded."""
    return Home(
        service=SERVICE_NAME,
        title=TITLE,
        version=service_version(),
        links=HOME_LINKS,
    )
