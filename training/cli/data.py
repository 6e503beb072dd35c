"""``siterisk data …``: validate and generate contract-shaped folders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from models.contract import ContractData

app = typer.Typer(help="Validate and generate smart-site data folders.", no_args_is_help=True)


@app.command("validate")
def validate(
    folder: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=False,
            dir_okay=True,
            metavar="DIR",
            help="Folder holding sites, site_months and claims as .parquet or .csv.",
        ),
    ],
    max_problems: Annotated[
        int, typer.Option("--max-problems", min=1, help="Problems to list before counting.")
    ] = 50,
) -> None:
    """Check a folder against the data contract; exit 1 and list the problems if it
    breaks it."""
    from models.contract import ContractError, load_folder

    try:
        data = load_folder(folder, max_problems=max_problems)
    except ContractError as err:
        noun = "problem" if err.report.total == 1 else "problems"
        typer.echo(f"✗ {folder} breaks the data contract ({err.report.total} {noun}):")
        typer.echo(err.report.render())
        raise typer.Exit(1) from None
    typer.echo(_summary(folder, data))


def _summary(folder: Path, data: ContractData) -> str:
    from models.contract.spec import CONTRACT_VERSION

    months = data.site_months["month"]
    lines = [f"✓ {folder} follows the data contract (v{CONTRACT_VERSION})"]
    for table, frame in (
        ("sites", data.sites),
        ("site_months", data.site_months),
        ("claims", data.claims),
    ):
        source = data.sources[table].name if table in data.sources else table
        lines.append(f"  {table:<12} {len(frame):>10,} rows  ({source})")
    lines.append(
        f"  {data.sites['site_id'].nunique():,} sites, months {months.min()} to {months.max()}, "
        f"{len(data.claims):,} claims"
    )
    lines += [f"  warning: {w}" for w in data.warnings]
    return "\n".join(lines)


@app.command("generate")
def generate(
    sites: Annotated[int, typer.Option("--sites", min=1, help="Number of sites to draw.")],
    out: Annotated[
        Path,
        typer.Option("--out", file_okay=False, dir_okay=True, help="Folder to write into."),
    ],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same files.")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="File format: csv or parquet.", case_sensitive=False)
    ] = "csv",
    months: Annotated[
        int, typer.Option("--months", min=1, help="Months observed from --start.")
    ] = 36,
    start: Annotated[str, typer.Option("--start", help="First month, YYYY-MM.")] = "2023-01",
) -> None:
    """Write a synthetic smart-site world (sites, site_months, claims and the true
    expected loss in truth) to a folder."""
    import re
    import time

    from models.contract.spec import MONTH_PATTERN
    from training.synth import FORMATS, generate_world, write_world

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}", param_hint="--format")
    if not re.fullmatch(MONTH_PATTERN, start):
        raise typer.BadParameter("expected YYYY-MM", param_hint="--start")
    began = time.perf_counter()
    world = generate_world(sites, seed, months=months, start=start)
    paths = write_world(world, out, "csv" if fmt == "csv" else "parquet")
    seconds = time.perf_counter() - began
    typer.echo(
        f"✓ wrote {len(world.sites):,} sites, {len(world.site_months):,} site-months and "
        f"{len(world.claims):,} claims to {out} ({fmt}, seed {seed}, {seconds:.1f} s)"
    )
    for path in paths:
        typer.echo(f"  {path.name}")


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
    from models.contract import ContractError
    from training.cli.push import PushError, push_folder

    def echo(line: str) -> None:
        typer.echo(line, err=True)

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
    from models.settings import get_settings
    from service.db.engine import Database
    from service.feed.export import ExportError, export_folder

    fmt = fmt.lower()
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("expected csv or parquet", param_hint="--format")
    database = Database(get_settings().db_url)
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
    typer.echo(_summary(out, data))
