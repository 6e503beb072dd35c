"""A model of a set size, as the benchmarks train one: ``FitConfig.fixed_rounds``."""

from __future__ import annotations

import numpy as np

from models import features as fdef
from training.fit import FitConfig, Part, fit_frequency, fit_tweedie, refit_terms


def _part(rng: np.random.Generator, n: int) -> Part:
    x = rng.normal(size=(n, len(fdef.FEATURE_NAMES)))
    for j in fdef.categorical_indices():
        x[:, j] = rng.integers(0, 3, n)
    exposure = rng.uniform(500.0, 5000.0, n)
    claims = rng.poisson(exposure * 1e-3 * np.exp(0.3 * x[:, 0]))
    loss = claims * rng.gamma(2.0, 5000.0, n)
    return Part(x, exposure, loss.astype(np.float64), claims.astype(np.float64))


def test_fixed_rounds_grow_exactly_that_many_trees_without_early_stopping() -> None:
    rng = np.random.default_rng(3)
    train, valid = _part(rng, 3000), _part(rng, 1000)
    cfg = FitConfig(fixed_rounds=12, num_leaves=7, min_data_in_leaf=20, threads=1)
    terms = (fit_tweedie(train, valid, cfg), fit_frequency(train, valid, cfg))
    assert [t.booster.num_trees() for t in terms] == [12, 12]
    assert [t.rounds for t in terms] == [12, 12]
    assert [t.booster.num_trees() for t in refit_terms(terms, train, cfg)] == [12, 12]
    # without it, early stopping on noise stops well short of the maximum
    stopped = fit_tweedie(
        train,
        valid,
        FitConfig(max_rounds=400, early_stopping=5, num_leaves=7, min_data_in_leaf=20, threads=1),
    )
    assert stopped.booster.num_trees() < 400
