"""``Idempotency-Key``: a retried pricing request gets its first answer, not a new quote.

A request with the header is hashed (its JSON body with keys sorted, so spacing and key
order do not matter) together with the endpoint. The first answer that stored quotes
is recorded with the quotes, in one transaction
(:class:`service.db.tables.IdempotencyRecord`); a later request with the same key and
owner gets that answer back when the hash matches and a 409 when it does not.

Requests that stored nothing (invalid input, no model, every item of a batch refused)
leave no record: they changed nothing, and retrying them gives the same refusal.
Concurrent retries may both price, but only one commits; the other finds the winner's
record and answers with it (:class:`AnsweredMeanwhile`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from service.errors import ConflictError, FieldError, InvalidInputError

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
MAX_LENGTH: Final = 255
# Visible ASCII: what a client can put in a header unchanged; nothing to normalise.
PATTERN: Final = r"^[\x21-\x7e]{1,255}$"
_VALID = re.compile(PATTERN)

QUOTE_ENDPOINT: Final = "POST /v1/quotes"
BATCH_ENDPOINT: Final = "POST /v1/quotes/batch"


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """One request's key, where it was sent, and the hash of its body."""

    key: str
    endpoint: str
    request_hash: str

    @classmethod
    def of(cls, header: str | None, endpoint: str, body: Any) -> IdempotentRequest | None:
        """None without the header; a 422 naming the header when it is not usable."""
        if header is None:
            return None
        if not _VALID.fullmatch(header):
            raise InvalidInputError(
                f"the {HEADER} header is not valid",
                fields=[FieldError(HEADER, f"1–{MAX_LENGTH} visible ASCII characters, no spaces")],
            )
        return cls(header, endpoint, body_hash(endpoint, body))


def body_hash(endpoint: str, body: Any) -> str:
    digest = hashlib.sha256(endpoint.encode())
    digest.update(b"\n")
    digest.update(msgspec.json.encode(body, order="sorted"))
    return digest.hexdigest()


class AnsweredMeanwhile(Exception):  # noqa: N818 - an outcome, not a failure
    """A concurrent request with the same key stored its answer first; nothing of this
    one was stored."""


class IdempotencyConflictError(ConflictError):
    code = "idempotency_conflict"
    default_message = "the idempotency key was already used for another request"


def check_retry(stored_endpoint: str, stored_hash: str, request: IdempotentRequest) -> None:
    """Refuse a reused key whose request differs from the first one (409)."""
    if stored_endpoint != request.endpoint:
        why = f"was already used for {stored_endpoint}"
    elif stored_hash != request.request_hash:
        why = "was already used with a different body"
    else:
        return
    raise IdempotencyConflictError(
        f"the {HEADER} {request.key!r} {why}; use a new key for a new request",
        fields=[FieldError(HEADER, why)],
    )
