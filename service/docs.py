"""Interactive API docs served entirely by this server: no CDN, no outside requests.

Litestar's bundled UI plugins load their JavaScript from public CDNs, which an
air-gapped or strict-CSP deployment cannot reach. This plugin renders Swagger UI
from the copy shipped in the ``swagger-ui-py`` wheel (Swagger UI 5.x, which reads
OpenAPI 3.1) plus a small start script of ours, under ``/schema/assets/``.
"""

from __future__ import annotations

import html
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath
from litestar.response import File

OWN_STATIC = Path(__file__).resolve().with_name("static")

# Served files and where they come from; nothing else under /schema/assets answers.
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui.css": ("swagger_ui", "text/css"),
    "swagger-ui-bundle.js": ("swagger_ui", "text/javascript"),
    "swagger-ui-standalone-preset.js": ("swagger_ui", "text/javascript"),
    "favicon-32x32.png": ("swagger_ui", "image/png"),
    "swagger-init.js": ("own", "text/javascript"),
}


def swagger_static_dir() -> Path | None:
    """The Swagger UI files of the installed ``swagger-ui-py``, found without importing it."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def asset_path(name: str) -> Path | None:
    source = ASSETS.get(name)
    if source is None:
        return None
    folder = OWN_STATIC if source[0] == "own" else swagger_static_dir()
    if folder is None or not (folder / name).is_file():
        return None
    return folder / name


class LocalSwaggerPlugin(OpenAPIRenderPlugin):
    def __init__(self, *, schema_path: str = "/schema", path: str | list[str] = "/") -> None:
        super().__init__(path=path, favicon="")
        self.assets_url = f"{schema_path.rstrip('/')}/assets"

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec_url = html.escape(self.get_openapi_json_route(request), quote=True)
        assets = self.assets_url
        page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui-standalone-preset.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""
        return page.encode()

    def receive_router(self, router: Router) -> None:
        router.register(serve_asset)


@get(
    "/assets/{name:str}",
    sync_to_thread=False,
    include_in_schema=False,
    media_type=MediaType.TEXT,
    cache_control=None,
)
def serve_asset(name: FromPath[str]) -> File:
    path = asset_path(name)
    if path is None:
        raise NotFoundException()
    return File(
        path=path,
        media_type=ASSETS[name][1],
        content_disposition_type="inline",
        headers={"Cache-Control": "public, max-age=86400"},
    )
