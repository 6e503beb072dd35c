"""Calendar-month seasonality as a multiplicative offset, like exposure.

Claims follow the calendar (typhoon, rainstorm and heat months in Shanghai; the Spring
Festival lull), but a month-of-year feature would put "season" into every site's
relativity and explanation although no contractor controls it, and would price an
annual policy by the month it starts. So the trees learn the site, and the season is a
separate factor per calendar month, fitted after them on what they left unexplained:
a Poisson GLM of claim counts on Fourier terms of the month with the balanced frequency
model's expected counts as offset. Counts, not losses: one fatality would outweigh a
season of minor injuries. Harmonics enter only while a likelihood-ratio test finds
them (p < 0.01), so a world without seasonality gets factors of exactly one instead of
noise. The factors are rescaled so predicted totals on the fitted rows do not change:
the balance the model already has is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2
from sklearn.linear_model import PoissonRegressor

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_HARMONICS = 2
P_VALUE = 0.01


def month_of_year(months: Sequence[str] | npt.ArrayLike) -> IntArray:
    """1..12 from 'YYYY-MM' strings."""
    return np.fromiter((int(str(m)[5:7]) for m in np.asarray(months).ravel()), dtype=np.int64)


def fourier(moy: IntArray, harmonics: int) -> FloatArray:
    angle = 2.0 * np.pi * (moy.astype(np.float64) - 1.0) / 12.0
    cols = []
    for h in range(1, harmonics + 1):
        cols += [np.sin(h * angle), np.cos(h * angle)]
    return np.column_stack(cols) if cols else np.empty((moy.size, 0))


def _deviance(y: FloatArray, mu: FloatArray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2.0 * np.sum(term - (y - mu)))


def fit_season(
    months: Sequence[str] | npt.ArrayLike,
    claims: FloatArray,
    expected_claims: FloatArray,
    expected_loss: FloatArray,
) -> tuple[float, ...]:
    """Twelve factors (January..December); all ones when no harmonic is significant."""
    moy = month_of_year(months)
    y = np.asarray(claims, dtype=np.float64)
    mu = np.asarray(expected_claims, dtype=np.float64)
    keep = (mu > 0) & np.isfinite(mu) & np.isfinite(y)
    moy, y, mu = moy[keep], y[keep], mu[keep]
    if y.sum() <= 0 or np.unique(moy).size < 12:
        return (1.0,) * 12
    fitted = mu * (y.sum() / mu.sum())  # intercept only
    deviance = _deviance(y, fitted)
    coef = np.empty(0)
    for harmonics in range(1, MAX_HARMONICS + 1):
        x = fourier(moy, harmonics)
        glm = PoissonRegressor(alpha=0.0, fit_intercept=True, max_iter=1000, tol=1e-8)
        glm.fit(x, y / mu, sample_weight=mu)
        candidate = mu * np.asarray(glm.predict(x), dtype=np.float64)
        improved = _deviance(y, candidate)
        if chi2.sf(deviance - improved, df=2) >= P_VALUE:
            break
        deviance, coef = improved, np.asarray(glm.coef_, dtype=np.float64)
    if coef.size == 0:
        return (1.0,) * 12
    factors = np.exp(fourier(np.arange(1, 13), coef.size // 2) @ coef)
    loss = np.asarray(expected_loss, dtype=np.float64)[keep]
    scale = loss.sum() / float(np.sum(loss * factors[moy - 1]))
    return tuple(float(f) for f in factors * scale)
