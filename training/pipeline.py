"""Training as small, pure steps; ``run_training`` strings them together and logs
the run to MLflow. Each step takes what it needs and returns what it made."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from models import features as fdef
from models.bundle import CLASS_QUANTILES, BundleMeta, ModelBundle, class_name, feature_class
from models.contract import ContractData, load_folder
from models.pricing import load_band, load_plan, load_tariff
from models.settings import Settings
from training import metrics as m
from training.baselines import GLMBaseline, ManualRate
from training.book import BookRules, calibrate
from training.dataset import (
    Dataset,
    TrainingDataError,
    build_dataset,
    check_trainable,
    fingerprint,
    read_truth,
    split_by_time,
)
from training.fit import (
    FREQUENCY_SEVERITY,
    TWEEDIE,
    FitConfig,
    LogRateModel,
    Part,
    fit_frequency,
    fit_severity,
    fit_tweedie,
    frequency_model,
    loss_model,
    refit_terms,
)
from training.outcome import Evaluation, TrainOutcome
from training.projection import fit_projection
from training.seasonality import fit_season, month_of_year

Progress = Callable[[str], None]
PEER_MONTHS = 12
MANUAL_CLASS = ("project_type",)


def _quiet(_: str) -> None:
    return None


def part_of(frame: pd.DataFrame) -> Part:
    return Part(
        x=fdef.to_matrix(frame),
        exposure=frame["exposure"].to_numpy(np.float64),
        loss=frame["loss"].to_numpy(np.float64),
        claims=frame["claims"].to_numpy(np.float64),
    )


def modelling_rows(ds: Dataset) -> pd.DataFrame:
    """Rows that carry exposure: a month with no worker-hours has nothing to price."""
    frame = ds.frame
    return frame[frame["exposure"].fillna(0.0) > 0.0].reset_index(drop=True)


@dataclass
class Trained:
    loss: LogRateModel
    frequency: LogRateModel
    validation_gini: dict[str, float]


def fit_models(train: Part, valid: Part, cfg: FitConfig, progress: Progress = _quiet) -> Trained:
    """Fit each candidate structure for the loss model and keep the one that ranks the
    validation months best (exposure-weighted Gini of incurred loss)."""
    progress("fitting Poisson frequency model")
    freq = fit_frequency(train, valid, cfg)
    candidates: dict[str, LogRateModel] = {}
    for structure in cfg.structures:
        if structure == FREQUENCY_SEVERITY:
            progress("fitting Gamma severity model")
            sev = fit_severity(train, valid, cfg)
            candidates[structure] = loss_model(structure, (freq, sev), train, None)
        elif structure == TWEEDIE:
            progress(f"fitting Tweedie loss model, power {cfg.tweedie_power}")
            tw = fit_tweedie(train, valid, cfg)
            candidates[structure] = loss_model(structure, (tw,), train, cfg.tweedie_power)
        else:
            raise ValueError(f"unknown model structure {structure!r}")
    scores = {
        name: m.gini(valid.loss, model.rate(valid.x), valid.exposure)
        for name, model in candidates.items()
    }
    best = max(scores, key=lambda k: scores[k])
    return Trained(candidates[best], frequency_model(freq, train), scores)


def evaluate_test(
    test: pd.DataFrame, rates: dict[str, np.ndarray], truth: pd.DataFrame | None
) -> Evaluation:
    """Gini, deviance and A/E for each model on the test months; against the truth table too
    when the data came from the synthetic generator."""
    exposure = test["exposure"].to_numpy(np.float64)
    actual = test["loss"].to_numpy(np.float64)
    truth_loss: np.ndarray | None = None
    prev_loss: np.ndarray | None = None
    if truth is not None:
        joined = test[["site_id", "month"]].merge(truth, on=["site_id", "month"], how="left")
        truth_loss = joined["expected_loss_cny"].to_numpy(np.float64)
        if "expected_loss_prev_state_cny" in joined:
            prev_loss = joined["expected_loss_prev_state_cny"].to_numpy(np.float64)
        if np.isnan(truth_loss).any():
            truth_loss = None
    out: dict[str, dict[str, float]] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    deciles: dict[str, pd.DataFrame] = {}
    for name, rate in rates.items():
        predicted = rate * exposure
        out[name] = m.evaluate(actual, predicted, exposure, truth_loss=truth_loss)
        target = truth_loss if truth_loss is not None else actual
        curves[name] = m.lorenz_curve(target, rate, exposure)
        deciles[name] = m.ae_by_decile(actual, predicted, exposure, rate)
    oracle = None
    extra: dict[str, float] = {}
    if truth_loss is not None:
        oracle = m.lorenz_curve(truth_loss, truth_loss / exposure, exposure)
        if prev_loss is not None and not np.isnan(prev_loss).any():
            extra["prev_state_oracle_gini_share"] = m.gini_share_of_oracle(
                truth_loss, prev_loss / exposure, exposure
            )
    return Evaluation(out, curves, oracle, deciles, extra)


def peer_reference(
    bundle_rates: np.ndarray, frame: pd.DataFrame, months: tuple[str, ...]
) -> tuple[tuple[float, ...], dict[str, float]]:
    """Predicted rates (as 1,001 quantiles) and feature medians of the latest months' rows:
    the peers a quote's percentile and 'peer median' sentences are measured against."""
    recent = set(months[-PEER_MONTHS:])
    mask = frame["month"].isin(recent).to_numpy()
    rates = bundle_rates[mask]
    quantiles = np.quantile(rates, np.linspace(0.0, 1.0, 1001)) if rates.size else np.array([])
    medians = {
        str(name): float(v)
        for name, v in frame.loc[mask, list(fdef.FEATURE_NAMES)].median(skipna=True).items()
        if pd.notna(v)
    }
    return tuple(float(q) for q in quantiles), medians


def class_reference(
    bundle_rates: np.ndarray, frame: pd.DataFrame, months: tuple[str, ...]
) -> tuple[dict[str, tuple[float, ...]], dict[str, int]]:
    """The same latest months' predicted rates by class (project type × the row's latest
    stage): CLASS_QUANTILES quantiles and the number of sites of each class, so a quote
    ranks a site only among sites of its own type and stage (issue 19)."""
    recent = frame["month"].isin(set(months[-PEER_MONTHS:])).to_numpy()
    classes = [
        feature_class(t, s)
        for t, s in zip(
            frame["project_type"].to_numpy(), frame["stage_last"].to_numpy(), strict=True
        )
    ]
    table = pd.DataFrame(
        {
            "class": [None if c is None else class_name(*c) for c in classes],
            "site_id": frame["site_id"].to_numpy(),
            "rate": bundle_rates,
        }
    )[recent]
    table = table[table["class"].notna()]
    rates: dict[str, tuple[float, ...]] = {}
    sites: dict[str, int] = {}
    steps = np.linspace(0.0, 1.0, CLASS_QUANTILES)
    for name, group in table.groupby("class", sort=True):
        rates[str(name)] = tuple(float(q) for q in np.quantile(group["rate"].to_numpy(), steps))
        sites[str(name)] = int(group["site_id"].nunique())
    return rates, sites


def train_from_data(
    data: ContractData,
    *,
    cfg: FitConfig | None = None,
    truth: pd.DataFrame | None = None,
    refit_learning_months: bool = True,
    progress: Progress = _quiet,
) -> TrainOutcome:
    cfg = cfg or FitConfig()
    progress("building features (past data only)")
    ds = build_dataset(data)
    if ds.unmatched_claims:
        progress(
            f"warning: {ds.unmatched_claims} claim(s), CNY {ds.unmatched_loss:,.0f} incurred, "
            "fall in months with no site_months row and cannot be learned from"
        )
    split = split_by_time(ds.months)
    rows = modelling_rows(ds)
    check_trainable(Dataset(rows, ds.months), split)
    train_f = rows[rows["month"].isin(set(split.train))]
    valid_f = rows[rows["month"].isin(set(split.valid))]
    test_f = rows[rows["month"].isin(set(split.test))]
    if valid_f.empty or test_f.empty:
        raise TrainingDataError("validation or test months hold no worker-hours")
    train_p, valid_p, test_p = part_of(train_f), part_of(valid_f), part_of(test_f)

    trained = fit_models(train_p, valid_p, cfg, progress)
    learn_f = pd.concat([train_f, valid_f], ignore_index=True)
    final_loss, final_freq = trained.loss, trained.frequency
    if refit_learning_months:
        # The test months stay unseen, so the registered model's test metrics are honest
        # and promotion can compare models on months neither learned from.
        progress("refitting on training and validation months with the chosen rounds")
        learn_p = part_of(learn_f)
        terms = refit_terms(trained.loss.terms, learn_p, cfg)
        final_loss = loss_model(trained.loss.structure, terms, learn_p, trained.loss.power)
        freq_term = next((t for t in terms if t.name == "frequency"), None)
        if freq_term is None:
            (freq_term,) = refit_terms(trained.frequency.terms, learn_p, cfg)
        final_freq = frequency_model(freq_term, learn_p)
    fit_rows = learn_f if refit_learning_months else train_f
    fit_p = part_of(fit_rows)
    progress("seasonality by calendar month")
    season = fit_season(
        fit_rows["month"].to_numpy(),
        fit_p.claims,
        final_freq.rate(fit_p.x) * fit_p.exposure,
        final_loss.rate(fit_p.x) * fit_p.exposure,
    )
    test_season = np.asarray(season)[month_of_year(test_f["month"].to_numpy()) - 1]

    progress("fitting baselines (GLM, manual rate)")
    glm = GLMBaseline().fit(
        fit_rows[list(fdef.FEATURE_NAMES)],
        fit_rows["loss"].to_numpy(),
        fit_rows["exposure"].to_numpy(),
        categorical=[f.name for f in fdef.FEATURES if f.categorical],
    )
    manual = ManualRate().fit(
        fit_rows, fit_rows["loss"].to_numpy(), fit_rows["exposure"].to_numpy(), by=MANUAL_CLASS
    )
    test_rates = {
        "model": final_loss.rate(test_p.x) * test_season,
        "glm": glm.predict_rate(test_f[list(fdef.FEATURE_NAMES)]),
        "manual_rate": manual.predict_rate(test_f),
    }
    progress("evaluating on the test months")
    evaluation = evaluate_test(test_f, test_rates, truth)

    progress("projecting worker-hours and the rate's trend per policy term")
    learning = split.train + split.valid if refit_learning_months else split.train
    projection = fit_projection(ds.frame, final_loss.rate(fdef.to_matrix(ds.frame)), learning, cfg)

    progress("peer reference")
    all_x = fdef.to_matrix(rows)
    all_rates = final_loss.rate(all_x)
    peer_rates, medians = peer_reference(all_rates, rows, ds.months)
    class_rates, class_sites = class_reference(all_rates, rows, ds.months)
    fp = {
        **fingerprint(data),
        "unmatched_claims": ds.unmatched_claims,
        "unmatched_loss_cny": round(ds.unmatched_loss, 2),
    }
    model_metrics = {f"test_{k_}": v for k_, v in evaluation.metrics["model"].items()}
    meta = BundleMeta(
        feature_set_version=fdef.FEATURE_SET_VERSION,
        feature_names=tuple(fdef.FEATURE_NAMES),
        structure=final_loss.structure,
        loss_terms=tuple((t.name, t.slope) for t in final_loss.terms),
        loss_log_balance=final_loss.log_balance,
        freq_slope=final_freq.terms[0].slope,
        freq_log_balance=final_freq.log_balance,
        tweedie_power=final_loss.power,
        peer_rates=peer_rates,
        peer_medians=medians,
        class_rates=class_rates,
        class_sites=class_sites,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data_fingerprint={
            **fp,
            **split.describe(),
            "refit_on_validation_months": refit_learning_months,
        },
        metrics=model_metrics,
        season=season,
    )
    boosters = {t.name: t.booster for t in (*final_loss.terms, *final_freq.terms)}
    boosters.update(projection)
    rules = BookRules(load_tariff(), load_band(), load_plan())
    progress(f"rating plan {rules.plan.version}: book loss ratio and off-balance on {learning[-1]}")
    calibration = calibrate(data, ds.frame, ModelBundle(boosters, meta), rules, learning[-1])
    meta = replace(meta, rating=calibration.meta(rules, rules.plan.projection_months))
    bundle = ModelBundle(boosters, meta)
    return TrainOutcome(
        bundle=bundle,
        split=split,
        evaluation=evaluation,
        fingerprint=fp,
        validation_gini=trained.validation_gini,
        test_frame=test_f,
        test_rates=test_rates,
        train_frame=fit_rows,
        calibration=calibration,
        rules=rules,
        data=data,
        frame=ds.frame,
    )


def run_training(
    data_dir: Path,
    settings: Settings,
    *,
    cfg: FitConfig | None = None,
    register: bool = True,
    progress: Progress = _quiet,
) -> tuple[TrainOutcome, str | None, str]:
    """Load, train, evaluate, log to MLflow and register as ``challenger``.
    Returns the outcome, the registered version (or None) and the run id."""
    from training import tracking

    progress(f"loading and validating {data_dir}")
    data = load_folder(data_dir)
    truth = read_truth(data_dir)
    outcome = train_from_data(data, cfg=cfg, truth=truth, progress=progress)
    progress("logging the run to MLflow")
    with tempfile.TemporaryDirectory() as tmp:
        run_id, version = tracking.log_training_run(
            outcome, settings, Path(tmp), cfg or FitConfig(), register=register, source=data_dir
        )
    return outcome, version, run_id
