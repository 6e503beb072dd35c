"""Actuarial evaluation metrics for pure-premium models.

Conventions follow scikit-learn's "Tweedie regression on insurance claims"
example: rows are ranked by a *rate* (predicted loss per unit of exposure,
here per worker-hour), the Lorenz curve puts the cumulative share of exposure
on x and the cumulative share of observed loss on y, and ``gini = 1 - 2 * AUC``.
A model that ranks safe sites first bends the curve below the diagonal, so a
useful model has a positive Gini and a reversed one a negative Gini.

Losses (``y_loss``, ``actual``, ``expected``) are totals per row, in CNY; the
rate is derived from them by dividing by exposure.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike
Ties = Literal["stable", "group"]

# Predictions at or below this are treated as this value in deviances: a zero
# prediction for a row that had a loss is infinitely wrong under a log-link
# deviance, and a finite (huge) penalty keeps model comparisons usable.
MU_FLOOR = 1e-12


def _vector(name: str, values: ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _same_length(**arrays: FloatArray) -> None:
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays differ in length: {lengths}")


def _check_exposure(exposure: FloatArray) -> None:
    if not np.all(np.isfinite(exposure)) or np.any(exposure < 0):
        raise ValueError("exposure must be finite and >= 0")
    if exposure.sum() <= 0:
        raise ValueError("total exposure must be > 0")


def _check_loss(name: str, loss: FloatArray) -> None:
    if not np.all(np.isfinite(loss)) or np.any(loss < 0):
        raise ValueError(f"{name} must be finite and >= 0")


def loss_rate(loss: ArrayLike, exposure: ArrayLike) -> FloatArray:
    """Loss per unit exposure.

    A row without exposure has no defined rate; it gets ``+inf`` when it carries
    loss (it can only be the riskiest) and 0 otherwise, so rankings stay total
    and deterministic instead of propagating NaN.
    """
    y = _vector("loss", loss)
    w = _vector("exposure", exposure)
    _same_length(loss=y, exposure=w)
    fill = np.where(y > 0, np.inf, 0.0)
    return np.divide(y, w, out=fill, where=w > 0)


def lorenz_curve(
    y_loss: ArrayLike, score: ArrayLike, exposure: ArrayLike, *, ties: Ties = "stable"
) -> tuple[FloatArray, FloatArray]:
    """Ordered Lorenz curve: rows ranked by ``score`` ascending.

    Returns ``(x, y)`` of length ``n + 1`` starting at ``(0, 0)`` and ending at
    ``(1, 1)``: ``x`` is the cumulative share of exposure, ``y`` the cumulative
    share of loss. Equal scores keep their input order (stable sort), so the
    same data always gives the same curve. With ``ties="group"`` only the points
    between distinct scores are kept, i.e. each block of tied rows becomes one
    straight segment: the curve (and its Gini) then no longer depends on the row
    order inside ties, which matters for coarse scores such as a class rate.
    Tied *oracle* rates are equal rates, whose segment is straight either way.
    """
    y = _vector("y_loss", y_loss)
    s = _vector("score", score)
    w = _vector("exposure", exposure)
    _same_length(y_loss=y, score=s, exposure=w)
    _check_exposure(w)
    _check_loss("y_loss", y)
    if np.any(np.isnan(s)):
        raise ValueError("score contains NaN")
    total = y.sum()
    if total <= 0:
        raise ValueError("total loss is 0: the Lorenz curve is undefined")

    order = np.argsort(s, kind="stable")
    cum_w = np.concatenate(([0.0], np.cumsum(w[order])))
    cum_y = np.concatenate(([0.0], np.cumsum(y[order])))
    # Dividing by the running totals' own last values (not a separately computed
    # sum) keeps the curve monotone and ends it at exactly (1, 1).
    x = cum_w / cum_w[-1]
    yy = cum_y / cum_y[-1]
    if ties == "group":
        ranked = s[order]
        keep = np.ones(len(x), dtype=bool)
        keep[1:-1] = ranked[1:] != ranked[:-1]
        x, yy = x[keep], yy[keep]
    return x, yy


def _gini_of_curve(x: FloatArray, y: FloatArray) -> float:
    return float(1.0 - 2.0 * np.trapezoid(y, x))


def gini(
    y_loss: ArrayLike, score: ArrayLike, exposure: ArrayLike, *, ties: Ties = "stable"
) -> float:
    """``1 - 2 * AUC`` of the ordered Lorenz curve (trapezoid rule).

    NaN when there is no loss at all (nothing to rank).
    """
    if _vector("y_loss", y_loss).sum() <= 0:
        return float("nan")
    return _gini_of_curve(*lorenz_curve(y_loss, score, exposure, ties=ties))


def normalized_gini(
    y_loss: ArrayLike, score: ArrayLike, exposure: ArrayLike, *, ties: Ties = "stable"
) -> float:
    """Gini of ``score`` divided by the Gini of the oracle that ranks by ``y_loss / exposure``.

    1.0 for a perfect ranking, about 0 for a random one, negative when reversed.
    NaN when the oracle has no spread to rank (no loss, or one rate everywhere).
    """
    y = _vector("y_loss", y_loss)
    w = _vector("exposure", exposure)
    best = gini(y, loss_rate(y, w), w)
    if not np.isfinite(best) or best == 0:
        return float("nan")
    return gini(y, score, w, ties=ties) / best


def gini_share_of_oracle(
    truth_loss: ArrayLike, score: ArrayLike, exposure: ArrayLike, *, ties: Ties = "stable"
) -> float:
    """Share of the achievable Gini a score reaches, measured on *expected* losses.

    ``truth_loss`` is each row's expected loss under the process that generated
    the data (known for synthetic worlds only). Drawing the Lorenz curve of the
    scores on it removes claim noise: the denominator is the Gini of the truth
    ranked by its own rate, the best any model could do, so 1.0 means the score
    orders risks exactly like the generator.
    """
    return normalized_gini(truth_loss, score, exposure, ties=ties)


def _guard_mu(mu: ArrayLike, mu_floor: float) -> FloatArray:
    m = _vector("mu", mu)
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError("predictions must be finite and >= 0")
    return np.maximum(m, mu_floor)


def mean_tweedie_deviance(
    y: ArrayLike,
    mu: ArrayLike,
    power: float,
    weights: ArrayLike | None = None,
    *,
    mu_floor: float = MU_FLOOR,
) -> float:
    """Weighted mean Tweedie deviance (scikit-learn's), predictions floored at ``mu_floor``."""
    from sklearn.metrics import mean_tweedie_deviance as sk_deviance

    m = _guard_mu(mu, mu_floor)
    return float(sk_deviance(_vector("y", y), m, sample_weight=weights, power=power))


def mean_poisson_deviance(
    y: ArrayLike, mu: ArrayLike, weights: ArrayLike | None = None, *, mu_floor: float = MU_FLOOR
) -> float:
    """Weighted mean Poisson deviance (scikit-learn's), predictions floored at ``mu_floor``."""
    from sklearn.metrics import mean_poisson_deviance as sk_deviance

    m = _guard_mu(mu, mu_floor)
    return float(sk_deviance(_vector("y", y), m, sample_weight=weights))


def actual_over_expected(actual: ArrayLike, expected: ArrayLike) -> float:
    """Σ actual / Σ expected; NaN when nothing was expected."""
    total_expected = float(_vector("expected", expected).sum())
    if total_expected == 0:
        return float("nan")
    return float(_vector("actual", actual).sum()) / total_expected


def ae_by_decile(
    actual: ArrayLike, expected: ArrayLike, exposure: ArrayLike, score: ArrayLike, n: int = 10
) -> pd.DataFrame:
    """Actual over expected loss in ``n`` bands of equal exposure ranked by ``score``.

    Rows are sorted by score (stable) and a row joins the band that holds the
    midpoint of its exposure on the cumulative-exposure axis, so bands have equal
    exposure up to one row. Columns: ``decile`` (1 = lowest score .. n),
    ``exposure``, ``actual``, ``expected``, ``ae`` (NaN when nothing is expected)
    and ``mean_score`` (exposure-weighted; NaN for a band without exposure).
    Band totals add up to the overall totals; every band is listed, even empty.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    a = _vector("actual", actual)
    e = _vector("expected", expected)
    w = _vector("exposure", exposure)
    s = _vector("score", score)
    _same_length(actual=a, expected=e, exposure=w, score=s)
    _check_exposure(w)
    if np.any(np.isnan(s)):
        raise ValueError("score contains NaN")

    order = np.argsort(s, kind="stable")
    w_sorted = w[order]
    midpoint = np.cumsum(w_sorted) - w_sorted / 2.0
    band_sorted = np.clip(np.floor(n * midpoint / w.sum()).astype(np.int64), 0, n - 1)
    band = np.empty(len(s), dtype=np.int64)
    band[order] = band_sorted

    def per_band(values: FloatArray) -> FloatArray:
        return np.bincount(band, weights=values, minlength=n).astype(np.float64)

    band_w = per_band(w)
    band_a = per_band(a)
    band_e = per_band(e)
    # Zero-exposure rows can carry an infinite rate; they weigh nothing in the mean.
    weighted_s = np.where(w > 0, s, 0.0) * w
    band_ws = per_band(weighted_s)
    nan = np.full(n, np.nan)
    return pd.DataFrame(
        {
            "decile": np.arange(1, n + 1),
            "exposure": band_w,
            "actual": band_a,
            "expected": band_e,
            "ae": np.divide(band_a, band_e, out=nan.copy(), where=band_e != 0),
            "mean_score": np.divide(band_ws, band_w, out=nan.copy(), where=band_w > 0),
        }
    )


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman rank correlation; NaN when either side is constant (no ranking)."""
    from scipy.stats import spearmanr

    x = _vector("a", a)
    y = _vector("b", b)
    _same_length(a=x, b=y)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(spearmanr(x, y).statistic)


def _finite_range(values: pd.Series) -> tuple[float, float]:
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(finite.min()), float(finite.max())


def evaluate(
    actual_loss: ArrayLike,
    predicted_loss: ArrayLike,
    exposure: ArrayLike,
    truth_loss: ArrayLike | None = None,
    power: float = 1.5,
    *,
    n_deciles: int = 10,
) -> dict[str, float]:
    """All scalar metrics of one model on one data slice.

    Ranking uses the predicted rate ``predicted_loss / exposure``; the deviance
    is the exposure-weighted Tweedie deviance of the pure premium (loss per unit
    exposure), as in scikit-learn's example, over rows with exposure.

    Keys: ``gini``, ``normalized_gini``, ``deviance``, ``ae`` (Σ actual / Σ
    predicted), ``ae_decile_min``/``max`` (over exposure deciles of the score).
    With ``truth_loss`` (expected loss of the generator, synthetic data only):
    ``gini_share_of_oracle``, ``spearman_truth`` (predicted vs true rate),
    ``expected_over_truth`` (Σ predicted / Σ truth) and
    ``ae_truth_decile_min``/``max`` (truth over predicted by score decile).
    """
    actual = _vector("actual_loss", actual_loss)
    predicted = _vector("predicted_loss", predicted_loss)
    w = _vector("exposure", exposure)
    _same_length(actual_loss=actual, predicted_loss=predicted, exposure=w)
    _check_exposure(w)
    _check_loss("actual_loss", actual)
    score = loss_rate(predicted, w)

    has_w = w > 0
    deviance = mean_tweedie_deviance(
        actual[has_w] / w[has_w], predicted[has_w] / w[has_w], power, weights=w[has_w]
    )
    ae_min, ae_max = _finite_range(ae_by_decile(actual, predicted, w, score, n_deciles)["ae"])
    out: dict[str, float] = {
        "gini": gini(actual, score, w),
        "normalized_gini": normalized_gini(actual, score, w),
        "deviance": deviance,
        "ae": actual_over_expected(actual, predicted),
        "ae_decile_min": ae_min,
        "ae_decile_max": ae_max,
    }
    if truth_loss is not None:
        truth = _vector("truth_loss", truth_loss)
        _same_length(truth_loss=truth, exposure=w)
        _check_loss("truth_loss", truth)
        truth_table = ae_by_decile(truth, predicted, w, score, n_deciles)
        t_min, t_max = _finite_range(truth_table["ae"])
        out |= {
            "gini_share_of_oracle": gini_share_of_oracle(truth, score, w),
            "spearman_truth": spearman(score[has_w], truth[has_w] / w[has_w]),
            "expected_over_truth": actual_over_expected(predicted, truth),
            "ae_truth_decile_min": t_min,
            "ae_truth_decile_max": t_max,
        }
    return out
