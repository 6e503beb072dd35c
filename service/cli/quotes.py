"""``siterisk quotes …``: helpers for calling the quote API, and replaying stored quotes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

if TYPE_CHECKING:
    from models.settings import Settings
    from models.stores import Store
    from service.model_provider import ModelSnapshot
    from service.quotes.replay import ReplayReport

# A tracking URI no MLflow store answers to: given it, the model provider's registry
# step fails at once, touching (and creating) nothing, and it turns to its local cache.
# ``quotes replay`` uses it when the registry's store is missing.
NO_REGISTRY: Final = "siterisk-no-registry:"
_MODELS_URI: Final = re.compile(
    r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))"
)
# What MLflow answers for a model, version or alias it does not hold (a version that is
# not a number included).
_NOT_THERE: Final = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})

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

    from models import stores
    from models.settings import get_settings
    from service.quotes.replay import ReplayError

    try:
        report = _replay(get_settings(), quote_id, model_uri)
    except (ReplayError, stores.StoreError) as exc:
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


def _replay(settings: Settings, quote_id: str, model_uri: str | None) -> ReplayReport:
    """Find the stored quote, load its model (or ``model_uri``) and replay it; every
    problem a :class:`~service.quotes.replay.ReplayError` (or a
    :class:`~models.stores.StoreError`) of one line."""
    from models import stores
    from service.cli.stores import check_database
    from service.db.engine import Database
    from service.db.tables import Quote
    from service.quotes import replay as replaying

    database_store = check_database(settings)
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            row = session.get(Quote, quote_id) or replaying._by_prefix(session, quote_id)
    finally:
        database.dispose()
    uri = model_uri or row.model_uri
    problem = stores.mlflow_problem(settings) if uri.startswith("models:/") else None
    if problem is None:
        stores.announce(database_store, stores.mlflow(settings))
        snapshot = _load_model(settings, uri, problem)
    else:
        typer.echo(f"note: {problem}; the model comes from the local model cache", err=True)
        stores.announce(database_store, stores.model_cache(settings))
        offline = settings.model_copy(update={"mlflow_tracking_uri": NO_REGISTRY})
        snapshot = _load_model(offline, uri, problem)
    return replaying.replay_quote(row, snapshot)


def _load_model(settings: Settings, uri: str, problem: str | None) -> ModelSnapshot:
    """The model version ``uri`` names, from the registry or the local cache; when
    neither has it, why not: the version does not exist, or the registry is missing or
    does not answer. The provider's own log lines stay out of the command's output."""
    import logging

    from service.quotes.replay import ReplayError, load_model

    quiet = logging.getLogger("service.model_provider")
    saved = quiet.disabled
    quiet.disabled = True
    try:
        return load_model(settings, uri)
    except ReplayError as exc:
        raise ReplayError(_why_not_loaded(settings, uri, problem) or str(exc)) from None
    finally:
        quiet.disabled = saved


def _why_not_loaded(settings: Settings, uri: str, problem: str | None) -> str | None:
    """Why the registry could not give ``uri``; None when it could (the model then
    failed for another reason, which the provider's message says)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from models import stores

    cache = settings.model_cache
    if problem is not None:
        return f"{problem}, and the local model cache {cache} holds no usable copy of {uri}"
    match = _MODELS_URI.fullmatch(uri)
    if match is None:
        return None
    registry = stores.mlflow(settings)
    name, alias, version = match["name"], match["alias"], match["version"]
    what = f"alias '{alias}' of {name}" if alias else f"version {version} of {name}"
    client = MlflowClient(tracking_uri=registry.url, registry_uri=registry.url)
    try:
        if alias:
            client.get_model_version_by_alias(name, alias)
        else:
            client.get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code not in _NOT_THERE:
            return _unreachable(registry, exc, uri, cache)
        return (
            f"{what} does not exist in the registry {registry.shown}"
            f"{_held(client, name)}, and the local model cache {cache} holds no copy of {uri}"
        )
    except Exception as exc:
        return _unreachable(registry, exc, uri, cache)
    return None


def _held(client: Any, name: str) -> str:
    """`` (it holds versions 1, 2)``: what the registry has of ``name`` instead."""
    try:
        found = client.search_model_versions(f"name='{name}'")
    except Exception:  # the answer above is what matters; this is a courtesy
        return ""
    held = sorted((str(v.version) for v in found), key=lambda v: (len(v), v))
    return f" (it holds versions {', '.join(held)})" if held else f" (it holds no {name})"


def _unreachable(registry: Store, exc: Exception, uri: str, cache: Path) -> str:
    from models import stores

    return (
        f"the registry {registry.shown} did not answer ({stores.one_line(exc, registry.url)}), "
        f"and the local model cache {cache} holds no usable copy of {uri}"
    )
