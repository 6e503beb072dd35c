"""`siterisk train`, `model promote` and `score` end to end on an embedded MLflow store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from models.settings import get_settings
from training.cli import app
from training.synth import generate_world, write_world

pytestmark = pytest.mark.xdist_group("mlflow-cli")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("SITERISK_HOME", str(home))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield home
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    write_world(generate_world(500, seed=21, months=24), folder, fmt="parquet")
    return folder


def _client(home: Path) -> MlflowClient:
    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    out = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        out += "".join(traceback.format_exception(result.exception))
    return result.exit_code, out


def test_train_promote_score(home: Path, world: Path, tmp_path: Path) -> None:
    code, out = _run("train", "--data", str(world))
    assert code == 0, out
    assert f"store: mlflow sqlite:///{(home / 'mlflow.db').resolve()}\n" in out
    assert "gini_share_of_oracle" in out
    assert "manual_rate" in out
    client = _client(home)
    version = client.get_model_version_by_alias("site-risk", "challenger")
    run = client.get_run(version.run_id)
    assert {"model.gini", "glm.gini", "manual_rate.gini"} <= set(run.data.metrics)
    assert run.data.metrics["shap_vs_pred_contrib_max_abs_diff"] <= 1e-9
    assert run.data.metrics["contrib_additivity_max_abs_diff"] <= 1e-9
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"lorenz.png", "calibration_by_decile.png", "shap_summary.png"} <= artifacts
    # rate adequacy: printed, logged as metrics, tables and a figure
    assert "Rate adequacy:" in out
    assert "Loss ratio by decile of predicted risk" in out
    assert "equalisation" in out  # the generated world has a truth table
    for key in (
        "adequacy.spread",
        "adequacy.equalisation",
        "adequacy.gap",
        "adequacy.off_balance_after_pct",
        "adequacy.spread.tariff.actual.risk_decile",
    ):
        assert key in run.data.metrics, key
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "adequacy")}
    assert {
        "adequacy/loss_ratio_by_risk_decile.csv",
        "adequacy/loss_ratio_by_value_band.csv",
        "adequacy/loss_ratio_by_project_type.csv",
        "adequacy/loss_ratio_by_risk_decile.png",
        "adequacy/adequacy.txt",
    } <= logged

    code, out = _run("model", "promote")
    assert code == 0, out
    assert "Rate adequacy on the test book" in out
    assert client.get_model_version_by_alias("site-risk", "champion").version == version.version

    # model list: the version, its aliases (the champion marked), when it was made, its
    # run and the test metrics training logged
    code, out = _run("model", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"store: mlflow sqlite:///{(home / 'mlflow.db').resolve()}"
    assert lines[1] == (
        f"site-risk: 1 version; * marks the champion (version {version.version}), which the "
        "service prices with"
    )
    made = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
    assert re.fullmatch(
        rf"\* version {version.version} +champion, challenger +created "
        rf"{made:%Y-%m-%d %H:%M} UTC  run {version.run_id}",
        lines[2],
    ), lines[2]
    metrics = run.data.metrics
    assert lines[3] == (
        f"    test {run.data.params['test_months'].split(' (')[0]}: "
        f"Gini {metrics['model.gini']:.4f} ({metrics['model.gini_share_of_oracle']:.0%} of "
        f"oracle), deviance {metrics['model.deviance']:.4g}, A/E {metrics['model.ae']:.3f}, "
        f"adequacy spread {metrics['adequacy.spread']:.3f}"
    )
    assert max(len(line) for line in lines[1:]) <= 110

    target = tmp_path / "scores.csv"
    code, out = _run("score", "--data", str(world), "--out", str(target))
    assert code == 0, out
    scores = pd.read_csv(target)
    months = pd.read_parquet(world / "site_months.parquet")
    assert list(scores.columns) == [
        "site_id", "month", "expected_claims", "expected_loss_cny", "loss_rate_per_hour",
    ]  # fmt: skip
    assert len(scores) == len(months)
    assert (scores["expected_loss_cny"] >= 0).all()


def test_a_worse_challenger_is_not_promoted_unless_forced(
    home: Path, world: Path, tmp_path: Path
) -> None:
    if not _has_champion(home):
        code, out = _run("train", "--data", str(world))
        assert code == 0, out
        assert _run("model", "promote")[0] == 0
    # A world whose claims were shuffled across sites teaches nothing about risk.
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for name in ("sites", "site_months"):
        (noisy / f"{name}.parquet").write_bytes((world / f"{name}.parquet").read_bytes())
    claims = pd.read_parquet(world / "claims.parquet")
    sites = claims["site_id"].sample(frac=1.0, random_state=1).to_numpy()
    months = pd.read_parquet(world / "site_months.parquet")
    claims["site_id"] = sites
    first = months.groupby("site_id")["month"].min()
    last = months.groupby("site_id")["month"].max()
    month = pd.to_datetime(claims["incident_date"]).dt.strftime("%Y-%m")
    inside = (month >= first.reindex(sites).to_numpy()) & (month <= last.reindex(sites).to_numpy())
    claims[inside.to_numpy()].to_parquet(noisy / "claims.parquet", index=False)

    code, out = _run("train", "--data", str(noisy))
    assert code == 0, out
    client = _client(home)
    champion = client.get_model_version_by_alias("site-risk", "champion").version
    challenger = client.get_model_version_by_alias("site-risk", "challenger").version
    code, out = _run("model", "compare", "--data", str(world))
    assert code == 0, out
    assert "Premium dislocation" in out
    assert "Promotion would be refused" in out
    assert client.get_model_version_by_alias("site-risk", "champion").version == champion

    code, out = _run("model", "promote", "--data", str(world))
    assert code == 1, out
    assert "not promoted" in out
    assert "Premium dislocation: final premium charged" in out
    assert "adequacy spread" in out
    assert client.get_model_version_by_alias("site-risk", "champion").version == champion

    code, out = _run("model", "promote", "--data", str(world), "--force")
    assert code == 0, out
    assert "Forced: promoted although" in out
    assert client.get_model_version_by_alias("site-risk", "champion").version == challenger
    code, out = _run("model", "list")
    assert code == 0, out
    marked = [line for line in out.splitlines() if line.startswith("* version")]
    assert marked == [next(line for line in out.splitlines() if f"version {challenger} " in line)]
    assert f"* version {challenger} " in marked[0]
    assert "champion, challenger" in marked[0]
    assert f"  version {champion} " in out  # the former champion, no longer marked
    assert client.get_model_version("site-risk", challenger).tags.get("forced_promotion") == "true"
    runs = client.search_runs(
        [client.get_experiment_by_name(get_settings().experiment_name).experiment_id],
        "tags.action = 'promote' and tags.forced = 'True'",
    )
    assert len(runs) == 1
    (forced,) = runs
    assert forced.data.params["forced"] == "True"
    assert forced.data.params["forced_over"]
    assert forced.data.params["challenger_version"] == str(challenger)
    assert "challenger.adequacy.spread" in forced.data.metrics
    assert "champion.adequacy.spread" in forced.data.metrics
    assert "dislocation.share_moving_10pct" in forced.data.metrics
    logged = {a.path for a in client.list_artifacts(forced.info.run_id)}
    assert {"premium_dislocation.csv", "premium_dislocation.png", "reasons.txt"} <= logged
    nested = {a.path for a in client.list_artifacts(forced.info.run_id, "adequacy/champion")}
    assert "adequacy/champion/loss_ratio_by_risk_decile.csv" in nested


def _has_champion(home: Path) -> bool:
    try:
        _client(home).get_model_version_by_alias("site-risk", "champion")
    except Exception:
        return False
    return True


def test_bad_data_stops_training_and_registers_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SITERISK_HOME", str(home))
    get_settings.cache_clear()
    try:
        bad = tmp_path / "bad"
        write_world(generate_world(60, seed=4, months=12), bad, fmt="csv")
        months = pd.read_csv(bad / "site_months.csv")
        months.loc[3, "hazard_rectification_rate"] = 1.7
        months.to_csv(bad / "site_months.csv", index=False)
        code, out = _run("train", "--data", str(bad))
        assert code == 1
        assert "hazard_rectification_rate" in out
        assert "no model was trained" in out

        short = tmp_path / "short"
        write_world(generate_world(60, seed=4, months=5), short, fmt="csv")
        code, out = _run("train", "--data", str(short))
        assert code == 1
        assert "too few months" in out
    finally:
        mp.undo()
        get_settings.cache_clear()
    if (home / "mlflow.db").exists():
        assert _client(home).search_registered_models() == []
