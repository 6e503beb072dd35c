"""``siterisk quotes …``: helpers for calling the quote API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Helpers for the quote API.", no_args_is_help=True)


@app.command("example")
def example(
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="A folder in the data contract's shape.", file_okay=False, exists=True
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="JSON file to write; default stdout."),
    ] = None,
    site: Annotated[
        str | None, typer.Option("--site", help="site_id; default a site active at the end.")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="Policy start, YYYY-MM; default the month after the data."),
    ] = None,
    months: Annotated[
        int, typer.Option("--months", min=1, max=36, help="Months of history to send.")
    ] = 12,
    term: Annotated[int, typer.Option("--term", min=1, max=60, help="Policy term in months.")] = 12,
) -> None:
    """Write a POST /v1/quotes body for one site of a contract folder: its row, its last
    months before the policy start and its claims before it."""
    import json

    from models.contract import ContractError, load_folder
    from service.quotes.example import ExampleError, example_request

    try:
        contract = load_folder(data)
    except ContractError as exc:
        typer.echo(exc.report.render(), err=True)
        typer.secho(f"error: {data} does not follow the data contract", fg="red", err=True)
        raise typer.Exit(1) from None
    try:
        body = example_request(
            contract.sites,
            contract.site_months,
            contract.claims,
            site_id=site,
            start_month=start,
            months=months,
            term_months=term,
        )
    except ExampleError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    text = json.dumps(body, ensure_ascii=False, indent=1) + "\n"
    summary = (
        f"site {body['site']['site_id']} from {body['policy']['start_month']}: "
        f"{len(body['months'])} months, {len(body['claims'])} claims"
    )
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        summary = f"wrote {out}: {summary}"
    typer.echo(summary, err=True)


@app.command("replay")
def replay(
    quote_id: Annotated[
        str, typer.Argument(help="The stored quote's id, or a unique start of it.")
    ],
    model_uri: Annotated[
        str | None,
        typer.Option("--model-uri", help="Price with this model instead of the recorded version."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
) -> None:
    """Re-price a stored quote with its recorded model version and rule versions and
    compare: exit 0 when every figure matches (money to the cent), 1 listing the
    differences when not, 2 when it cannot be replayed."""
    import json

    from models.settings import get_settings
    from service.quotes.replay import ReplayError
    from service.quotes.replay import replay as replay_quote

    try:
        report = replay_quote(get_settings(), quote_id, model_uri=model_uri)
    except ReplayError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=1))
    else:
        typer.echo(
            f"quote {report.quote_id}: {report.model_uri} ({report.model_source}), "
            f"tariff {report.tariff_version}, band {report.band_version}, "
            f"incentives {report.incentive_version}"
        )
        typer.echo(
            f"priced by release {report.stored_service_version or '(not recorded)'}, "
            f"replayed by release {report.replay_service_version}"
        )
        if report.stored_plan_version == report.replay_plan_version:
            typer.echo(f"rating plan {report.stored_plan_version}")
        else:
            typer.echo(
                f"rating plan differs: priced with {report.stored_plan_version}, replayed with "
                f"{report.replay_plan_version} (the earlier plan is not in this release)"
            )
        replayed = report.replayed_final_premium_cny
        typer.echo(
            f"final premium: stored CNY {report.stored_final_premium_cny:,.2f}, "
            f"replayed CNY {replayed:,.2f}"
            if replayed is not None
            else "not priced"
        )
        for diff in report.differences:
            typer.echo(
                f"  differs  {diff.path}: stored {diff.stored!r}, replayed {diff.replayed!r}"
            )
        if report.added:
            typer.echo(f"  fields this release adds (not compared): {', '.join(report.added)}")
        typer.echo("MATCH" if report.matched else f"MISMATCH in {len(report.differences)} fields")
    if not report.matched:
        raise typer.Exit(1)
