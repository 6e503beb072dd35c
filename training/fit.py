"""Fitting the LightGBM boosters. All use a log link, worker-hours as the exposure
offset, the feature definition's monotone constraints, and early stopping on later
months. Two structures compete for the loss model:

- ``tweedie``: one Tweedie booster on incurred loss per worker-hour;
- ``frequency_severity``: a Poisson booster on claim counts times a Gamma booster on
  the mean cost of a claim. Counts are far less noisy than amounts (one fatality
  outweighs a hundred minor injuries), so the frequency trees stop at a better place.

The Poisson frequency booster also answers the expected claim count.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from models import features as fdef

FloatArray = npt.NDArray[np.float64]
TWEEDIE = "tweedie"
FREQUENCY_SEVERITY = "frequency_severity"


@dataclass(frozen=True)
class FitConfig:
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 400
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 10.0
    max_rounds: int = 1500
    early_stopping: int = 100
    # Exactly this many rounds per booster, no early stopping: a model of a set size,
    # for benchmarks that compare serving cost against a reference model.
    fixed_rounds: int | None = None
    tweedie_power: float = 1.35
    structures: tuple[str, ...] = (FREQUENCY_SEVERITY, TWEEDIE)
    calibrate: bool = True
    threads: int = 2
    seed: int = 20250101
    extra: dict[str, Any] = field(default_factory=dict)

    def params(self, objective: str, **more: Any) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "monotone_constraints": fdef.monotone_constraints(),
            "monotone_constraints_method": "intermediate",
            "num_threads": self.threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
            **self.extra,
            **more,
        }


@dataclass(frozen=True)
class Part:
    """Rows of one time slice: feature matrix, exposure, incurred loss, claim count."""

    x: FloatArray
    exposure: FloatArray
    loss: FloatArray
    claims: FloatArray

    @property
    def rate(self) -> FloatArray:
        return self.loss / self.exposure

    def with_claims(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Rows with claims: features, mean cost of a claim, number of claims (weight)."""
        keep = self.claims > 0
        return self.x[keep], self.loss[keep] / self.claims[keep], self.claims[keep]


@dataclass(frozen=True)
class Term:
    """One booster's share of a log rate: ``slope * raw score``."""

    name: str
    booster: lgb.Booster
    rounds: int
    slope: float = 1.0

    def raw(self, x: FloatArray) -> FloatArray:
        return self.slope * np.asarray(self.booster.predict(x, raw_score=True), dtype=np.float64)


@dataclass(frozen=True)
class LogRateModel:
    """exp(sum of terms + balance) per worker-hour."""

    structure: str
    terms: tuple[Term, ...]
    log_balance: float
    power: float | None = None

    def log_rate(self, x: FloatArray) -> FloatArray:
        total: FloatArray = np.sum([t.raw(x) for t in self.terms], axis=0)
        return total + self.log_balance

    def rate(self, x: FloatArray) -> FloatArray:
        return np.exp(self.log_rate(x))


def _names() -> list[str]:
    return list(fdef.FEATURE_NAMES)


def _dataset(x: FloatArray, label: FloatArray, *, weight: FloatArray | None = None,
             init_score: FloatArray | None = None,
             reference: lgb.Dataset | None = None) -> lgb.Dataset:  # fmt: skip
    return lgb.Dataset(
        x,
        label=label,
        weight=weight,
        init_score=init_score,
        feature_name=_names(),
        categorical_feature=fdef.categorical_indices(),
        reference=reference,
        free_raw_data=False,
    )


def _log_frequency(part: Part) -> float:
    return float(np.log(max(float(np.sum(part.claims)), 1.0) / float(np.sum(part.exposure))))


def _count_data(part: Part, base: float, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    # Poisson on counts with log(worker-hours) as the offset (init_score), plus the book's
    # log frequency so that the trees start from the average, not one claim an hour.
    return _dataset(part.x, part.claims, init_score=np.log(part.exposure) + base,
                    reference=reference)  # fmt: skip


def _rate_data(part: Part, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    # Tweedie on the loss rate weighted by exposure: E[loss] = exposure * exp(f(x)).
    return _dataset(part.x, part.rate, weight=part.exposure, reference=reference)


def _severity_data(part: Part, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    x, cost, n = part.with_claims()
    return _dataset(x, cost, weight=n, reference=reference)


def _train(params: dict[str, Any], train: lgb.Dataset, valid: lgb.Dataset | None, cfg: FitConfig,
           rounds: int | None = None) -> tuple[lgb.Booster, int]:  # fmt: skip
    if valid is None or cfg.fixed_rounds is not None:
        rounds = rounds or cfg.fixed_rounds
        assert rounds is not None
        return lgb.train(params, train, num_boost_round=rounds), rounds
    booster = lgb.train(
        params,
        train,
        num_boost_round=cfg.max_rounds,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(cfg.early_stopping, verbose=False)],
    )
    best = max(1, booster.best_iteration)
    # Keep only the best iterations, so predict, pred_contrib and shap agree by default.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best)), best


def balance(terms: tuple[Term, ...], part: Part, target: FloatArray) -> float:
    """log(actual / predicted) on the training rows: added to the log rate so that the
    predicted total equals the actual total (a log-link GBM is not balanced by itself)."""
    raw = np.sum([t.raw(part.x) for t in terms], axis=0)
    predicted = float(np.sum(np.exp(raw) * part.exposure))
    return float(np.log(float(np.sum(target)) / predicted))


def calibration_slope(term: Term, part: Part, target: FloatArray,
                      bounds: tuple[float, float] = (0.5, 1.5)) -> float:  # fmt: skip
    """Slope b of log E[target] = a + b * raw score on months the trees did not learn from.

    Boosted trees fitted to noisy claims can spread their scores wider (b < 1) or
    narrower (b > 1) than the truth. Scaling the raw score by b calibrates the deciles
    while keeping the order, the monotone directions and the exactness of TreeSHAP,
    which is linear in the score.
    """
    from sklearn.linear_model import PoissonRegressor

    raw = np.asarray(term.booster.predict(part.x, raw_score=True), dtype=np.float64)
    keep = part.exposure > 0
    if float(np.sum(target[keep])) <= 0.0 or np.ptp(raw[keep]) <= 0.0:
        return 1.0
    centred = raw[keep] - float(np.average(raw[keep], weights=part.exposure[keep]))
    scale = float(np.sum(target[keep]) / np.sum(part.exposure[keep]))
    glm = PoissonRegressor(alpha=0.0, solver="newton-cholesky", max_iter=200)
    glm.fit(
        centred.reshape(-1, 1),
        target[keep] / part.exposure[keep] / scale,
        sample_weight=part.exposure[keep],
    )
    return float(np.clip(glm.coef_[0], *bounds))


# -- the terms ----------------------------------------------------------------------------
def fit_frequency(train: Part, valid: Part | None, cfg: FitConfig, rounds: int | None = None,
                  slope: float | None = None) -> Term:  # fmt: skip
    base = _log_frequency(train)
    dtrain = _count_data(train, base)
    dvalid = None if valid is None else _count_data(valid, base, reference=dtrain)
    booster, best = _train(cfg.params("poisson", metric="poisson"), dtrain, dvalid, cfg, rounds)
    term = Term("frequency", booster, best)
    if slope is None:
        slope = calibration_slope(term, valid, valid.claims) if cfg.calibrate and valid else 1.0
    return replace(term, slope=slope)


def fit_severity(train: Part, valid: Part | None, cfg: FitConfig,
                 rounds: int | None = None) -> Term:  # fmt: skip
    dtrain = _severity_data(train)
    dvalid = None if valid is None else _severity_data(valid, reference=dtrain)
    params = cfg.params("gamma", metric="gamma")
    params["min_data_in_leaf"] = max(20, cfg.min_data_in_leaf // 4)
    booster, best = _train(params, dtrain, dvalid, cfg, rounds)
    return Term("severity", booster, best)


def fit_tweedie(train: Part, valid: Part | None, cfg: FitConfig, rounds: int | None = None,
                slope: float | None = None) -> Term:  # fmt: skip
    dtrain = _rate_data(train)
    dvalid = None if valid is None else _rate_data(valid, reference=dtrain)
    params = cfg.params("tweedie", tweedie_variance_power=cfg.tweedie_power, metric="tweedie")
    booster, best = _train(params, dtrain, dvalid, cfg, rounds)
    term = Term(TWEEDIE, booster, best)
    if slope is None:
        slope = calibration_slope(term, valid, valid.loss) if cfg.calibrate and valid else 1.0
    return replace(term, slope=slope)


# -- the models ---------------------------------------------------------------------------
def loss_model(structure: str, terms: tuple[Term, ...], train: Part, power: float | None
               ) -> LogRateModel:  # fmt: skip
    return LogRateModel(structure, terms, balance(terms, train, train.loss), power)


def frequency_model(term: Term, train: Part) -> LogRateModel:
    return LogRateModel("frequency", (term,), balance((term,), train, train.claims))


def refit_terms(terms: tuple[Term, ...], part: Part, cfg: FitConfig) -> tuple[Term, ...]:
    """The same terms learned again on more months, with the rounds and slopes found
    on the validation months."""
    out: list[Term] = []
    for t in terms:
        if t.name == "frequency":
            out.append(fit_frequency(part, None, cfg, rounds=t.rounds, slope=t.slope))
        elif t.name == "severity":
            out.append(fit_severity(part, None, cfg, rounds=t.rounds))
        else:
            out.append(fit_tweedie(part, None, cfg, rounds=t.rounds, slope=t.slope))
    return tuple(out)
