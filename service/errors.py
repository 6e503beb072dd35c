"""Domain errors and the one place that turns any exception into an HTTP answer.

Services raise the :class:`ServiceError` subclasses below and never build responses;
:func:`error_response` maps those, Litestar's own HTTP exceptions, request
validation failures and database outages onto one JSON shape::

    {"error": {"status": 422, "code": "validation_error", "message": "...",
               "fields": [{"field": "months[3].worker_hours", "message": "..."}]}}

Anything unexpected becomes a 500 whose message carries only a reference that is
also in the log next to the traceback.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import msgspec
from litestar import Litestar, MediaType, Request, Response
from litestar.constants import RESERVED_KWARGS
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute
from litestar.utils.scope.state import ScopeState
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from models.contract.problems import ContractError, ProblemReport
from models.contract.spec import ID_PATTERN, MONTH_PATTERN

log = logging.getLogger(__name__)

BEARER_CHALLENGE = 'Bearer realm="siterisk"'


class FieldError(msgspec.Struct, frozen=True):
    """One offending input: a path like ``months[3].worker_hours`` and what is wrong."""

    field: str
    message: str


class ProblemOut(msgspec.Struct, frozen=True):
    """One broken contract rule at one place of an uploaded file (row 1 = first data row)."""

    file: str
    row: int | None
    column: str | None
    rule: str
    message: str


class ProblemReportOut(msgspec.Struct, frozen=True):
    """The contract problems of an upload, as ``siterisk data validate`` lists them:
    at most ``shown`` of ``total``, every kind of problem among them."""

    total: int
    shown: int
    more: int
    problems: list[ProblemOut]


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    status: int
    code: str
    message: str
    fields: list[FieldError] = msgspec.field(default_factory=list)
    report: ProblemReportOut | None = None  # uploads that break the data contract


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error response has this body, whatever raised it."""

    error: ErrorDetail


# --- what services raise ---------------------------------------------------------------


class ServiceError(Exception):
    """Base of the errors services raise; each subclass fixes status and code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.fields = list(fields)
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequestError(ServiceError):
    status, code, default_message = 400, "bad_request", "the request cannot be read"


class InvalidInputError(ServiceError):
    """Well-formed but unacceptable input; name the fields in ``fields``."""

    status, code, default_message = 422, "validation_error", "the request is not valid"


class UnauthorizedError(ServiceError):
    status, code, default_message = 401, "unauthorized", "a valid API key is required"

    def __init__(self, message: str | None = None, *, invalid_token: bool = False) -> None:
        challenge = f'{BEARER_CHALLENGE}, error="invalid_token"' if invalid_token else None
        super().__init__(message, headers={"WWW-Authenticate": challenge or BEARER_CHALLENGE})


class ForbiddenError(ServiceError):
    status, code, default_message = 403, "forbidden", "this key may not do that"


class NotFoundError(ServiceError):
    """Also for things that exist but are not the caller's: never confirm existence."""

    status, code, default_message = 404, "not_found", "not found"


class ConflictError(ServiceError):
    status, code, default_message = 409, "conflict", "the request conflicts with stored data"


class PayloadTooLargeError(ServiceError):
    status, code, default_message = 413, "payload_too_large", "the request body is too large"


class UnsupportedMediaTypeError(ServiceError):
    status, code, default_message = (
        415,
        "unsupported_media_type",
        "the body must be JSON (Content-Type: application/json)",
    )


class RateLimitedError(ServiceError):
    status, code, default_message = 429, "rate_limited", "too many requests for this key"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


class UnavailableError(ServiceError):
    status, code, default_message = 503, "service_unavailable", "the service is not ready"

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        super().__init__(message, headers=headers)


class TimedOutError(ServiceError):
    """The request ran past its deadline; nothing was stored, retrying is safe."""

    status, code, default_message = 503, "timeout", "the request took too long; try again"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


# --- the mapping ---------------------------------------------------------------------------

_DATABASE_DOWN = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
_MSGSPEC_PATH = re.compile(r"\s+-\s+at\s+`\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`")
BODY = "body"  # the field name of the request body as a whole


# --- msgspec's words in the user's -----------------------------------------------------------

# What a pattern asks for, in words; a pattern not named here keeps msgspec's message.
PATTERN_WORDS: dict[str, str] = {
    MONTH_PATTERN: "a month as YYYY-MM",
    ID_PATTERN: "an id of 1–64 letters, digits, '_', '.' or '-'",
}
_PATTERN = re.compile(r"Expected `str` matching regex (?P<pattern>'.*'|\".*\")")
_ENUM = re.compile(r"Invalid enum value (?P<value>.+)")
_TRUNCATED = "Input data was truncated"
_SEQUENCES = (msgspec.inspect.ListType, msgspec.inspect.VarTupleType, msgspec.inspect.SetType)
_STEP = re.compile(r"\.?(?P<name>[^.\[\]]+)|\[(?P<index>\d+)\]")


def _allowed(root: Any, path: str) -> list[Any] | None:
    """The values a Literal or Enum field at ``path`` (``months[2].district``) of the type
    ``root`` admits, or None when the path does not lead to one."""
    try:
        found: list[msgspec.inspect.Type] = [msgspec.inspect.type_info(root)]
    except (TypeError, ValueError):  # a type msgspec does not describe
        return None
    for step in _STEP.finditer(path):
        following: list[msgspec.inspect.Type] = []
        for node in found:
            while isinstance(node, msgspec.inspect.Metadata):
                node = node.type
            members = node.types if isinstance(node, msgspec.inspect.UnionType) else (node,)
            for member in members:
                while isinstance(member, msgspec.inspect.Metadata):
                    member = member.type
                if step["name"] is not None and isinstance(member, msgspec.inspect.StructType):
                    following += [f.type for f in member.fields if f.encode_name == step["name"]]
                elif step["name"] is not None and isinstance(member, msgspec.inspect.DictType):
                    following.append(member.value_type)
                elif step["index"] is not None and isinstance(member, _SEQUENCES):
                    following.append(member.item_type)
        found = following
    values: list[Any] = []
    for node in found:
        while isinstance(node, msgspec.inspect.Metadata):
            node = node.type
        members = node.types if isinstance(node, msgspec.inspect.UnionType) else (node,)
        for member in members:
            if isinstance(member, msgspec.inspect.LiteralType):
                values += list(member.values)
            elif isinstance(member, msgspec.inspect.EnumType):
                values += [m.value for m in member.cls]
    return values or None


def user_message(
    message: str, path: str = "", root: Any = None, *, body_size: int | None = None
) -> str:
    """msgspec's message about an input, in words a caller can act on: the form a pattern
    asks for instead of the regex, the allowed values of an enum (when ``root``, the type
    decoded, leads ``path`` to it), the byte where a truncated body ends. Any other
    message is returned unchanged. The one place these words are chosen."""
    if match := _PATTERN.fullmatch(message):
        for pattern, words in PATTERN_WORDS.items():
            if match["pattern"] == repr(pattern):
                return f"expected {words}"
        return message
    if match := _ENUM.fullmatch(message):
        allowed = _allowed(root, path) if root is not None else None
        if allowed:
            listed = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in allowed)
            return f"{match['value']} is not allowed; expected one of {listed}"
        return message
    if message == _TRUNCATED:
        where = f" (byte {body_size})" if body_size is not None else ""
        return f"JSON is malformed: the body ends before the JSON does{where}"
    return message


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _field(path: str, message: str, root: Any = None) -> FieldError:
    """Name the field itself when msgspec names its parent (missing fields)."""
    path = BODY if path in ("", "data", "$") else path
    if match := _MISSING.fullmatch(message):
        name = match["name"]
        return FieldError(name if path == BODY else f"{path}.{name}", "required field is missing")
    return FieldError(path, user_message(message, path, root))


def _body_type(request: Request[Any, Any, Any]) -> Any:
    """The type the handler decodes its body into, if it has one."""
    data = request.route_handler.parsed_data_field
    return None if data is None else data.annotation


def _litestar_fields(request: Request[Any, Any, Any], extra: Any) -> list[FieldError]:
    fields = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, Mapping):
            continue
        key, message = str(item.get("key", "")), str(item.get("message", ""))
        if key == "data" and message == "'data'":  # Litestar's words for "no body at all"
            fields.append(FieldError(BODY, "a JSON body is required"))
        else:
            root = _body_type(request) if item.get("source") == "body" else None
            fields.append(_field(key, message, root))
    return fields


def _msgspec_field(exc: msgspec.ValidationError) -> FieldError:
    text = str(exc)
    if match := _MSGSPEC_PATH.search(text):
        return _field(match["path"], text[: match.start()])
    return _field("", text)


def _body(status: int, code: str, message: str, fields: Sequence[FieldError] = ()) -> ErrorBody:
    return ErrorBody(ErrorDetail(status=status, code=code, message=message, fields=list(fields)))


def _invalid(fields: Sequence[FieldError]) -> ErrorBody:
    message = "the request is not valid"
    if fields:
        message += f": {fields[0].field}: {fields[0].message}"
    return _body(422, "validation_error", message, fields)


def contract_body(report: ProblemReport) -> ErrorBody:
    """A 422 for data that breaks the contract: the report itself, and each problem
    shown as a field (``file:row column``)."""
    fields = []
    for p in report.problems:
        where = p.file if p.row is None else f"{p.file}:{p.row}"
        fields.append(FieldError(f"{where} {p.column}" if p.column else where, p.message))
    noun = "problem" if report.total == 1 else "problems"
    message = f"the data breaks the contract ({report.total} {noun}); nothing was stored"
    detail = ErrorDetail(
        status=422,
        code="contract_violation",
        message=message,
        fields=fields,
        report=msgspec.convert(report.to_dict(), ProblemReportOut),
    )
    return ErrorBody(detail)


def _classify(request: Request[Any, Any, Any], exc: Exception) -> tuple[ErrorBody, dict[str, str]]:
    if isinstance(exc, ServiceError):
        return _body(exc.status, exc.code, exc.message, exc.fields), exc.headers
    if isinstance(exc, ContractError):
        return contract_body(exc.report), {}
    if isinstance(exc, msgspec.ValidationError):
        return _invalid([_msgspec_field(exc)]), {}
    if isinstance(exc, HTTPException):
        return _classify_http(request, exc)
    if isinstance(exc, _DATABASE_DOWN):
        log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        message = "the database is unavailable; try again shortly"
        return _body(503, "database_unavailable", message), {"Retry-After": "5"}
    reference = secrets.token_hex(6)
    log.exception("unhandled error %s on %s %s", reference, request.method, request.url.path)
    return _body(500, "internal_error", f"internal server error (reference {reference})"), {}


def _body_size(request: Request[Any, Any, Any]) -> int | None:
    """How many bytes of body the request carried, as read (or as announced)."""
    body = ScopeState.from_scope(request.scope).body
    if isinstance(body, bytes):
        return len(body)
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


def _classify_http(
    request: Request[Any, Any, Any], exc: HTTPException
) -> tuple[ErrorBody, dict[str, str]]:
    headers = dict(exc.headers or {})
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return _invalid(_litestar_fields(request, exc.extra)), headers
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", BEARER_CHALLENGE)
        return _body(401, "unauthorized", UnauthorizedError.default_message), headers
    if isinstance(exc, PermissionDeniedException):
        return _body(403, "forbidden", ForbiddenError.default_message), headers
    if isinstance(exc, NotFoundException):
        return _body(404, "not_found", NotFoundError.default_message), headers
    if isinstance(exc, RequestEntityTooLarge):
        limit = request.route_handler.resolve_request_max_body_size()
        message = f"the request body is larger than the limit of {limit} bytes"
        field = FieldError(BODY, f"larger than {limit} bytes")
        return _body(413, "payload_too_large", message, [field]), headers
    if isinstance(exc, TooManyRequestsException):
        headers.setdefault("Retry-After", "1")
        return _body(429, "rate_limited", RateLimitedError.default_message), headers
    if status < 500:
        message = user_message(exc.detail, body_size=_body_size(request)) if exc.detail else ""
        return _body(status, _code_for(status), message or HTTPStatus(status).phrase), headers
    if status == 503:
        return _body(503, "service_unavailable", UnavailableError.default_message), headers
    reference = secrets.token_hex(6)
    log.error("server error %s on %s %s: %r", reference, request.method, request.url.path, exc)
    return _body(500, "internal_error", f"internal server error (reference {reference})"), {}


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    """The application's only exception handler (registered for ``Exception``)."""
    body, headers = _classify(request, exc)
    return Response(
        content=body,
        status_code=body.error.status,
        headers=headers,
        media_type=MediaType.JSON,
    )


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for a handler's ``responses=``: these statuses use :class:`ErrorBody`."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody, description=HTTPStatus(status).phrase, generate_examples=False
        )
        for status in statuses
    }


def _client_inputs(handler: HTTPRouteHandler) -> set[str]:
    """The handler's parameters the caller fills in: path, query, header, body."""
    given = set(handler.parsed_fn_signature.parameters)
    return given - set(handler.resolve_dependencies()) - (RESERVED_KWARGS - {"data"})


def statuses_of(handler: HTTPRouteHandler, *, authenticated: bool) -> set[int]:
    """The error statuses any handler of this kind can answer, whatever its own code does:
    401/429/503 from authentication (the key lookup asks the database), 403 from guards,
    413/415 from reading a body, 400/422 from reading any input, 404 from path lookups."""
    found: set[int] = set()
    if authenticated:
        found |= {401, 429, 503}
    if handler.resolve_guards():
        found.add(403)
    inputs = _client_inputs(handler)
    if "data" in inputs:
        found |= {413, 415}
    if inputs:
        # Litestar would otherwise document its own 400 body for parameter errors,
        # which the mapper answers as 422 in this format.
        found |= {400, 422}
    if any("{" in path for path in handler.paths):
        found.add(404)
    return found


def document_errors(app: Litestar, *, is_public: Callable[[HTTPRouteHandler], bool]) -> None:
    """Declare :class:`ErrorBody` in the OpenAPI document for every error status each
    operation can answer, so clients (and the fuzzing tests) see every answer the API
    gives. A status a handler documents itself keeps its own description."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            statuses = statuses_of(handler, authenticated=not is_public(handler))
            declared = dict(handler.responses or {})
            for status, spec in error_responses(*sorted(statuses)).items():
                declared.setdefault(status, spec)
            handler.responses = declared
