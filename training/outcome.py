"""What a training run produces: the bundle and everything measured about it.

Its own module so that the run (:mod:`training.pipeline`), its tracking
(:mod:`training.tracking`) and the adequacy report (:mod:`training.adequacy`) can all
name it without importing one another in a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.bundle import ModelBundle
from models.contract import ContractData
from training.book import BookRules, Calibration
from training.dataset import TimeSplit


@dataclass
class Evaluation:
    metrics: dict[str, dict[str, float]]  # model name -> metric -> value
    curves: dict[str, tuple[np.ndarray, np.ndarray]]
    oracle: tuple[np.ndarray, np.ndarray] | None
    deciles: dict[str, pd.DataFrame]
    truth_oracles: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainOutcome:
    bundle: ModelBundle
    split: TimeSplit
    evaluation: Evaluation
    fingerprint: dict[str, Any]
    validation_gini: dict[str, float]
    test_frame: pd.DataFrame
    test_rates: dict[str, np.ndarray]
    train_frame: pd.DataFrame
    calibration: Calibration
    rules: BookRules
    data: ContractData
    frame: pd.DataFrame  # the modelling table, every month
