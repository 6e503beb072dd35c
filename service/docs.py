"""The OpenAPI document: interactive docs served entirely by this server, and request
schemas exactly as the service reads them (docs/api.md).

Litestar's bundled UI plugins load their JavaScript from public CDNs, which an
air-gapped or strict-CSP deployment cannot reach. This plugin renders Swagger UI
from the copy shipped in the ``swagger-ui-py`` wheel (Swagger UI 5.x, which reads
OpenAPI 3.1) plus a small start script of ours, under ``/schema/assets/``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Router, get
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Reference, Schema
from litestar.params import FromPath
from litestar.response import File

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

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


# --- request schemas exactly as msgspec reads them ----------------------------------------


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def schema_object(node: Mapping[str, Any]) -> Schema | Reference:
    """A JSON Schema (as msgspec writes it) as Litestar's OpenAPI objects; a keyword
    Litestar has no field for raises, so nothing is dropped silently."""
    if "$ref" in node:
        return Reference(ref=str(node["$ref"]))
    aliases = Schema.field_aliases()
    fields: dict[str, Any] = {}
    for key, value in node.items():
        name = aliases.get(key, _snake(key))
        if name == "type":
            value = (
                [OpenAPIType(v) for v in value] if isinstance(value, list) else OpenAPIType(value)
            )
        elif name == "format":
            value = OpenAPIFormat(value)
        elif name in ("any_of", "one_of", "all_of", "prefix_items"):
            value = [schema_object(v) for v in value]
        elif name in ("items", "additional_properties") and isinstance(value, Mapping):
            value = schema_object(value)
        elif name == "properties":
            value = {k: schema_object(v) for k, v in value.items()}
        fields[name] = value
    return Schema(**fields)


def _names_structs(node: msgspec.inspect.Type) -> bool:
    """Whether a field's type refers to a struct: Litestar then registers that struct's
    component and its reference is kept; any other field's schema is msgspec's."""
    if isinstance(node, msgspec.inspect.StructType):
        return True
    if isinstance(node, msgspec.inspect.Metadata):
        return _names_structs(node.type)
    if isinstance(node, msgspec.inspect.UnionType):
        return any(_names_structs(t) for t in node.types)
    if isinstance(node, msgspec.inspect.DictType):
        return _names_structs(node.key_type) or _names_structs(node.value_type)
    item = getattr(node, "item_type", None)  # lists, sets, variadic tuples
    if item is not None:
        return _names_structs(item)
    return any(_names_structs(t) for t in getattr(node, "item_types", ()))


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Request structs (msgspec structs that refuse unknown fields) documented exactly as
    msgspec decodes them.

    Litestar's own rendering loses two things: it never says ``additionalProperties:
    false``, and for an optional field (``Annotated[float, Meta(gt=0)] | None``) it puts
    the bounds beside ``oneOf [number, null]`` and drops any bound that is zero (a falsy
    check), so ``base_premium_cny`` > 0 read as any number. Here every field that is
    not a reference to another struct takes msgspec's own JSON Schema, whose bounds sit
    in the number's branch; fields that name structs keep Litestar's references.

    ``limits`` narrows fields whose bound is a setting (``"ShareRequest.expires_in_days":
    {"maximum": 30}``): merged into the field's non-null branch."""

    def __init__(self, limits: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.limits = dict(limits or {})

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        if not super().is_plugin_supported_field(field_definition):
            return False
        info = msgspec.inspect.type_info(field_definition.type_)
        return isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = field_definition.type_
        _, components = msgspec.json.schema_components(
            [struct], ref_template="#/components/schemas/{name}"
        )
        exact = components[struct.__name__]
        names_structs = {
            f.encode_name: _names_structs(f.type)
            for f in msgspec.inspect.type_info(struct).fields  # type: ignore[attr-defined]
        }
        properties = dict(schema.properties or {})
        for name, node in exact.get("properties", {}).items():
            if names_structs[name]:
                continue
            limit = self.limits.get(f"{struct.__name__}.{name}")
            if limit:
                node = _narrowed(node, limit)
            properties[name] = schema_object(node)
        schema.properties = properties
        schema.additional_properties = False
        return schema


def _narrowed(node: Mapping[str, Any], limit: Mapping[str, Any]) -> dict[str, Any]:
    branches = node.get("anyOf")
    if branches is None:
        return {**node, **limit}
    return {
        **node,
        "anyOf": [b if b.get("type") == "null" else {**b, **limit} for b in branches],
    }
