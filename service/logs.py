"""Logging for ``siterisk serve``: one format, and secrets masked on the way out.

The service itself never logs a key, an ``Authorization`` header or request data (a
test captures every record to check), and the database engine hides statement
parameters in its errors. The filter here is the second line: whatever a library
writes (uvicorn's access log carries query strings, tracebacks carry messages) passes
through :class:`RedactSecrets`, which masks API keys, bearer tokens, signed tokens in
query strings and passwords in URLs.

:data:`LOG_CONFIG` is a ``logging.config.dictConfig`` mapping: uvicorn applies it in
every worker process (``uvicorn.run(log_config=...)``), so the filter is everywhere.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

MASK: Final = "***"

_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # srk_<prefix>_<secret>: the prefix is a row id, not a secret; it helps support.
    (re.compile(r"\b(srk_[0-9a-f]{12}_)[A-Za-z0-9_-]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s'\",;]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\n]+"), rf"\g<1>{MASK}"),
    # Signed links and sessions: ?token=…, &sig=…, access_token, api_key, key, password.
    (
        re.compile(
            r"(?i)([?&;](?:token|sig|signature|access_token|api_key|apikey|key|password)=)"
            r"[^&#\s\"']+"
        ),
        rf"\g<1>{MASK}",
    ),
    # scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+(@)"), rf"\g<1>{MASK}\g<2>"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
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
