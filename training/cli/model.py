"""``siterisk train``, ``siterisk score`` and ``siterisk model …``.

Each says on stderr which MLflow store it uses. Only ``train`` makes one: the others
refuse a missing store, naming it and what to run (docs/stores.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from models.settings import Settings

app = typer.Typer(help="Compare, promote and list registered models.", no_args_is_help=True)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data", help="A folder in the data contract's shape.", file_okay=False, exists=True
    ),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _open_mlflow(settings: Settings, *, may_create: bool = False) -> None:
    """Say which MLflow store the command uses; end it when the store is missing (unless
    ``may_create``) or its server does not answer."""
    from models import stores

    problem = stores.mlflow_problem(settings, may_create=may_create)
    if problem is not None:
        _fail(problem)
    stores.announce(stores.mlflow(settings))


def train(
    data: DataDir,
    register: Annotated[
        bool, typer.Option(help="Register the model as a new 'challenger' version.")
    ] = True,
) -> None:
    """Train on a contract folder, log the run to MLflow, register a challenger."""
    from rich.console import Console
    from rich.table import Table

    from models.contract import ContractError
    from models.settings import get_settings
    from models.stores import mask_url
    from training.dataset import TrainingDataError
    from training.pipeline import run_training

    console = Console(stderr=True)
    settings = get_settings()
    _open_mlflow(settings, may_create=True)
    try:
        with console.status("starting") as status:

            def progress(step: str) -> None:
                status.update(step)
                console.log(step)

            outcome, version, run_id = run_training(
                data, settings, register=register, progress=progress
            )
    except ContractError as exc:
        typer.echo(exc.report.render(), err=True)
        _fail(f"{data} does not follow the data contract; no model was trained")
    except TrainingDataError as exc:
        _fail(f"{exc}; no model was trained")

    ev = outcome.evaluation
    table = Table(title=f"Test months {outcome.split.test[0]}..{outcome.split.test[-1]}")
    keys = ["gini", "deviance", "ae", "ae_decile_min", "ae_decile_max"]
    if "gini_share_of_oracle" in ev.metrics["model"]:
        keys += [
            "gini_share_of_oracle",
            "spearman_truth",
            "expected_over_truth",
            "ae_truth_decile_min",
            "ae_truth_decile_max",
        ]
    table.add_column("metric")
    for name in ev.metrics:
        table.add_column(name, justify="right")
    for key in keys:
        table.add_row(key, *(f"{ev.metrics[n].get(key, float('nan')):.4f}" for n in ev.metrics))
    out = Console()
    out.print(table)
    for key, value in ev.truth_oracles.items():
        out.print(f"{key}: {value:.4f} (the best any model could reach from last month's state)")
    from training.tracking import training_adequacy

    typer.echo("")
    typer.echo(training_adequacy(outcome, data).to_text())
    typer.echo("")
    out.print(f"MLflow run {run_id}; tracking store {mask_url(settings.tracking_uri)}")
    if version:
        out.print(
            f"Registered {settings.registered_model_name} version {version} as 'challenger'. "
            "Next: 'siterisk model promote'."
        )


def score(
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="CSV or Parquet file to write.")],
    model: Annotated[
        str | None, typer.Option("--model", help="Model URI; default the champion.")
    ] = None,
) -> None:
    """Expected claims and loss for every site-month, each from data before that month."""
    from models.contract import ContractError, load_folder
    from models.mlflow_model import load_bundle
    from models.settings import get_settings
    from training import tracking
    from training.score import score_data

    settings = get_settings()
    uri = model or settings.champion_uri
    if uri.startswith(("models:/", "runs:/")):  # a model of the store; a path needs none
        _open_mlflow(settings)
        tracking.configure(settings)
    try:
        bundle = load_bundle(uri)
    except Exception as exc:
        _fail(f"cannot load model {uri}: {exc}")
    try:
        data_ = load_folder(data)
    except ContractError as exc:
        typer.echo(exc.report.render(), err=True)
        _fail(f"{data} does not follow the data contract")
    try:
        scores = score_data(data_, bundle)
    except ValueError as exc:
        _fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        scores.to_parquet(out, index=False)
    else:
        scores.to_csv(out, index=False)
    typer.echo(f"wrote {len(scores)} rows to {out} with model {uri}")


PromoteData = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Contract folder to compare on; default the challenger's training data."
    ),
]


@dataclass
class _Pair:
    name: str
    challenger: Any  # ModelVersion
    champion: Any | None
    folder: Path
    comparison: Any  # training.promote.Comparison


def _compare_pair(data: Path | None) -> _Pair | None:
    """Resolve challenger and champion, load both and the data, compare and print.
    None when the challenger already is the champion."""
    from mlflow.exceptions import MlflowException
    from rich.console import Console
    from rich.table import Table

    from models.contract import ContractError, load_folder
    from models.mlflow_model import load_bundle
    from models.settings import get_settings
    from training import tracking
    from training.dataset import read_truth
    from training.promote import compare, summary_text

    settings = get_settings()
    _open_mlflow(settings)
    client = tracking.configure(settings)
    name = settings.registered_model_name
    try:
        challenger = client.get_model_version_by_alias(name, tracking.CHALLENGER)
    except MlflowException:
        _fail(f"no '{tracking.CHALLENGER}' version of {name}: run 'siterisk train' first")
    try:
        champion = client.get_model_version_by_alias(name, tracking.CHAMPION)
    except MlflowException:
        champion = None
    if champion is not None and champion.version == challenger.version:
        typer.echo(f"version {challenger.version} is already the champion")
        return None
    folder = data
    if folder is None and challenger.run_id:
        src = client.get_run(challenger.run_id).data.params.get("data_dir")
        folder = Path(src) if src else None
    if folder is None or not folder.exists():
        _fail("the challenger's training data is not available here: pass --data DIR")
    assert folder is not None
    try:
        contract = load_folder(folder)
    except ContractError as exc:
        typer.echo(exc.report.render(), err=True)
        _fail(f"{folder} does not follow the data contract")
    ch_bundle = load_bundle(tracking.model_version_uri(settings, challenger.version))
    cp_bundle = (
        load_bundle(tracking.model_version_uri(settings, champion.version)) if champion else None
    )
    comparison = compare(ch_bundle, cp_bundle, contract, truth=read_truth(folder))
    console = Console()
    table = Table(title=f"Test months {comparison.months[0]}..{comparison.months[-1]}")
    table.add_column("metric")
    table.add_column(f"challenger v{challenger.version}", justify="right")
    if comparison.champion is not None and champion is not None:
        table.add_column(f"champion v{champion.version}", justify="right")
    for key, value in comparison.challenger.items():
        row = [key, f"{value:.4f}"]
        if comparison.champion is not None:
            row.append(f"{comparison.champion[key]:.4f}")
        table.add_row(*row)
    console.print(table)
    summary = summary_text(comparison)
    if summary:
        typer.echo(summary)
    return _Pair(name, challenger, champion, folder, comparison)


@app.command("compare")
def compare_versions(data: PromoteData = None) -> None:
    """Compare 'challenger' with 'champion' on the latest test months; promote nothing.

    Model metrics, the dislocation of the final premium and the rate adequacy of both,
    and whether promotion would go ahead."""
    pair = _compare_pair(data)
    if pair is None:
        return
    if pair.comparison.not_worse:
        typer.echo("Promotion would go ahead.")
        return
    typer.echo("Promotion would be refused:")
    for reason in pair.comparison.reasons:
        typer.echo(f"- {reason}")


@app.command()
def promote(
    data: PromoteData = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if worse; recorded in MLflow.")
    ] = False,
) -> None:
    """Compare 'challenger' with 'champion' on the latest test months and promote if not
    worse: model metrics, rate adequacy, premium dislocation and off-balance within the
    rating plan's limits."""
    import tempfile

    from models.settings import get_settings
    from training import tracking
    from training.promote import log_comparison

    pair = _compare_pair(data)
    if pair is None:
        return
    comparison, challenger, champion = pair.comparison, pair.challenger, pair.champion
    forced = force and not comparison.not_worse
    promoted = comparison.not_worse or force
    with tempfile.TemporaryDirectory() as tmp:
        run_id = log_comparison(
            comparison,
            promoted,
            forced,
            {
                "challenger_version": challenger.version,
                "champion_version": champion.version if champion else "none",
                "data_dir": pair.folder,
            },
            Path(tmp),
        )
    if not promoted:
        for reason in comparison.reasons:
            typer.echo(f"- {reason}")
        _fail("challenger is worse than the champion: not promoted (use --force to override)")
    client = tracking.configure(get_settings())
    client.set_registered_model_alias(pair.name, tracking.CHAMPION, challenger.version)
    if forced:
        client.set_model_version_tag(pair.name, challenger.version, "forced_promotion", "true")
        typer.echo("Forced: promoted although")
        for reason in comparison.reasons:
            typer.echo(f"- {reason}")
        typer.echo(f"The override is recorded in MLflow run {run_id} (tag and param 'forced').")
    typer.echo(f"Version {challenger.version} of {pair.name} is now the champion.")


@app.command("list")
def list_versions() -> None:
    """Registered versions, newest first: aliases (the champion marked), when each was
    made, its training run, its test months and the test metrics training logged."""
    from models.settings import get_settings
    from training import tracking

    settings = get_settings()
    _open_mlflow(settings)
    client = tracking.configure(settings)
    name = settings.registered_model_name
    found = client.search_model_versions(f"name='{name}'")
    if not found:
        typer.echo(f"no registered versions of {name} yet: run 'siterisk train --data DIR'")
        return
    versions = sorted(found, key=lambda v: int(v.version), reverse=True)
    # A search does not fill in aliases: the registered model holds them.
    aliases = _aliases(client.get_registered_model(name).aliases or {})
    champion = next((v for v, held in aliases.items() if tracking.CHAMPION in held), None)
    count = f"{len(versions)} version{'s' if len(versions) > 1 else ''}"
    typer.echo(
        f"{name}: {count}; "
        + (
            f"* marks the champion (version {champion}), which the service prices with"
            if champion
            else "no champion yet: 'siterisk model promote'"
        )
    )
    for v in versions:
        for line in _version_lines(client, v, aliases.get(str(v.version), [])):
            typer.echo(line)


def _aliases(by_alias: dict[str, Any]) -> dict[str, list[str]]:
    """Each version's aliases, the champion first."""
    from training import tracking

    out: dict[str, list[str]] = {}
    for alias, version in by_alias.items():
        out.setdefault(str(version), []).append(alias)
    for held in out.values():
        held.sort(key=lambda alias: (alias != tracking.CHAMPION, alias))
    return out


# The figures a data scientist compares versions on, as training logged them on the test
# months (training/tracking.py): Gini of the ranking (and its share of the best any
# model could reach, on a world with a truth table), Tweedie deviance, actual over
# expected, and the adequacy spread of the loss ratio across risk deciles, which
# promotion also weighs. Label, metric, format.
LISTED_METRICS: tuple[tuple[str, str, str], ...] = (
    ("Gini", "model.gini", ".4f"),
    ("deviance", "model.deviance", ".4g"),
    ("A/E", "model.ae", ".3f"),
    ("adequacy spread", "adequacy.spread", ".3f"),
)
ORACLE_SHARE = "model.gini_share_of_oracle"


def _version_lines(client: Any, version: Any, aliases: list[str]) -> list[str]:
    """Two lines: the version, its aliases, when it was made and its run; then its test
    months and metrics (or why there are none)."""
    from datetime import UTC, datetime

    from training import tracking

    mark = "*" if tracking.CHAMPION in aliases else " "
    made = datetime.fromtimestamp(int(version.creation_timestamp) / 1000, UTC)
    head = (
        f"{mark} version {version.version:<4} {', '.join(aliases) or '(no alias)':<22} "
        f"created {made:%Y-%m-%d %H:%M} UTC  run {version.run_id or '-'}"
    )
    return [head, "    " + _metrics_text(client, version.run_id)]


def _metrics_text(client: Any, run_id: str | None) -> str:
    if not run_id:
        return "no training run recorded"
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        return f"its run is not readable ({exc.__class__.__name__})"
    metrics, params = run.data.metrics, run.data.params
    shown = [
        f"{label} {metrics[key]:{fmt}}" for label, key, fmt in LISTED_METRICS if key in metrics
    ]
    if not shown:
        return "no test metrics logged"
    if ORACLE_SHARE in metrics and "model.gini" in metrics:
        shown[0] += f" ({metrics[ORACLE_SHARE]:.0%} of oracle)"
    months = params.get("test_months", "").split(" (")[0]
    return (f"test {months}: " if months else "test: ") + ", ".join(shown)
