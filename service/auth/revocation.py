"""A revoked key stops working at once, in every process, though keys are cached.

Resolving a key from the database on every request costs a worker-thread hop and a
query (about a millisecond); the resolver therefore caches keys for up to
``auth_cache_seconds``. To keep revocation immediate anyway, whoever revokes or
rotates a key announces it (:func:`announce`), and every resolver watches for
announcements (:class:`KeyChanges`) and drops its cache when one arrives:

- **SQLite** (all processes on one machine, by SQLite's nature): a marker file next to
  the database, replaced after the revocation commits; a watcher compares its identity
  (inode, mtime) on each request, a ``stat`` of a few microseconds.
- **PostgreSQL** (processes on many machines): ``NOTIFY siterisk_api_keys`` in the
  revoking transaction, delivered when it commits, and one ``LISTEN`` connection per
  process in a background thread.

Whenever a watcher cannot tell (marker unreadable, listener not connected) it says so
(``generation() is None``) and the resolver asks the database on every request, so
a broken watcher costs speed, never correctness.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Hashable
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from service.db.engine import is_sqlite, normalise_url

log = logging.getLogger(__name__)

CHANNEL = "siterisk_api_keys"
MARKER_SUFFIX = ".keys-changed"


class KeyChanges(Protocol):
    def generation(self) -> Hashable | None:
        """Changes whenever a key is revoked; None when that cannot be known now."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def marker_path(url: str) -> Path | None:
    """The marker file of an SQLite database file; None for anything else."""
    if not is_sqlite(url):
        return None
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser().resolve().with_name(Path(database).name + MARKER_SUFFIX)


def announce(session: Session) -> None:
    """Inside the revoking transaction, before it commits (PostgreSQL notifies then)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def announce_committed(session: Session) -> None:
    """After the revoking transaction committed: replace the SQLite marker. Done after
    the commit so a watcher that reacts at once reads the revoked row, not the old one."""
    path = marker_path(session.get_bind().engine.url.render_as_string(hide_password=False))
    if path is None:
        return
    try:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        tmp.write_text(secrets.token_hex(8), encoding="ascii")
        os.replace(tmp, path)  # a new inode: the watchers' identity check sees it
    except OSError as exc:
        log.warning("cannot announce a key revocation in %s: %s", path, exc)


class MarkerFileChanges:
    """Watches the SQLite marker file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def generation(self) -> Hashable | None:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return 0  # no key was ever revoked here
        except OSError:
            return None
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class PostgresKeyChanges:
    """``LISTEN`` for revocations in a background thread, reconnecting after failures."""

    def __init__(self, url: str, *, retry_seconds: float = 1.0) -> None:
        parsed = make_url(normalise_url(url))
        self._conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._retry = retry_seconds
        self._lock = threading.Lock()
        self._count = 0
        self._listening = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def generation(self) -> Hashable | None:
        with self._lock:
            return self._count if self._listening else None

    def _bump(self, *, listening: bool) -> None:
        with self._lock:
            self._count += 1
            self._listening = listening

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="key-revocations", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            self._listening = False

    def _run(self) -> None:
        import psycopg

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Anything revoked while not listening is unknown: start afresh.
                    self._bump(listening=True)
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._bump(listening=True)
            except psycopg.Error as exc:
                log.warning("not listening for key revocations (asking the database): %s", exc)
            finally:
                with self._lock:
                    self._listening = False
            self._stopping.wait(self._retry)


def watcher_for(url: str) -> KeyChanges | None:
    """How processes using the database at ``url`` learn of revocations, if they can."""
    if (path := marker_path(url)) is not None:
        return MarkerFileChanges(path)
    if make_url(normalise_url(url)).get_backend_name() == "postgresql":
        return PostgresKeyChanges(url)
    return None
