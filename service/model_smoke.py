"""The check a model must pass before it may price: a fixed synthetic site goes
through the serving feature code and the model, and everything must come out finite
and add up.

A model trained on another feature set, with a broken calibration or a corrupt tree
fails here, before it replaces the model that is serving.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models import features as fdef
from models.bundle import ModelBundle
from models.contract import spec

# TreeSHAP rows plus the balance term reproduce the log rate to float precision.
ADDITIVITY_TOLERANCE = 1e-6


class ModelRejectedError(Exception):
    """The model failed its smoke test; the message says which check."""


def _probe_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One plausible site with six months of data and one old claim."""
    months = [f"2024-{m:02d}" for m in range(1, 7)]
    sites = pd.DataFrame(
        [
            {
                "site_id": "SMOKE",
                "contractor_id": "SMOKE-GC",
                "district": spec.DISTRICTS[0],
                "project_type": spec.PROJECT_TYPES[0],
                "contract_value_cny": 2.0e8,
                "floor_area_m2": 60000.0,
                "max_height_m": 80.0,
                "start_date": pd.Timestamp("2023-06-01"),
                "planned_end_date": pd.Timestamp("2025-12-31"),
                "hazardous_works": 6,
                "over_scale_hazardous_works": 2,
                "tower_cranes": 3,
            }
        ]
    )
    rows = []
    for i, month in enumerate(months):
        rows.append(
            {
                "site_id": "SMOKE",
                "month": month,
                "stage": spec.STAGES[1],
                "worker_hours": 60000.0 + 1000.0 * i,
                "avg_daily_workers": 250.0,
                "new_worker_share": 0.12,
                "training_coverage": 0.9,
                "ai_alerts_ppe": 20 + i,
                "ai_alerts_intrusion": 5,
                "ai_alerts_fire": 0,
                "alert_closure_rate": 0.85,
                "hazards_found": 20,
                "major_hazards": 1,
                "hazard_rectification_rate": 0.9,
                "crane_warnings": 3,
                "structural_alarms": 1,
                "device_online_rate": 0.92,
                "data_completeness": 0.95,
                "inspection_violations": 2,
                "severe_weather_days": 2,
            }
        )
    site_months = pd.DataFrame(rows)
    claims = pd.DataFrame(
        [
            {
                "claim_id": "SMOKE-C1",
                "site_id": "SMOKE",
                "incident_date": pd.Timestamp("2024-02-10"),
                "cause": spec.CAUSES[0],
                "severity": spec.SEVERITIES[0],
                "paid_cny": 20000.0,
                "reserve_cny": 5000.0,
            }
        ]
    )
    return sites, site_months, claims


def probe_matrix() -> np.ndarray:
    """The probe site's features for 2024-07, and a row with nothing known."""
    sites, site_months, claims = _probe_frames()
    targets = pd.DataFrame({"site_id": ["SMOKE"], "month": ["2024-07"]})
    frame = fdef.build_features(sites, site_months, claims, targets=targets)
    known = fdef.to_matrix(frame)
    empty = np.full((1, len(fdef.FEATURE_NAMES)), np.nan)
    return np.vstack([known, empty])


def smoke_test(bundle: ModelBundle) -> None:
    """Raise :class:`ModelRejectedError` unless ``bundle`` can price with this code."""
    meta = bundle.meta
    if tuple(meta.feature_names) != tuple(fdef.FEATURE_NAMES):
        raise ModelRejectedError(
            f"the model was trained on feature set {meta.feature_set_version!r} with "
            f"{len(meta.feature_names)} features; this service computes feature set "
            f"{fdef.FEATURE_SET_VERSION!r} ({len(fdef.FEATURE_NAMES)} features)"
        )
    x = probe_matrix()
    try:
        log_rate = bundle.log_rate(x)
        claims = bundle.claim_rate(x)
        contrib = bundle.contributions(x)
        base = bundle.base_value
        pct = bundle.percentile(np.exp(log_rate))
        term = bundle.term_risk(x, ["2025-01"] * x.shape[0], 12.0)
    except Exception as exc:  # any failure to score is a refusal, not a crash
        raise ModelRejectedError(f"scoring the probe site failed: {exc!r}") from exc
    checks = (
        (np.all(np.isfinite(log_rate)), "the loss rate is not finite"),
        (np.all(np.isfinite(claims)) and np.all(claims >= 0), "the claim rate is not finite"),
        (np.all(np.isfinite(contrib)), "the explanations (TreeSHAP) are not finite"),
        (bool(np.isfinite(base)), "the base value is not finite"),
        (
            np.all(np.isfinite(term.expected_loss)) and np.all(term.hours >= 0),
            "the term projection (worker-hours, trend) is not finite",
        ),
        (np.all((pct >= 0) & (pct <= 100)), "the peer percentile is outside 0–100"),
        (len(meta.peer_rates) > 0, "the model has no peer reference"),
        (
            _positive(meta.rating.get("book_loss_ratio"))
            and _positive(meta.rating.get("off_balance_factor")),
            "the model has no rating-plan calibration (book loss ratio, off-balance factor)",
        ),
    )
    for ok, message in checks:
        if not ok:
            raise ModelRejectedError(message)
    gap = np.abs(contrib.sum(axis=1) + meta.loss_log_balance - log_rate)
    if float(gap.max()) > ADDITIVITY_TOLERANCE:
        raise ModelRejectedError(
            f"the explanations do not add up to the log rate (gap {float(gap.max()):.3g})"
        )


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0
