"""Helpers for the quote tests: contract rows of a synthetic world as a JSON request,
a small model trained and registered for real, and arithmetic in cents."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from models.bundle import ModelBundle
from models.settings import Settings
from service.quotes.example import contract_rows as rows
from training.pipeline import TrainOutcome
from training.synth import World


def request_for(
    world: World, site_id: str, start_month: str, *, months: int = 12, term_months: int = 12
) -> dict[str, Any]:
    """The JSON body pricing ``site_id`` from ``start_month``: its last ``months`` months
    before the start and its claims before the start, as the contract's rows."""
    site = world.sites[world.sites["site_id"] == site_id]
    history = (
        world.site_months[
            (world.site_months["site_id"] == site_id) & (world.site_months["month"] < start_month)
        ]
        .sort_values("month")
        .tail(months)
    )
    start_day = pd.Timestamp(f"{start_month}-01")
    claims = world.claims[
        (world.claims["site_id"] == site_id)
        & (pd.to_datetime(world.claims["incident_date"]) < start_day)
    ]
    return {
        "site": rows(site, "sites")[0],
        "months": rows(history, "site_months"),
        "claims": rows(claims, "claims"),
        "policy": {"start_month": start_month, "term_months": term_months},
    }


@dataclass(frozen=True)
class ModelStore:
    """The session's MLflow store and the champion registered in it."""

    home: Path
    settings: Settings  # the store's own settings (tracking URI, registered model)
    version: str
    outcome: TrainOutcome

    @property
    def bundle(self) -> ModelBundle:
        return self.outcome.bundle


@dataclass(frozen=True)
class PrivateRegistry:
    """A registered model of its own in the session's store, for tests that promote."""

    settings: Settings  # service settings pointing at this model's champion
    store: Settings  # the store's settings with this model's name

    def register(self, bundle: ModelBundle, *, champion: bool = True) -> str:
        return register_bundle(self.store, bundle, champion=champion)


def cents(value: float) -> int:
    return round(value * 100)


def register_bundle(store: Settings, bundle: ModelBundle, *, champion: bool = True) -> str:
    """Log ``bundle`` as a pyfunc model under ``store.registered_model_name``, the way
    training does but without its plots; return the new version (promoted if asked)."""
    import mlflow

    from models.mlflow_model import BUNDLE_ARTIFACT, SiteRiskModel
    from training import tracking

    client = tracking.configure(store)
    model = SiteRiskModel()
    model.bundle = bundle
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name="test-register"):
        folder = bundle.save(Path(tmp) / BUNDLE_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            artifacts={BUNDLE_ARTIFACT: str(folder)},
            registered_model_name=store.registered_model_name,
            pip_requirements=["lightgbm"],  # skips the slow requirement inference
        )
    version = str(info.registered_model_version)
    if champion:
        client.set_registered_model_alias(store.registered_model_name, tracking.CHAMPION, version)
    return version


def broken(bundle: ModelBundle) -> ModelBundle:
    """The same trees with a calibration that is not a number: loads, fails its smoke test."""
    meta = dataclasses.replace(bundle.meta, loss_log_balance=float("nan"))
    return ModelBundle(bundle.boosters, meta)


def shifted(bundle: ModelBundle, by: float) -> ModelBundle:
    """A valid model that prices every site ``exp(by)`` times as risky (a new version)."""
    meta = dataclasses.replace(bundle.meta, loss_log_balance=bundle.meta.loss_log_balance + by)
    return ModelBundle(bundle.boosters, meta)


def sites_with_history(world: World, start_month: str, min_months: int = 6) -> list[str]:
    """The sites of ``world`` with at least ``min_months`` months before ``start_month``
    and at work (worker-hours) in the month just before it: what the rating plan's quote
    limits let an insurer price for a policy starting then."""
    months = world.site_months
    before = months[months["month"] < start_month]
    counts = before.groupby("site_id").size()
    last = before["month"].max()
    working = set(before.loc[(before["month"] == last) & (before["worker_hours"] > 0), "site_id"])
    return [str(s) for s in counts[counts >= min_months].index if s in working]
