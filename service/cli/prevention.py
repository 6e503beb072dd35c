"""``siterisk prevention report INSURER [--events FOLDER] [--json]`` (admin): an
insurer's prevention budgets by district and risk grade from its stored quotes, and,
given an events folder, what its prevention services found there — hazard tickets of
source ``insurer`` within the policies' terms (docs/prevention.md). It reads the
service database, which it names on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from service.cli.stores import connect_database
from service.cli.stores import fail as _fail

app = typer.Typer(
    help="Accident prevention: insurers' budgets and what their services found.",
    no_args_is_help=True,
)


@app.command("report")
def report(
    insurer_id: Annotated[str, typer.Argument(help="The insurer's id, as on its keys.")],
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="An events folder (the event contract): count its insurer hazard tickets.",
            file_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Budgets by district and grade; with --events, the services' findings."""
    import msgspec

    from models.contract import ContractError
    from models.settings import get_settings
    from service.prevention.report import insurer_report, tickets_from_events

    tickets = None
    if events is not None:
        try:
            tickets = tickets_from_events(str(events))
        except ContractError as exc:
            typer.echo(str(exc), err=True)
            _fail(f"{events}: the events folder breaks the event contract", code=2)
    database = connect_database(get_settings())
    try:
        with database.session() as session:
            found = insurer_report(
                session, insurer_id, tickets=tickets, tickets_source=str(events or "") or None
            )
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(msgspec.to_builtins(found), ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"{insurer_id}: {found.policies} policies at {found.sites} sites, prevention budget "
        f"CNY {found.budget_cny:,.2f}, services planned CNY {found.planned_cny:,.2f} "
        f"(grades {found.grade_rules})"
    )
    typer.echo(
        f"{'district':<14}{'grade':<7}{'policies':>9}{'sites':>7}{'budget':>15}{'planned':>15}"
    )
    for c in found.cells:
        typer.echo(
            f"{c.district:<14}{c.grade:<7}{c.policies:>9}{c.sites:>7}"
            f"{c.budget_cny:>15,.2f}{c.planned_cny:>15,.2f}"
        )
    if found.findings is not None:
        typer.echo(f"\nfound by the insurer's services (hazard tickets in {events}):")
        typer.echo(
            f"{'district':<14}{'grade':<7}{'sites':>7}{'tickets':>9}{'major':>7}{'rectified':>11}{'open':>6}"
        )
        for f in found.findings:
            typer.echo(
                f"{f.district:<14}{f.grade:<7}{f.sites:>7}{f.tickets:>9}{f.major:>7}"
                f"{f.rectified:>11}{f.open:>6}"
            )
