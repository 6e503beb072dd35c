"""MLflow: where runs, plots and model versions go. The embedded default is an
SQLite store under ``SITERISK_HOME``; ``MLFLOW_TRACKING_URI`` names a real server."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models import features as fdef
from models.settings import Settings

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from training.adequacy import AdequacyReport
    from training.fit import FitConfig
    from training.outcome import TrainOutcome

CHALLENGER = "challenger"
CHAMPION = "champion"
SHAP_SAMPLE = 500


def configure(settings: Settings) -> MlflowClient:
    """Point MLflow at the settings' store and make sure the experiment exists."""
    import mlflow
    from mlflow.tracking import MlflowClient

    if not settings.mlflow_tracking_uri:
        settings.home.mkdir(parents=True, exist_ok=True)
    uri = settings.tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if client.get_experiment_by_name(settings.experiment_name) is None:
        location = None
        if not settings.mlflow_tracking_uri:
            # An SQLite store would otherwise drop artifacts into ./mlruns of whatever
            # folder the command happens to run in.
            location = settings.artifact_root.as_uri()
        client.create_experiment(settings.experiment_name, artifact_location=location)
    mlflow.set_experiment(settings.experiment_name)
    return client


def shap_check(outcome: TrainOutcome) -> tuple[float, float, np.ndarray]:
    """The shap package against LightGBM's own pred_contrib on test rows, booster by
    booster: the largest difference in contributions or expected value; and the largest
    gap between the bundle's contributions plus balance and its log rate. Returns both
    and the shap values of the priced log rate (slope-weighted over the loss terms)."""
    import shap

    bundle = outcome.bundle
    x = fdef.to_matrix(outcome.test_frame.head(SHAP_SAMPLE))
    diff = 0.0
    combined = np.zeros((x.shape[0], x.shape[1]))
    for name, slope in bundle.meta.loss_terms:
        explainer = shap.TreeExplainer(bundle.boosters[name])
        values = np.asarray(explainer.shap_values(x), dtype=np.float64)
        contrib = bundle.tree_contributions(name, x)
        base = float(np.ravel(explainer.expected_value)[0])
        diff = max(diff, float(np.max(np.abs(values - contrib[:, :-1]))))
        diff = max(diff, float(np.max(np.abs(base - contrib[:, -1]))))
        combined += slope * values
    total = bundle.contributions(x).sum(axis=1) + bundle.meta.loss_log_balance
    additivity = float(np.max(np.abs(total - bundle.log_rate(x))))
    return diff, additivity, combined


def _figures(outcome: TrainOutcome, values: np.ndarray) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    from training import plots

    ev = outcome.evaluation
    figs: dict[str, Any] = {
        "lorenz.png": plots.lorenz_figure(
            ev.curves, oracle=ev.oracle, title="Lorenz curves on the test months"
        ),
        "calibration_by_decile.png": plots.calibration_figure(ev.deciles),
    }
    frame = outcome.test_frame.head(SHAP_SAMPLE)
    shap.summary_plot(
        values,
        frame[list(fdef.FEATURE_NAMES)].to_numpy(np.float64),
        feature_names=list(fdef.FEATURE_NAMES),
        show=False,
        max_display=20,
        rng=np.random.default_rng(0),  # a seeded generator keeps the jitter reproducible
    )
    figs["shap_summary.png"] = plt.gcf()
    return figs


def training_adequacy(outcome: TrainOutcome, source: Path | None) -> AdequacyReport:
    """The rate adequacy of a trained model on its test months (training/adequacy.py),
    against the folder's truth table when it has one."""
    from training import adequacy
    from training.dataset import read_truth

    truth = read_truth(source) if source is not None else None
    return adequacy.outcome_report(outcome, truth)


def log_adequacy(report: AdequacyReport, folder: str, prefix: str = "") -> None:
    """Into the active MLflow run: the three loss-ratio tables as CSV, the text report
    and the loss ratio by risk decile as a figure, under ``folder``."""
    import matplotlib.pyplot as plt
    import mlflow

    from training import plots

    for by, table in report.tables.items():
        mlflow.log_text(table.to_csv(index=False), f"{folder}/{prefix}loss_ratio_by_{by}.csv")
    mlflow.log_text(report.to_text() + "\n", f"{folder}/{prefix}adequacy.txt")
    fig = plots.adequacy_figure(report.tables["risk_decile"])
    mlflow.log_figure(fig, f"{folder}/{prefix}loss_ratio_by_risk_decile.png")
    plt.close(fig)


def log_training_run(
    outcome: TrainOutcome,
    settings: Settings,
    tmp: Path,
    cfg: FitConfig,
    *,
    register: bool,
    source: Path | None = None,
) -> tuple[str, str | None]:
    import matplotlib.pyplot as plt
    import mlflow

    from models.mlflow_model import BUNDLE_ARTIFACT, SiteRiskModel, model_signature

    client = configure(settings)
    diff, additivity, values = shap_check(outcome)
    with mlflow.start_run(run_name=f"train-{outcome.fingerprint['last_month']}") as run:
        params: dict[str, Any] = {
            k: v for k, v in asdict(cfg).items() if k not in ("extra", "structures")
        }
        params["structures_tried"] = ",".join(cfg.structures)
        params["structure"] = outcome.bundle.meta.structure
        params["tweedie_power"] = outcome.bundle.meta.tweedie_power
        params["feature_set_version"] = fdef.FEATURE_SET_VERSION
        params["n_features"] = len(fdef.FEATURE_NAMES)
        for name, booster in outcome.bundle.boosters.items():
            params[f"{name}_trees"] = booster.num_trees()
        params.update(outcome.split.describe())
        if source is not None:
            params["data_dir"] = str(source)
        mlflow.log_params(params)
        mlflow.set_tags({f"data.{k}": str(v) for k, v in outcome.fingerprint.items()})
        mlflow.log_dict(outcome.fingerprint, "data_fingerprint.json")

        metrics: dict[str, float] = {}
        for name, table in outcome.evaluation.metrics.items():
            for key, value in table.items():
                if value is not None and np.isfinite(value):
                    metrics[f"{name}.{key}"] = float(value)
        for key, value in outcome.evaluation.truth_oracles.items():
            metrics[key] = value
        for structure, score in outcome.validation_gini.items():
            metrics[f"valid_gini.{structure}"] = score
        metrics["shap_vs_pred_contrib_max_abs_diff"] = diff
        metrics["contrib_additivity_max_abs_diff"] = additivity
        for key in (
            "book_loss_ratio",
            "off_balance_factor",
            "off_balance_before_pct",
            "off_balance_after_pct",
        ):
            metrics[f"rating.{key}"] = float(outcome.bundle.meta.rating[key])
        for month, factor in enumerate(outcome.bundle.meta.season, start=1):
            metrics[f"season.{month:02d}"] = factor
        adequacy_report = training_adequacy(outcome, source)
        metrics.update(adequacy_report.metrics())
        mlflow.log_metrics(metrics)
        log_adequacy(adequacy_report, "adequacy")
        deciles = pd.concat(
            [t.assign(model=name) for name, t in outcome.evaluation.deciles.items()]
        )
        mlflow.log_text(deciles.to_csv(index=False), "calibration_by_decile.csv")
        for name, fig in _figures(outcome, values).items():
            mlflow.log_figure(fig, name)
            plt.close(fig)

        bundle_dir = outcome.bundle.save(tmp / BUNDLE_ARTIFACT)
        example = outcome.test_frame.head(5)[["exposure", *fdef.FEATURE_NAMES]].astype("float64")
        model = SiteRiskModel()
        model.bundle = outcome.bundle
        signature = model_signature(outcome.bundle, example)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
            signature=signature,
            input_example=example,
            registered_model_name=settings.registered_model_name if register else None,
        )
        version: str | None = None
        if register:
            version = str(info.registered_model_version)
            client.set_registered_model_alias(settings.registered_model_name, CHALLENGER, version)
            client.set_model_version_tag(
                settings.registered_model_name, version, "metrics", json.dumps(metrics)[:4999]
            )
        return run.info.run_id, version


def model_version_uri(settings: Settings, version_or_alias: str | int) -> str:
    name = settings.registered_model_name
    if str(version_or_alias).isdigit():
        return f"models:/{name}/{version_or_alias}"
    return f"models:/{name}@{version_or_alias}"
