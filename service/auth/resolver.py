"""From a presented key to a :class:`Principal`, with a short cache.

The database is asked at most once per ``ttl`` seconds per key prefix (default and
maximum 1 s), and again at once after any key was revoked or rotated anywhere: the
cache is only trusted while the revocation watcher (:mod:`service.auth.revocation`)
reports no change. Without a watcher (an in-memory database) a key revoked elsewhere
stops working within ``ttl``; :meth:`KeyResolver.forget` makes it immediate in this
process. The HMAC is recomputed and compared in constant time on every request, cached
or not, so the cache never accepts a wrong secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import anyio.to_thread

from service.auth.keys import key_matches, key_prefix
from service.auth.principal import Principal
from service.auth.revocation import KeyChanges, watcher_for
from service.auth.store import ApiKeyStore, principal_of
from service.db.engine import Database

MAX_ENTRIES = 10_000
# Compared against when the prefix is unknown, so that case costs the same work.
_NO_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float
    generation: Hashable  # of the revocation watcher when the row was read
    key_hash: str
    principal: Principal | None  # None: unknown prefix or revoked key


class KeyResolver:
    def __init__(
        self,
        database: Database,
        pepper: str,
        *,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        changes: KeyChanges | bool | None = True,
    ) -> None:
        """``changes``: True watches revocations as the database's kind allows
        (:func:`service.auth.revocation.watcher_for`), False or None does not."""
        self._database = database
        self._pepper = pepper
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        if changes is True:
            changes = watcher_for(database.url)
        self._changes: KeyChanges | None = changes or None

    def start(self) -> None:
        """Start watching for revocations (the app's lifespan calls this)."""
        if self._changes is not None:
            self._changes.start()

    def stop(self) -> None:
        if self._changes is not None:
            self._changes.stop()

    async def resolve(self, key: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else."""
        prefix = key_prefix(key)
        if prefix is None:
            key_matches(key, _NO_HASH, self._pepper)
            return None
        now = self._clock()
        generation = self._changes.generation() if self._changes is not None else 0
        entry = self._cache.get(prefix)
        if entry is None or entry.expires <= now or entry.generation != generation:
            # Read before the row: a revocation between the two shows as a change next time.
            entry = await anyio.to_thread.run_sync(self._load, prefix, now, generation)
            if self._ttl > 0 and generation is not None:
                if len(self._cache) >= MAX_ENTRIES:
                    self._cache.clear()
                self._cache[prefix] = entry
        if not key_matches(key, entry.key_hash, self._pepper):
            return None
        return entry.principal

    def forget(self, prefix: str | None = None) -> None:
        """Drop one cached prefix, or all of them."""
        if prefix is None:
            self._cache.clear()
        else:
            self._cache.pop(prefix, None)

    def _load(self, prefix: str, now: float, generation: Hashable | None) -> _Entry:
        with self._database.session() as session:
            row = ApiKeyStore(session, self._pepper).by_prefix(prefix)
        expires = now + self._ttl
        if row is None:
            return _Entry(expires, generation, _NO_HASH, None)
        principal = None if row.revoked_at is not None else principal_of(row)
        return _Entry(expires, generation, row.key_hash, principal)
