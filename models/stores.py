"""The stores a command uses, named the way the command line names them, and whether
they are there (docs/stores.md).

Two stores hold state: the service database (``DATABASE_URL``, default the SQLite file
``siterisk.db`` in the home) and MLflow (``MLFLOW_TRACKING_URI``, default the SQLite
file ``mlflow.db`` in the home, artifacts in ``mlartifacts``). Every command that uses
one says which on stderr, in one line (:func:`announce`); a store that is missing is an
error naming it and what to run (:class:`StoreError`), never a fresh store made on the
spot. Only ``siterisk db upgrade`` (the database) and ``siterisk train`` (MLflow) make
stores. Nothing here creates anything; URLs are printed with their password masked.

Both command lines use this (``training`` and ``service`` never import each other).
"""

from __future__ import annotations

import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from models.settings import Settings

# The MLflow server answers /health; waiting longer than this means it is not there.
PROBE_TIMEOUT: Final = 5.0
# MLflow's own backends on a database server: asked once, briefly, before MLflow retries
# for minutes.
_SQL_SERVERS: Final = ("postgresql", "mysql")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pwd|secret|token)=)[^&]*")


class StoreError(Exception):
    """A store a command needs is missing or does not answer. The message is one line
    naming the store and what to do."""


def mask_url(url: str) -> str:
    """``url`` fit to print: its password (and a ``password=`` in its query) as ``***``."""
    from sqlalchemy.engine import make_url

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads ('databricks', a plain path)
        shown = _mask_userinfo(url)
    return _QUERY_SECRET.sub(r"\1***", shown)


def _mask_userinfo(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (``sqlite:///…``); None for any other store, an
    in-memory database or an SQLite URI filename."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


@dataclass(frozen=True)
class Store:
    """One store as the command line names it: ``database sqlite:////…/siterisk.db``."""

    kind: str  # "database", "mlflow", "model cache", …
    url: str

    def __str__(self) -> str:
        return f"{self.kind} {mask_url(self.url)}"

    @property
    def shown(self) -> str:
        return mask_url(self.url)

    @property
    def file(self) -> Path | None:
        return sqlite_file(self.url)


def database(settings: Settings) -> Store:
    return Store("database", settings.db_url)


def mlflow(settings: Settings) -> Store:
    return Store("mlflow", settings.tracking_uri)


def model_cache(settings: Settings) -> Store:
    return Store("model cache", str(settings.model_cache))


def announce(*stores: Store) -> None:
    """Say on stderr, in one line, which store(s) the command uses."""
    print("store: " + "; ".join(str(store) for store in stores), file=sys.stderr, flush=True)


# --- missing, unreachable ------------------------------------------------------------------


def missing_database(path: Path) -> StoreError:
    return StoreError(
        f"no database at {path}: run `siterisk db upgrade` (or `make demo`) first, or set "
        "SITERISK_HOME (or DATABASE_URL) to where it is"
    )


def missing_mlflow(path: Path) -> StoreError:
    return StoreError(
        f"no MLflow store at {path}: run `siterisk train --data DIR` (or `make demo`) first, "
        "or set SITERISK_HOME (or MLFLOW_TRACKING_URI) to where it is"
    )


def one_line(exc: BaseException, url: str | None = None) -> str:
    """``ErrorClass: the first line of its message``, the password of ``url`` masked in
    it: an error fit for the one line a command prints (of a database error, the
    driver's own)."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    if isinstance(orig, BaseException):
        exc = orig
    text = str(exc).strip()
    text = text.splitlines()[0] if text else ""
    password = url_password(url) if url else None
    if password:
        text = text.replace(password, "***")
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:
        return urllib.parse.urlsplit(url).password


def mlflow_problem(
    settings: Settings, *, may_create: bool = False, timeout: float = PROBE_TIMEOUT
) -> str | None:
    """Why the MLflow store of ``settings`` cannot be used, in one line; None if it can.

    An SQLite store or a local folder store is missing when its file (folder) is absent
    (``may_create``: ``siterisk train`` makes it). A tracking server is asked its
    ``/health`` once; a database server behind MLflow, for one connection. Anything
    else (``databricks``…) is taken as it is."""
    store = mlflow(settings)
    uri = store.url
    path = store.file
    if path is not None:
        return None if may_create or path.is_file() else str(missing_mlflow(path))
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        return _http_problem(store, timeout)
    if scheme == "file" or (not scheme and "://" not in uri):
        folder = Path(urllib.parse.urlsplit(uri).path if scheme else uri).expanduser()
        if may_create or folder.is_dir():
            return None
        return str(missing_mlflow(folder))
    if scheme.split("+")[0] in _SQL_SERVERS:
        return _sql_problem(store, timeout)
    return None


def _http_problem(store: Store, timeout: float) -> str | None:
    parts = urllib.parse.urlsplit(store.url)
    host = parts.netloc.rsplit("@", 1)[-1]  # credentials go in MLflow's variables, not here
    health = urllib.parse.urlunsplit(
        (parts.scheme, host, parts.path.rstrip("/") + "/health", "", "")
    )
    try:
        with urllib.request.urlopen(health, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered (a proxy may want credentials): it is there
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, ssl.SSLError):
            # Something answered; trusting its certificate is MLflow's business (its
            # own CA and TLS settings), not a reason to call the server absent.
            return None
        return (
            f"the MLflow server {store.shown} does not answer ({reason}): start it, or set "
            "MLFLOW_TRACKING_URI to one that does"
        )


def _sql_problem(store: Store, timeout: float) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(
            store.url, poolclass=NullPool, connect_args={"connect_timeout": int(timeout)}
        )
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:
        why = one_line(exc, store.url)
        return f"cannot reach the MLflow store {store.shown} ({why})"
    return None
