"""Logging for ``siterisk serve``: one format, and secrets masked on the way out.

The service itself never logs a key, an ``Authorization`` header or request data (a
test captures every record to check), and the database engine hides statement
parameters in its errors. The filter here is the second line: whatever a library
writes (uvicorn's access log carries paths and query strings, tracebacks carry
messages) passes through :class:`RedactSecrets`, which masks API keys, bearer tokens,
signed tokens in query strings (``?token=***``) and in the paths of the routes that
carry one (share links: ``/portal/s/***``, also when percent-encoded in a query), and
passwords in URLs. The route stays visible; only the token is masked.

:data:`LOG_CONFIG` is a ``logging.config.dictConfig`` mapping: uvicorn applies it in
every worker process (``uvicorn.run(log_config=...)``), so the filter is everywhere.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

MASK: Final = "***"

# Routes whose next path segment is a signed token (service.portal.access.SHARE_PATH for
# share links). Sign-in posts its key in the body and sessions ride in a cookie, so no
# other route carries a secret in its path.
TOKEN_ROUTES: Final = ("/portal/s/",)


def _token_route_pattern(routes: tuple[str, ...]) -> re.Pattern[str]:
    """The segment after any of ``routes``, whose slashes may be percent-encoded (as in
    ``?next=%2Fportal%2Fs%2F…``). The segment is masked whatever it looks like: a
    truncated or altered token is still mostly the real one."""
    slash = "(?:/|%2F)"
    prefixes = "|".join(
        slash.join(re.escape(part) for part in route.split("/")) for route in routes
    )
    return re.compile(rf"(?i)({prefixes})[^/?#&;\s\"'<>]+")


def _needles(routes: tuple[str, ...]) -> tuple[str, ...]:
    """A word each of ``routes`` must show in a line, whatever its slashes look like."""
    return tuple(max(route.lower().split("/"), key=len) for route in routes)


# Each pattern with the words (lower case) of which a line must hold one for the pattern to
# match: an access line holds none of them, and skipping a pattern there is much cheaper
# than running it (every request writes one).
_PATTERNS: Final[tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...]] = (
    # srk_<prefix>_<secret>: the prefix is a row id, not a secret; it helps support.
    (("srk_",), re.compile(r"\b(srk_[0-9a-f]{12}_)[A-Za-z0-9_-]+"), rf"\g<1>{MASK}"),
    (("bearer",), re.compile(r"(?i)\b(bearer\s+)[^\s'\",;]+"), rf"\g<1>{MASK}"),
    (
        ("authorization",),
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\n]+"),
        rf"\g<1>{MASK}",
    ),
    # Signed links and sessions: ?token=…, &sig=…, access_token, api_key, key, password.
    (
        ("=",),
        re.compile(
            r"(?i)([?&;](?:token|sig|signature|access_token|api_key|apikey|key|password)=)"
            r"[^&#\s\"']+"
        ),
        rf"\g<1>{MASK}",
    ),
    # /portal/s/<token>: the share link is the path itself.
    (_needles(TOKEN_ROUTES), _token_route_pattern(TOKEN_ROUTES), rf"\g<1>{MASK}"),
    # scheme://user:password@host
    (("://",), re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+(@)"), rf"\g<1>{MASK}\g<2>"),
)


def redact(text: str) -> str:
    # Only ASCII lowers exactly as the patterns' (?i) matches; any other text meets every
    # pattern (non-ASCII letters can match ASCII ones case-insensitively, as K and the
    # Kelvin sign).
    lower = text.lower() if text.isascii() else None
    for needles, pattern, replacement in _PATTERNS:
        if lower is None or any(needle in lower for needle in needles):
            text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message and traceback; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LOG_CONFIG: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": RedactSecrets}},
    "formatters": {"plain": {"format": FORMAT}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    # uvicorn's loggers hand their records to the root handler, through the filter.
    "loggers": {
        name: {"handlers": [], "propagate": True}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
}
