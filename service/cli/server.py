"""``siterisk serve``, ``siterisk keys …`` and ``siterisk db …``.

Each says on stderr which database it uses. Only ``siterisk db upgrade`` makes a
database: every other command refuses a missing one, naming it and what to run
(docs/stores.md). An embedded SQLite database that is there is migrated to this release
by ``serve`` and ``keys create``; any other database is migrated only by ``siterisk db
upgrade``, so a schema change on a shared server is always a deliberate step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from models.stores import mask_url
from service.auth.principal import Role
from service.cli.stores import connect_database, open_database, open_serving_stores
from service.cli.stores import fail as _fail

if TYPE_CHECKING:
    from collections.abc import Sequence

    from models.settings import Settings
    from service.db.tables import ApiKey

keys_app = typer.Typer(
    help="Issue, list, revoke and rotate API keys (keys are shown once, stored hashed).",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The service database and its migrations.", no_args_is_help=True)


def _require_pepper(settings: Settings) -> None:
    """Secrets come from the environment: outside development the built-in pepper,
    which anyone can read in the source, is refused rather than used."""
    if settings.pepper_is_dev_default and not settings.is_dev:
        _fail(
            f"SITERISK_KEY_PEPPER is not set and SITERISK_ENV is {settings.env!r}: set it to a "
            "long random secret (the built-in pepper is public), or SITERISK_ENV=dev on a "
            "development machine",
            code=2,
        )


def _key_store_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    return (OperationalError, ProgrammingError)


def _describe(row: ApiKey) -> str:
    scope = row.insurer_id or row.contractor_id or row.owner_id or ",".join(row.districts) or "-"
    return f"key {row.id} ({row.role}, {scope}, prefix {row.prefix})"


# --- keys ---------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option("--role", help="What the key may do.")],
    insurer_id: Annotated[
        str | None, typer.Option("--insurer-id", help="Required for insurer keys.")
    ] = None,
    contractor_id: Annotated[
        str | None, typer.Option("--contractor-id", help="Required for contractor keys.")
    ] = None,
    district: Annotated[
        list[str] | None,
        typer.Option("--district", help="Regulator keys: a district code, repeatable, or 'all'."),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A note for people.")] = None,
    owner_id: Annotated[
        str | None, typer.Option("--owner-id", help="Required for owner keys.")
    ] = None,
) -> None:
    """Create a key and print it (only it) on stdout; it cannot be shown again."""
    from models.settings import get_settings
    from service.auth.store import ApiKeyStore, KeySpec
    from service.errors import InvalidInputError

    try:
        spec = KeySpec.parse(
            role.value,
            insurer_id=insurer_id,
            contractor_id=contractor_id,
            districts=district or (),
            label=label,
            owner_id=owner_id,
        )
    except InvalidInputError as exc:
        for field in exc.fields:
            typer.echo(f"  {field.field}: {field.message}", err=True)
        _fail(exc.message, code=2)
    settings = get_settings()
    _require_pepper(settings)
    database = connect_database(settings, upgrade=True)
    try:
        with database.session() as session:
            issued = ApiKeyStore(session, settings.key_pepper.get_secret_value()).create(spec)
    except _key_store_errors() as exc:
        _fail(f"cannot store the key in {mask_url(settings.db_url)}: {exc.__class__.__name__}")
    finally:
        database.dispose()
    typer.echo(issued.key)
    typer.echo(f"created {_describe(issued.row)}; keep the key, it is stored only hashed", err=True)


@keys_app.command("list")
def keys_list(
    active: Annotated[bool, typer.Option("--active", help="Hide revoked keys.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """List keys (never their secrets)."""
    from models.settings import get_settings
    from service.auth.store import ApiKeyStore

    settings = get_settings()
    database = connect_database(settings)
    try:
        with database.session() as session:
            rows = ApiKeyStore(session, "").list(include_revoked=not active)
    except _key_store_errors() as exc:
        _fail(
            f"cannot read keys from {mask_url(settings.db_url)} ({exc.__class__.__name__}); "
            "run 'siterisk db upgrade' first?"
        )
    finally:
        database.dispose()
    if as_json:
        _print_json(rows)
    else:
        _print_table(rows)


def _print_json(rows: Sequence[ApiKey]) -> None:
    import json

    payload = [row.model_dump(mode="json", exclude={"key_hash"}) for row in rows]
    typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))


def _print_table(rows: Sequence[ApiKey]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} API keys")
    for name in ("id", "prefix", "role", "scope", "label", "created", "revoked"):
        # the prefix is what finds a key: never cut or wrapped; the other columns give way
        if name == "prefix":
            width = max((len(r.prefix) for r in rows), default=len(name))
            table.add_column(name, no_wrap=True, min_width=width)
        else:
            table.add_column(name, overflow="fold")
    for row in rows:
        scope = (
            row.insurer_id or row.contractor_id or row.owner_id or ",".join(row.districts) or "-"
        )
        table.add_row(
            str(row.id),
            row.prefix,
            row.role,
            scope,
            row.label or "",
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see 'keys list').")],
) -> None:
    """Revoke a key; running services stop accepting it at once."""
    from models.settings import get_settings
    from service.auth.store import ApiKeyStore
    from service.errors import NotFoundError

    settings = get_settings()
    database = connect_database(settings)
    try:
        with database.session() as session:
            row = ApiKeyStore(session, "").revoke(key_id)
    except NotFoundError as exc:
        _fail(exc.message)
    except _key_store_errors() as exc:
        _fail(f"cannot revoke in {mask_url(settings.db_url)}: {exc.__class__.__name__}")
    finally:
        database.dispose()
    typer.echo(f"revoked {_describe(row)}", err=True)


@keys_app.command("rotate")
def keys_rotate(key_id: Annotated[int, typer.Argument(help="The key to replace.")]) -> None:
    """Issue a new key with the same rights, revoke the old one; print only the new key."""
    from models.settings import get_settings
    from service.auth.store import ApiKeyStore
    from service.errors import ConflictError, NotFoundError

    settings = get_settings()
    _require_pepper(settings)
    database = connect_database(settings)
    try:
        with database.session() as session:
            issued = ApiKeyStore(session, settings.key_pepper.get_secret_value()).rotate(key_id)
    except (NotFoundError, ConflictError) as exc:
        _fail(exc.message)
    except _key_store_errors() as exc:
        _fail(f"cannot rotate in {mask_url(settings.db_url)}: {exc.__class__.__name__}")
    finally:
        database.dispose()
    typer.echo(issued.key)
    typer.echo(f"created {_describe(issued.row)}; revoked key {key_id}", err=True)


# --- db ----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Make or migrate the database (DATABASE_URL, default the SQLite file in the home,
    SITERISK_HOME): the one command that creates it."""
    from sqlalchemy.exc import SQLAlchemyError

    from models import stores
    from models.settings import get_settings
    from service.db import migrate

    store = stores.database(get_settings())
    stores.announce(store)
    try:
        migrate.upgrade(store.url, revision)
        now = migrate.current(store.url)
    except SQLAlchemyError as exc:
        _fail(f"cannot migrate the database {store.shown} ({stores.one_line(exc, store.url)})")
    typer.echo(f"{store.shown} is at {now}", err=True)


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one this code knows."""
    from sqlalchemy.exc import SQLAlchemyError

    from models import stores
    from models.settings import get_settings
    from service.db import migrate

    store = stores.database(get_settings())
    if store.file is not None and not store.file.is_file():
        _fail(str(stores.missing_database(store.file)))
    try:
        now = migrate.current(store.url)
    except SQLAlchemyError as exc:
        _fail(f"cannot open the database {store.shown} ({stores.one_line(exc, store.url)})")
    stores.announce(store)
    typer.echo(f"database: {now or 'empty'}\ncode:     {migrate.head()}")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(help="What the migration does.")],
    autogenerate: Annotated[
        bool, typer.Option(help="Diff the tables against the (upgraded) database.")
    ] = True,
) -> None:
    """For developers: write a new migration file to review and commit."""
    from models.settings import get_settings
    from service.db import migrate

    settings = get_settings()
    open_database(settings)
    path = migrate.revision(settings.db_url, message, autogenerate=autogenerate)
    typer.echo(str(path))


# --- serve -------------------------------------------------------------------------------


def serve(
    host: Annotated[str | None, typer.Option(help="Default SITERISK_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default SITERISK_PORT (8000).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes. Default SITERISK_WORKERS, else one per CPU this "
            "process may use.",
        ),
    ] = None,
) -> None:
    """Run the pricing service with uvicorn: one worker process per available CPU
    unless ``--workers`` or ``SITERISK_WORKERS`` says otherwise."""
    import logging.config

    import uvicorn

    from models.settings import get_settings
    from service.logs import LOG_CONFIG

    settings = get_settings()
    _require_pepper(settings)
    open_serving_stores(settings)
    logging.config.dictConfig(LOG_CONFIG)
    uvicorn.run(
        "service.asgi:app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        server_header=False,
        log_config=LOG_CONFIG,
    )
