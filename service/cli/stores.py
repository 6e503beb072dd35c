"""The service commands' stores: the database each of them opens (or refuses to), and
MLflow for ``serve``, announced in one line on stderr (:mod:`models.stores`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

from models import stores

if TYPE_CHECKING:
    from models.settings import Settings
    from service.db.engine import Database


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def check_database(settings: Settings, *, upgrade: bool = False) -> stores.Store:
    """The service database, if it is there and has its tables; else a
    :class:`~models.stores.StoreError` naming it and what to run. An SQLite file that
    is missing is never created here; with ``upgrade`` an existing one is migrated to
    this release first (``serve``, ``keys create``)."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.db import migrate

    store = stores.database(settings)
    path = store.file
    if path is not None and not path.is_file():
        raise stores.missing_database(path)
    try:
        if upgrade and path is not None:
            migrate.upgrade(store.url)
        revision = migrate.current(store.url)
    except SQLAlchemyError as exc:
        why = stores.one_line(exc, store.url)
        raise stores.StoreError(f"cannot open the database {store.shown} ({why})") from None
    if revision is None:
        raise stores.StoreError(
            f"the database {store.shown} has no tables yet: run `siterisk db upgrade` first"
        )
    return store


def open_database(settings: Settings, *, upgrade: bool = False, code: int = 1) -> stores.Store:
    """:func:`check_database`, announced; a problem ends the command with ``code``."""
    try:
        store = check_database(settings, upgrade=upgrade)
    except stores.StoreError as exc:
        fail(str(exc), code)
    stores.announce(store)
    return store


def connect_database(settings: Settings, *, upgrade: bool = False) -> Database:
    """:func:`open_database`, then the service's database engine on it."""
    from service.db.engine import Database

    open_database(settings, upgrade=upgrade)
    return Database(settings.db_url)


def needs_registry(settings: Settings) -> bool:
    """Whether the model the service prices with comes from the MLflow registry (a
    ``models:/`` or ``runs:/`` URI, the default champion); a file path does not."""
    return settings.champion_uri.startswith(("models:/", "runs:/"))


def open_serving_stores(settings: Settings) -> None:
    """What ``serve`` needs before it starts: the database (an embedded SQLite one
    migrated to this release) and, for a registry model, an embedded MLflow store that
    is there. Servers are not asked: the service waits for them and says so in
    ``/health/ready`` (and serves a cached model while the registry is away)."""
    try:
        store = check_database(settings, upgrade=True) if _embedded(settings) else None
        used = [store or stores.database(settings)]
        if needs_registry(settings):
            registry = stores.mlflow(settings)
            if registry.file is not None and not registry.file.is_file():
                raise stores.missing_mlflow(registry.file)
            used.append(registry)
    except stores.StoreError as exc:
        fail(str(exc))
    stores.announce(*used)


def _embedded(settings: Settings) -> bool:
    return stores.database(settings).file is not None
