"""Baselines the main model has to beat, fitted on the same feature frames.

``ManualRate`` is how the line is priced without smart-site data: a class loss
rate per worker-hour. ``GLMBaseline`` is the classical actuarial model on the
same features as the main model. Both predict a *rate* (expected loss per unit
of exposure, CNY per worker-hour); premium = rate x exposure.

Balance: both end their fit with one scalar correction so that, on the training
data, Σ predict_rate(frame) x exposure == Σ loss. Credibility blending (manual
rate) and a non-canonical link with a penalty (Tweedie GLM) both shift the total
away from the observed one; a pricing baseline that is off in total would be
beaten on A/E for a reason unrelated to risk ranking. The factor is kept as
``balance_factor_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.credibility import buhlmann_straub_k

FloatArray = npt.NDArray[np.float64]

_MISSING = "<missing>"


def _loss_exposure(
    frame: pd.DataFrame, loss: npt.ArrayLike, exposure: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(loss, dtype=np.float64)
    w = np.asarray(exposure, dtype=np.float64)
    if y.shape != (len(frame),) or w.shape != (len(frame),):
        raise ValueError(
            f"loss {y.shape} and exposure {w.shape} must be 1-D with one value per frame row "
            f"({len(frame)})"
        )
    if not (np.all(np.isfinite(y)) and np.all(y >= 0)):
        raise ValueError("loss must be finite and >= 0")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0)) or w.sum() <= 0:
        raise ValueError("exposure must be finite, >= 0 and have a positive total")
    if y.sum() <= 0:
        raise ValueError("training loss is 0: there is no rate to fit")
    return y, w


def _balance_factor(rate: FloatArray, loss: FloatArray, exposure: FloatArray) -> float:
    return float(loss.sum() / np.sum(rate * exposure))


def _category_labels(values: pd.Series) -> pd.Series:
    """Codes as plain strings, missing as its own level, so fit and predict agree
    whatever dtype (category, int, object, nullable) the frame used."""
    labels = values.astype(object).where(values.notna(), _MISSING)
    return labels.astype(str)


class ManualRate:
    """Class loss rate x worker-hours, no smart-site data.

    The rate of a cell (e.g. ``project_type``, or ``project_type`` x ``stage``)
    is its pure premium Σ loss / Σ worker-hours, credibility-blended with the
    overall rate: ``Z = E / (E + k)`` with ``E`` the cell's exposure and ``k``
    given or, by default, estimated by Bühlmann–Straub with the cells as the
    risks and each row's loss per worker-hour as one observation (``k`` is then
    in worker-hours), so a thin cell leans on the overall rate. Cells unseen in
    training get the overall rate. Balanced on training data (see the module
    docstring).
    """

    def __init__(self, credibility_k: float | None = None) -> None:
        if credibility_k is not None and credibility_k < 0:
            raise ValueError("credibility_k must be >= 0")
        self.credibility_k = credibility_k

    def fit(
        self,
        frame: pd.DataFrame,
        loss: npt.ArrayLike,
        exposure: npt.ArrayLike,
        by: Sequence[str],
    ) -> ManualRate:
        self.by_ = list(by)
        if not self.by_:
            raise ValueError("by must name at least one column")
        y, w = _loss_exposure(frame, loss, exposure)
        keys = self._keys(frame)
        cell = keys.groupby(self.by_, sort=True).ngroup().to_numpy()
        n_cells = int(cell.max()) + 1

        cell_w = np.bincount(cell, weights=w, minlength=n_cells)
        cell_loss = np.bincount(cell, weights=y, minlength=n_cells)
        overall = float(y.sum() / w.sum())
        k = self.credibility_k
        if k is None:
            row_rate = np.divide(y, w, out=np.zeros_like(y), where=w > 0)
            k = buhlmann_straub_k(pd.Series(cell), pd.Series(row_rate), pd.Series(w))
        # k = inf (no credibility) gives Z = 0, k = 0 full credibility for cells with exposure.
        z = np.divide(cell_w, cell_w + k, out=np.zeros(n_cells), where=cell_w > 0)
        cell_rate = np.divide(cell_loss, cell_w, out=np.full(n_cells, overall), where=cell_w > 0)
        blended = z * cell_rate + (1.0 - z) * overall

        self.k_ = float(k)
        self.overall_rate_ = overall
        self.balance_factor_ = _balance_factor(blended[cell], y, w)
        first = np.unique(cell, return_index=True)[1]
        table = keys.iloc[first].reset_index(drop=True)
        table["exposure"] = cell_w
        table["loss"] = cell_loss
        table["raw_rate"] = cell_rate
        table["credibility"] = z
        table["rate"] = blended * self.balance_factor_
        self.table_ = table
        return self

    def _keys(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.by_ if c not in frame.columns]
        if missing:
            raise KeyError(f"frame lacks rating columns {missing}")
        return pd.DataFrame({c: _category_labels(frame[c]) for c in self.by_})

    def predict_rate(self, frame: pd.DataFrame) -> FloatArray:
        keys = self._keys(frame).reset_index(drop=True)
        merged = keys.merge(self.table_[[*self.by_, "rate"]], on=self.by_, how="left")
        # A class never seen in training is priced like a cell with no credibility.
        fallback = self.overall_rate_ * self.balance_factor_
        return merged["rate"].fillna(fallback).to_numpy(dtype=np.float64)


def _quantile_clipper() -> Any:
    from sklearn.base import BaseEstimator, TransformerMixin

    class QuantileClipper(TransformerMixin, BaseEstimator):  # type: ignore[misc]
        """Clips each column to training quantiles so a few extreme counts or
        rates cannot dominate a log-link fit. Columns with at most two distinct
        values (flags) are left alone: their rare level is signal, not an outlier."""

        def __init__(self, quantiles: tuple[float, float] = (0.005, 0.995)) -> None:
            self.quantiles = quantiles

        def fit(self, X: Any, y: Any = None) -> QuantileClipper:
            values = np.asarray(X, dtype=np.float64)
            lo = np.full(values.shape[1], -np.inf)
            hi = np.full(values.shape[1], np.inf)
            for j in range(values.shape[1]):
                col = values[:, j]
                col = col[~np.isnan(col)]
                if np.unique(col).size > 2:
                    lo[j], hi[j] = np.quantile(col, self.quantiles)
            self.lower_, self.upper_ = lo, hi
            self.n_features_in_ = values.shape[1]
            return self

        def transform(self, X: Any) -> FloatArray:
            return np.clip(np.asarray(X, dtype=np.float64), self.lower_, self.upper_)

        def get_feature_names_out(self, input_features: Any = None) -> Any:
            return np.asarray(input_features, dtype=object)

    return QuantileClipper()


class GLMBaseline:
    """Tweedie (or Poisson, ``power=1``) GLM with log link on the pure premium.

    Target is loss / exposure with ``sample_weight=exposure`` (rows without
    exposure are left out), as in scikit-learn's insurance example. Numeric
    columns: quantile clipping, median imputation with missing indicators,
    standard scaling; categorical columns: one-hot (unseen levels ignored,
    missing its own level). The target is divided by the overall training rate
    before fitting, which only moves the unpenalised intercept but makes
    ``alpha`` mean the same whatever the currency or exposure unit. Balanced on
    training data (see the module docstring).
    """

    def __init__(
        self,
        alpha: float = 1e-3,
        max_iter: int = 1000,
        clip_quantiles: tuple[float, float] = (0.005, 0.995),
    ) -> None:
        self.alpha = alpha
        self.max_iter = max_iter
        self.clip_quantiles = clip_quantiles

    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in (*self.numeric_, *self.categorical_) if c not in frame.columns]
        if missing:
            raise KeyError(f"frame lacks feature columns {missing}")
        out = {c: frame[c].astype("float64") for c in self.numeric_}
        out |= {c: _category_labels(frame[c]) for c in self.categorical_}
        return pd.DataFrame(out, index=frame.index)

    def fit(
        self,
        frame: pd.DataFrame,
        loss: npt.ArrayLike,
        exposure: npt.ArrayLike,
        categorical: Sequence[str],
        power: float = 1.5,
    ) -> GLMBaseline:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import PoissonRegressor, TweedieRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        y, w = _loss_exposure(frame, loss, exposure)
        self.categorical_ = list(categorical)
        unknown = [c for c in self.categorical_ if c not in frame.columns]
        if unknown:
            raise KeyError(f"categorical columns not in frame: {unknown}")
        self.numeric_ = [c for c in frame.columns if c not in set(self.categorical_)]
        not_numeric = [
            c for c in self.numeric_ if not pd.api.types.is_numeric_dtype(frame[c].dtype)
        ]
        if not_numeric:
            raise TypeError(f"non-numeric columns must be listed as categorical: {not_numeric}")
        self.power = power

        numeric = Pipeline(
            [
                ("clip", _quantile_clipper().set_params(quantiles=self.clip_quantiles)),
                # keep_empty_features: a column never reported in training is
                # kept (as 0) rather than dropped with a warning.
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                ),
                ("scale", StandardScaler()),
            ]
        )
        encode = ColumnTransformer(
            [
                ("numeric", numeric, self.numeric_),
                (
                    "categorical",
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                    self.categorical_,
                ),
            ],
            sparse_threshold=0.0,
        )
        common = {"alpha": self.alpha, "max_iter": self.max_iter, "solver": "newton-cholesky"}
        glm = (
            PoissonRegressor(**common)
            if power == 1
            else TweedieRegressor(power=power, link="log", **common)
        )
        self.pipeline_ = Pipeline([("encode", encode), ("glm", glm)])

        has_w = w > 0
        self.scale_ = float(y.sum() / w.sum())
        design = self._design(frame)
        self.pipeline_.fit(
            design.loc[has_w],
            y[has_w] / w[has_w] / self.scale_,
            glm__sample_weight=w[has_w],
        )
        self.balance_factor_ = 1.0
        self.balance_factor_ = _balance_factor(self.predict_rate(frame), y, w)
        return self

    def predict_rate(self, frame: pd.DataFrame) -> FloatArray:
        raw = np.asarray(self.pipeline_.predict(self._design(frame)), dtype=np.float64)
        return raw * self.scale_ * self.balance_factor_
