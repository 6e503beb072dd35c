"""``siterisk agreements …``: operator commands on incentive agreements (issue 19)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="Incentive agreements: settle closed periods, replay statements.", no_args_is_help=True
)


@app.command("replay")
def replay(
    agreement_id: Annotated[str, typer.Argument(help="The settled agreement's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
) -> None:
    """Recompute an agreement's stored statement from the inputs it recorded and compare
    the bytes: exit 0 when they are the same and the feed still holds the rows it used,
    1 when not, 2 when there is no statement to replay."""
    import msgspec

    from models.settings import get_settings
    from service.agreements.service import replay_statement
    from service.agreements.store import AgreementStore
    from service.cli.stores import connect_database

    database = connect_database(get_settings())
    try:
        with database.session() as session:
            stored = AgreementStore(session).statement_of(agreement_id)
            if stored is None:
                typer.echo(f"no statement of agreement {agreement_id!r}", err=True)
                raise typer.Exit(2)
            report = replay_statement(session, stored)
    finally:
        database.dispose()
    if as_json:
        typer.echo(msgspec.json.encode(report).decode())
    else:
        same = "the same bytes" if report.same_bytes else "DIFFERENT bytes"
        typer.echo(f"statement {report.statement_id}: {report.content_hash}")
        typer.echo(f"replayed:  {report.replayed_hash} ({same})")
        rows = "match" if report.feed_rows_match else f"differ: {', '.join(report.mismatched_rows)}"
        typer.echo(f"the site's rows it used and the feed's versions {rows}")
    if not (report.same_bytes and report.feed_rows_match):
        raise typer.Exit(1)


@app.command("settle-due")
def settle_due() -> None:
    """Issue the statement of every agreement in effect whose period is over (on the
    Shanghai calendar) and that has none yet; run it daily. Prints one line per
    statement issued."""
    from models.settings import get_settings
    from service.agreements.service import AgreementService
    from service.cli.stores import connect_database

    database = connect_database(get_settings())
    try:
        with database.session() as session:
            issued = AgreementService(session).settle_due()
    finally:
        database.dispose()
    for info in issued:
        typer.echo(f"{info.agreement_id} {info.id} {info.content_hash}")
    typer.echo(f"{len(issued)} statement(s) issued", err=True)
