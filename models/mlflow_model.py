"""The bundle as an MLflow pyfunc model, so the registry holds one self-contained
artifact that ``mlflow models serve`` and the pricing service both load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import load_model as _load_pyfunc
from mlflow.pyfunc.model import PythonModel

from models.bundle import ModelBundle

BUNDLE_ARTIFACT = "bundle"


class SiteRiskModel(PythonModel):
    """Input: the feature columns plus ``exposure`` (worker-hours of the month priced).
    Output: expected incurred loss (CNY) and expected claim count for that exposure."""

    bundle: ModelBundle

    def load_context(self, context: Any) -> None:
        self.bundle = ModelBundle.load(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        names = list(self.bundle.meta.feature_names)
        x = model_input[names].to_numpy(dtype=np.float64, na_value=np.nan)
        exposure = model_input["exposure"].to_numpy(dtype=np.float64, na_value=np.nan)
        loss_rate = self.bundle.loss_rate(x)
        return pd.DataFrame(
            {
                "expected_loss_cny": loss_rate * exposure,
                "expected_claims": self.bundle.claim_rate(x) * exposure,
                "loss_rate_per_hour": loss_rate,
                "percentile": self.bundle.percentile(loss_rate),
            }
        )


def load_bundle(model_uri: str) -> ModelBundle:
    """Load the bundle behind a registry or run URI (``models:/site-risk@champion``)."""
    model = _load_pyfunc(model_uri)
    wrapped = model.unwrap_python_model()  # type: ignore[no-untyped-call]
    if not isinstance(wrapped, SiteRiskModel):
        raise TypeError(f"{model_uri} is not a site-risk model")
    return wrapped.bundle
