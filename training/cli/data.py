"""``siterisk data validate``, ``data generate`` and ``data aggregate``: check and write
contract-shaped folders, the last from an events folder (``data push`` and ``data
export`` talk to the service: :mod:`service.cli.data`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from models.events.incremental import IncrementalRun

app = typer.Typer(
    help="Validate, generate, aggregate, push and export smart-site data folders.",
    no_args_is_help=True,
)


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
    from models.contract.summary import describe_folder

    try:
        data = load_folder(folder, max_problems=max_problems)
    except ContractError as err:
        noun = "problem" if err.report.total == 1 else "problems"
        typer.echo(f"✗ {folder} breaks the data contract ({err.report.total} {noun}):")
        typer.echo(err.report.render())
        raise typer.Exit(1) from None
    typer.echo(describe_folder(folder, data))


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
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Also write the raw events into OUT/events; site_months is then "
            "aggregated from them (docs/events.md).",
        ),
    ] = False,
    workforce_scale: Annotated[
        float,
        typer.Option(
            "--workforce-scale",
            max=1.0,
            help="With --events: attend with this share of the world's workers "
            "(fewer attendance rows; claims stay the world's).",
        ),
    ] = 1.0,
) -> None:
    """Write a synthetic smart-site world (sites, site_months, claims and the true
    expected loss in truth) to a folder; with --events, its raw events too, and
    site_months as their aggregation."""
    import re
    import time

    from models.contract.spec import MONTH_PATTERN
    from training.synth import FORMATS, generate_world, write_world

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}", param_hint="--format")
    if not re.fullmatch(MONTH_PATTERN, start):
        raise typer.BadParameter("expected YYYY-MM", param_hint="--start")
    if workforce_scale <= 0.0:
        raise typer.BadParameter("must be above 0", param_hint="--workforce-scale")
    if workforce_scale != 1.0 and not events:
        raise typer.BadParameter("only with --events", param_hint="--workforce-scale")
    began = time.perf_counter()
    if events:
        from training.synth.events import write_world_events
        from training.synth.world import simulate

        sim = simulate(sites, seed, months=months, start=start)
        written = write_world_events(
            sim, out, "csv" if fmt == "csv" else "parquet", workforce_scale
        )
        world, paths, n_months = sim.world, written.paths, written.site_months
        counts = ", ".join(f"{n:,} {name}" for name, n in written.events.rows().items())
    else:
        world = generate_world(sites, seed, months=months, start=start)
        paths = write_world(world, out, "csv" if fmt == "csv" else "parquet")
        n_months = len(world.site_months)
    seconds = time.perf_counter() - began
    typer.echo(
        f"✓ wrote {len(world.sites):,} sites, {n_months:,} site-months and "
        f"{len(world.claims):,} claims to {out} ({fmt}, seed {seed}, {seconds:.1f} s)"
    )
    if events:
        typer.echo(f"  events in {out / 'events'}: {counts}")
    for path in paths:
        typer.echo(f"  {path.relative_to(out)}")


@app.command("aggregate")
def aggregate(
    events: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=False,
            dir_okay=True,
            metavar="EVENTS_DIR",
            help="Events folder: sites, claims and the event tables of docs/events.md.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", file_okay=False, dir_okay=True, help="Contract folder to write into."
        ),
    ],
    engine: Annotated[
        str, typer.Option("--engine", help="Engine that runs the SQL: duckdb (embedded) or spark.")
    ] = "duckdb",
    months: Annotated[
        str | None,
        typer.Option(
            "--months",
            metavar="FROM..TO",
            help="Months to write (YYYY-MM..YYYY-MM, either end open); every event is still read.",
        ),
    ] = None,
    max_problems: Annotated[
        int, typer.Option("--max-problems", min=1, help="Problems to list before counting.")
    ] = 50,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Aggregate only the months whose inputs changed since the last "
            "--incremental run into DIR (its manifest); keep the other months' rows.",
        ),
    ] = False,
) -> None:
    """Check an events folder against the event contract and write the monthly
    contract folder it defines: sites and claims as they are, site_months computed
    from the events (docs/events.md). Exit 1 and list the problems if the events
    break their contract; nothing is written then."""
    import time

    from models.contract import ContractError, load_folder
    from models.events.aggregate import ENGINES, Aggregated, aggregate_folder, parse_months
    from models.events.incremental import MANIFEST, aggregate_incremental

    engine = engine.lower()
    if engine not in ENGINES:
        raise typer.BadParameter(f"expected one of {', '.join(ENGINES)}", param_hint="--engine")
    if incremental and engine != "duckdb":
        raise typer.BadParameter("--incremental runs on duckdb", param_hint="--engine")
    try:
        asked = parse_months(months) if months is not None else None
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--months") from None
    began = time.perf_counter()
    try:
        if engine == "duckdb":
            # a full run is an incremental one that computes every month: it checks the
            # folder once, names the months it cannot aggregate and leaves the manifest
            run = aggregate_incremental(
                events, out, months=asked, max_problems=max_problems, full=not incremental
            )
            done = Aggregated(run.out, run.files, run.rows, run.months, run.warnings)
        else:
            done = aggregate_folder(
                events, out, engine=engine, months=asked, max_problems=max_problems
            )
            done.warnings.extend(_unaggregated(events, asked))
            # no manifest of an engine's run: the next --incremental run starts afresh
            (out / MANIFEST).unlink(missing_ok=True)
    except ContractError as err:
        noun = "problem" if err.report.total == 1 else "problems"
        typer.echo(f"✗ {events} breaks the event contract ({err.report.total} {noun}):")
        typer.echo(err.report.render())
        raise typer.Exit(1) from None
    if incremental:
        _report_incremental(run, time.perf_counter() - began)
        return
    for warning in done.warnings:
        typer.echo(f"! {warning}")
    try:
        load_folder(out, max_problems=max_problems)
    except ContractError as err:  # pragma: no cover - the SQL writes the contract's shape
        typer.echo(f"✗ the folder written to {out} breaks the data contract:")
        typer.echo(err.report.render())
        raise typer.Exit(1) from None
    seconds = time.perf_counter() - began
    span = f"{done.months[0]}..{done.months[-1]}" if done.months else "no months"
    typer.echo(
        f"✓ wrote {done.rows:,} site-months ({span}) with sites and claims to {out} "
        f"({engine}, {seconds:.1f} s)"
    )
    for path in done.files.values():
        typer.echo(f"  {path.name}")


def _report_incremental(run: IncrementalRun, seconds: float) -> None:
    from models.contract import ContractError, load_folder

    for warning in run.warnings:
        typer.echo(f"! {warning}")
    if run.written:
        try:
            load_folder(run.out)
        except ContractError as err:  # pragma: no cover - the SQL writes the contract's shape
            typer.echo(f"✗ the folder written to {run.out} breaks the data contract:")
            typer.echo(err.report.render())
            raise typer.Exit(1) from None
    span = f"{run.months[0]}..{run.months[-1]}" if run.months else "no months"
    computed = (
        ", ".join(run.computed)
        if len(run.computed) <= 6
        else (f"{run.computed[0]} .. {run.computed[-1]}")
    )
    if not run.written:
        typer.echo(f"✓ {run.out} is up to date: {run.rows:,} site-months ({span}), nothing changed")
        return
    typer.echo(
        f"✓ {run.out}: {run.rows:,} site-months ({span}); aggregated {len(run.computed)} of "
        f"{len(run.months)} months{f' ({computed})' if run.computed else ''}, "
        f"removed {len(run.removed)} ({seconds:.1f} s)"
    )
    for name in run.written:
        typer.echo(f"  {name}")


def _unaggregated(events: Path, months: tuple[str | None, str | None] | None) -> list[str]:
    """Site-months with events but no attendance (read again: the engine's run does not
    keep the checked folder open)."""
    from models.events.load import load_events
    from models.events.unaggregated import unaggregated_months

    folder = load_events(events)
    try:
        return unaggregated_months(folder, months)
    finally:
        folder.con.close()
