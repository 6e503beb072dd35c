"""``siterisk serve``, ``siterisk keys …`` and ``siterisk db …``.

The embedded default database (SQLite) is migrated automatically by ``serve`` and
``keys create``; any other database is migrated only by ``siterisk db upgrade``, so
a schema change on a shared server is always a deliberate step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from service.auth.principal import Role

if TYPE_CHECKING:
    from collections.abc import Sequence

    from models.settings import Settings
    from service.db.tables import ApiKey

keys_app = typer.Typer(
    help="Issue, list, revoke and rotate API keys (keys are shown once, stored hashed).",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The service database and its migrations.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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


def _auto_upgrade(settings: Settings) -> None:
    from service.db import migrate
    from service.db.engine import is_sqlite

    if is_sqlite(settings.db_url):
        migrate.upgrade(settings.db_url)


def _key_store_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    return (OperationalError, ProgrammingError)


def _describe(row: ApiKey) -> str:
    scope = row.insurer_id or row.contractor_id or ",".join(row.districts) or "-"
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
) -> None:
    """Create a key and print it (only it) on stdout; it cannot be shown again."""
    from models.settings import get_settings
    from service.auth.store import ApiKeyStore, KeySpec
    from service.db.engine import Database
    from service.errors import InvalidInputError

    try:
        spec = KeySpec.parse(
            role.value,
            insurer_id=insurer_id,
            contractor_id=contractor_id,
            districts=district or (),
            label=label,
        )
    except InvalidInputError as exc:
        for field in exc.fields:
            typer.echo(f"  {field.field}: {field.message}", err=True)
        _fail(exc.message, code=2)
    settings = get_settings()
    _require_pepper(settings)
    _auto_upgrade(settings)
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            issued = ApiKeyStore(session, settings.key_pepper.get_secret_value()).create(spec)
    except _key_store_errors() as exc:
        _fail(f"cannot store the key in {_safe_url(settings.db_url)}: {exc.__class__.__name__}")
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
    from service.db.engine import Database

    settings = get_settings()
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            rows = ApiKeyStore(session, "").list(include_revoked=not active)
    except _key_store_errors() as exc:
        _fail(
            f"cannot read keys from {_safe_url(settings.db_url)} ({exc.__class__.__name__}); "
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
        scope = row.insurer_id or row.contractor_id or ",".join(row.districts) or "-"
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
    from service.db.engine import Database
    from service.errors import NotFoundError

    settings = get_settings()
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            row = ApiKeyStore(session, "").revoke(key_id)
    except NotFoundError as exc:
        _fail(exc.message)
    except _key_store_errors() as exc:
        _fail(f"cannot revoke in {_safe_url(settings.db_url)}: {exc.__class__.__name__}")
    finally:
        database.dispose()
    typer.echo(f"revoked {_describe(row)}", err=True)


@keys_app.command("rotate")
def keys_rotate(key_id: Annotated[int, typer.Argument(help="The key to replace.")]) -> None:
    """Issue a new key with the same rights, revoke the old one; print only the new key."""
    from models.settings import get_settings
    from service.auth.store import ApiKeyStore
    from service.db.engine import Database
    from service.errors import InvalidInputError, NotFoundError

    settings = get_settings()
    _require_pepper(settings)
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            issued = ApiKeyStore(session, settings.key_pepper.get_secret_value()).rotate(key_id)
    except (NotFoundError, InvalidInputError) as exc:
        _fail(exc.message)
    except _key_store_errors() as exc:
        _fail(f"cannot rotate in {_safe_url(settings.db_url)}: {exc.__class__.__name__}")
    finally:
        database.dispose()
    typer.echo(issued.key)
    typer.echo(f"created {_describe(issued.row)}; revoked key {key_id}", err=True)


# --- db ----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Migrate the database (DATABASE_URL, default the SQLite file in SITERISK_HOME)."""
    from models.settings import get_settings
    from service.db import migrate

    url = get_settings().db_url
    migrate.upgrade(url, revision)
    typer.echo(f"{_safe_url(url)} is at {migrate.current(url)}", err=True)


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one this code knows."""
    from models.settings import get_settings
    from service.db import migrate

    url = get_settings().db_url
    typer.echo(f"database: {migrate.current(url) or 'empty'}\ncode:     {migrate.head()}")


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

    path = migrate.revision(get_settings().db_url, message, autogenerate=autogenerate)
    typer.echo(str(path))


# --- serve -------------------------------------------------------------------------------


def serve(
    host: Annotated[str | None, typer.Option(help="Default SITERISK_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default SITERISK_PORT (8000).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes.")] = None,
) -> None:
    """Run the pricing service with uvicorn."""
    import logging.config

    import uvicorn

    from models.settings import get_settings
    from service.logs import LOG_CONFIG

    settings = get_settings()
    _require_pepper(settings)
    _auto_upgrade(settings)
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
