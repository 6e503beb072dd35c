"""The API-key format and its hashing.

A key reads ``srk_<prefix>_<secret>``: the prefix (12 hex characters) finds the row,
the whole key is checked against an HMAC-SHA256 made with the server's pepper. The
database therefore never holds anything that works as a key, and a stolen database
without the pepper cannot even be used to test guesses offline.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

SCHEME = "srk"
PREFIX_BYTES = 6
SECRET_BYTES = 32

_KEY = re.compile(rf"^{SCHEME}_(?P<prefix>[0-9a-f]{{{2 * PREFIX_BYTES}}})_[A-Za-z0-9_-]{{32,128}}$")


def new_key() -> tuple[str, str]:
    """A fresh key and its prefix."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    return f"{SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}", prefix


def key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key; None for anything else."""
    match = _KEY.fullmatch(key)
    return match["prefix"] if match else None


def hash_key(key: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def key_matches(key: str, stored_hash: str, pepper: str) -> bool:
    return hmac.compare_digest(hash_key(key, pepper), stored_hash)
