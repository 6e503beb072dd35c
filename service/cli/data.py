"""``siterisk data push`` and ``data export``: a contract folder into the service's feed,
and the service database out as a contract folder (``data validate`` and ``data generate``
are the training side's: :mod:`training.cli.data`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Push a folder to the service's feed and export its database.", no_args_is_help=True
)


@app.command("push")
def push(
    folder: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=False,
            dir_okay=True,
            metavar="DIR",
            help="A contract folder (sites, site_months, claims as .csv or .parquet).",
        ),
    ],
    url: Annotated[
        str, typer.Option("--url", envvar="SITERISK_URL", help="The service, http://host:port.")
    ],
    key: Annotated[
        str,
        typer.Option(
            "--key",
            envvar="SITERISK_API_KEY",
            help="A platform key (sends sites and months) or an insurer key (its claims).",
        ),
    ],
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows per request.")
    ] = 50_000,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", dir_okay=False, help="Progress file (default under SITERISK_HOME)."
        ),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore earlier progress and send everything.")
    ] = False,
) -> None:
    """Send the tables the key may feed to the service in chunks, with progress; after a
    failure, the same command resumes after the last chunk the service confirmed."""
    from models import stores
    from models.contract import ContractError
    from service.cli.push import PushError, default_state, push_folder

    def echo(line: str) -> None:
        typer.echo(line, err=True)

    state = state or default_state(folder, url, key)
    stores.announce(stores.Store("service", url), stores.Store("push state", str(state)))
    try:
        summary = push_folder(
            folder, url, key, chunk_rows=chunk_rows, state=state, restart=restart, echo=echo
        )
    except ContractError as err:
        noun = "problem" if err.report.total == 1 else "problems"
        typer.echo(f"✗ {folder} breaks the data contract ({err.report.total} {noun}):")
        typer.echo(err.report.render())
        raise typer.Exit(1) from None
    except PushError as err:
        typer.echo(f"✗ {err}")
        if err.report is not None:
            typer.echo(err.report.render())
        raise typer.Exit(1) from None
    sent = ", ".join(f"{n:,} {t}" for t, n in summary.rows.items())
    typer.echo(
        f"✓ pushed {sent} as {summary.role}: {summary.inserted:,} new, "
        f"{summary.updated:,} corrected, {summary.unchanged:,} unchanged "
        f"({summary.chunks} chunks sent, {summary.skipped} confirmed earlier)"
    )
    for warning in summary.warnings:
        typer.echo(f"  warning: {warning}")


@app.command("export")
def export(
    out: Annotated[
        Path, typer.Option("--out", file_okay=False, dir_okay=True, help="Folder to write into.")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="csv or parquet.", case_sensitive=False)
    ] = "parquet",
    insurer_id: Annotated[
        str | None,
        typer.Option("--insurer-id", help="Only this insurer's claims (default: every insurer's)."),
    ] = None,
) -> None:
    """Write the service database's current data (DATABASE_URL, default the SQLite file
    in SITERISK_HOME) as a contract folder, checked like 'data validate', ready for
    'siterisk train --data DIR'."""
    from models.contract import ContractError, load_folder
    from models.contract.summary import describe_folder
    from models.settings import get_settings
    from service.cli.stores import connect_database
    from service.feed.export import ExportError, export_folder

    fmt = fmt.lower()
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("expected csv or parquet", param_hint="--format")
    settings = get_settings()
    database = connect_database(settings)
    try:
        with database.session() as session:
            written = export_folder(session, out, fmt=fmt, insurer_id=insurer_id)
    except ExportError as err:
        typer.echo(f"✗ {err}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    for note in written.notes:
        typer.echo(f"  note: {note}", err=True)
    try:
        data = load_folder(out)
    except ContractError as err:
        typer.echo(f"✗ the export in {out} breaks the data contract:")
        typer.echo(err.report.render())
        raise typer.Exit(1) from None
    typer.echo(describe_folder(out, data))
