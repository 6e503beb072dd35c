"""Scoring a contract folder: every site-month priced from what was known before it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import features as fdef
from models.bundle import ModelBundle
from models.contract import ContractData

SCORE_COLUMNS = (
    "site_id", "month", "expected_claims", "expected_loss_cny", "loss_rate_per_hour",
)  # fmt: skip


def check_compatible(bundle: ModelBundle) -> None:
    if bundle.meta.feature_set_version != fdef.FEATURE_SET_VERSION:
        raise ValueError(
            f"model was trained with feature set {bundle.meta.feature_set_version}, "
            f"this code builds feature set {fdef.FEATURE_SET_VERSION}"
        )


def score_data(data: ContractData, bundle: ModelBundle) -> pd.DataFrame:
    """One row per row of ``site_months``, in its order; that month's worker-hours is the
    exposure and only earlier months and claims feed the features."""
    check_compatible(bundle)
    feats = fdef.build_features(data.sites, data.site_months, data.claims)
    x = fdef.to_matrix(feats)
    # the month's worker-hours times its season (an offset, like exposure)
    exposure = feats["exposure"].fillna(0.0).to_numpy(np.float64)
    exposure = exposure * bundle.season_factor(feats["month"].to_numpy())
    rate = bundle.loss_rate(x)
    out = pd.DataFrame(
        {
            "site_id": feats["site_id"].to_numpy(),
            "month": feats["month"].to_numpy(),
            "expected_claims": bundle.claim_rate(x) * exposure,
            "expected_loss_cny": rate * exposure,
            # season-neutral, per worker-hour: what a quote states as its loss rate
            "loss_rate_per_hour": rate,
        }
    )
    return out.loc[:, list(SCORE_COLUMNS)]
