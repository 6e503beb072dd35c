"""Request limits besides body size (Litestar's) and rate (:mod:`service.rate_limit`):
JSON bodies only where JSON is read, and a deadline for the CPU work of a request.

A :class:`Deadline` starts when the request's dependencies are resolved (before the
handler waits for a worker thread, so queueing counts) and is checked between the
stages of scoring. Work past it stops at the next check with :class:`TimedOutError`,
before anything is stored: a timed-out request changes nothing and can be retried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler

from service.errors import FieldError, TimedOutError, UnsupportedMediaTypeError

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a request must have finished its work (``time.monotonic()`` seconds)."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    @classmethod
    def never(cls) -> Deadline:
        return cls(float("inf"), float("inf"))

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, stage: str) -> None:
        """Raise :class:`TimedOutError` if the deadline has passed (``stage`` says where)."""
        if time.monotonic() > self.at:
            raise TimedOutError(
                f"the request did not finish within {self.seconds:g} s (stopped at {stage}); "
                "nothing was stored, try again or send fewer sites per request"
            )


def takes_json(handler: HTTPRouteHandler) -> bool:
    """Whether the handler reads a JSON body (its ``data`` is not a form or a file)."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return False
    encoding = getattr(data.kwarg_definition, "media_type", None)
    return encoding in (None, RequestEncodingType.JSON)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def require_json(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: a body declared as anything but JSON is a 415, not a
    confusing parse error. A body without a Content-Type is read as JSON."""
    if request.method not in _BODY_METHODS:
        return
    content_type = request.headers.get("content-type")
    if content_type and not is_json(content_type) and takes_json(request.route_handler):
        raise UnsupportedMediaTypeError(
            f"the body must be JSON: send 'Content-Type: application/json', not "
            f"{content_type.split(';', 1)[0].strip()!r}",
            fields=[FieldError("Content-Type", "must be application/json")],
        )
