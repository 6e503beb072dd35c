"""The bundle as an MLflow pyfunc model, so the registry holds one self-contained
artifact that ``mlflow models serve`` and the pricing service both load."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import load_model as _load_pyfunc
from mlflow.pyfunc.model import PythonModel

from models.bundle import ModelBundle
from models.contract.spec import MONTH_PATTERN

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

BUNDLE_ARTIFACT = "bundle"


MONTH_COLUMN = "month"
_MONTH = re.compile(MONTH_PATTERN)


class SiteRiskModel(PythonModel):
    """Input: the feature columns, ``exposure`` (worker-hours of the month priced) and,
    optionally, ``month`` ("YYYY-MM", the calendar month priced).
    Output: expected incurred loss (CNY) and expected claim count for that exposure, in
    that month's season (the average month when ``month`` is absent or empty), the
    season-neutral loss rate per worker-hour, its percentile among the model's peers,
    and the season factor applied."""

    bundle: ModelBundle

    def load_context(self, context: Any) -> None:
        self.bundle = ModelBundle.load(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        names = list(self.bundle.meta.feature_names)
        x = model_input[names].to_numpy(dtype=np.float64, na_value=np.nan)
        exposure = model_input["exposure"].to_numpy(dtype=np.float64, na_value=np.nan)
        season = self._season(model_input)
        loss_rate = self.bundle.loss_rate(x)
        return pd.DataFrame(
            {
                "expected_loss_cny": loss_rate * exposure * season,
                "expected_claims": self.bundle.claim_rate(x) * exposure * season,
                "loss_rate_per_hour": loss_rate,
                "percentile": self.bundle.percentile(loss_rate),
                "season_factor": season,
            }
        )

    def _season(self, model_input: pd.DataFrame) -> np.ndarray:
        factor = np.ones(len(model_input), dtype=np.float64)
        if MONTH_COLUMN not in model_input.columns:
            return factor
        months = model_input[MONTH_COLUMN]
        given = months.notna().to_numpy() & (months.astype(str) != "").to_numpy()
        if not given.any():
            return factor
        text = months[given].astype(str)
        bad = text[~text.map(lambda m: bool(_MONTH.fullmatch(m)))]
        if len(bad):
            raise ValueError(f"month must look like YYYY-MM, got {bad.iloc[0]!r}")
        factor[given] = self.bundle.season_factor(text.to_numpy())
        return factor


def model_signature(bundle: ModelBundle, example: pd.DataFrame) -> ModelSignature:
    """The pyfunc's signature from an example of its required columns (features and
    exposure), with the optional ``month`` column added."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    model = SiteRiskModel()
    model.bundle = bundle
    inferred = infer_signature(example, model.predict(None, example))
    assert inferred.inputs is not None
    columns = [c for c in inferred.inputs.inputs if c.name != MONTH_COLUMN]
    inputs = Schema([*columns, ColSpec("string", MONTH_COLUMN, required=False)])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs)


def load_bundle(model_uri: str) -> ModelBundle:
    """Load the bundle behind a registry or run URI (``models:/site-risk@champion``)."""
    model = _load_pyfunc(model_uri)
    wrapped = model.unwrap_python_model()  # type: ignore[no-untyped-call]
    if not isinstance(wrapped, SiteRiskModel):
        raise TypeError(f"{model_uri} is not a site-risk model")
    return wrapped.bundle
