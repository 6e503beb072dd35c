"""The model the benchmarks serve: the registered champion, or one trained for them.

With no champion in the store, one is trained the size of issue 9's reference model
(one loss booster of 300 trees of 31 leaves: Tweedie, a fixed number of rounds, no
early stopping; the Poisson frequency booster beside it is the same size), registered
and made champion, so that the figures compare with the issue's."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from models.bundle import ModelBundle
from models.settings import Settings
from training.fit import TWEEDIE, FitConfig

REFERENCE_FIT: Final = FitConfig(
    num_leaves=31, fixed_rounds=300, min_data_in_leaf=100, structures=(TWEEDIE,)
)
TRAIN_SEED: Final = 4_242


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    uri: str  # pinned: models:/<name>/<version>
    trained_by_bench: bool
    train_seconds: float | None
    structure: str
    features: int
    boosters: dict[str, dict[str, float]]  # name -> trees, mean and max leaves
    loss_boosters: tuple[str, ...]  # the boosters TreeSHAP runs on for a quote

    def describe(self) -> str:
        trees = ", ".join(
            f"{n} {int(b['trees'])} trees x {b['max_leaves']:.0f} leaves"
            for n, b in self.boosters.items()
        )
        made = "trained by the bench" if self.trained_by_bench else "the registered champion"
        return f"{self.name} v{self.version} ({made}; {self.structure}: {trees})"


def _shape(bundle: ModelBundle) -> dict[str, dict[str, float]]:
    out = {}
    for name, booster in bundle.boosters.items():
        leaves = [t["num_leaves"] for t in booster.dump_model()["tree_info"]]
        out[name] = {
            "trees": float(len(leaves)),
            "mean_leaves": float(np.mean(leaves)),
            "max_leaves": float(max(leaves)),
        }
    return out


def _champion_version(settings: Settings) -> str | None:
    from mlflow.exceptions import MlflowException

    from training import tracking

    client = tracking.configure(settings)
    try:
        found = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    except MlflowException:
        return None
    return str(found.version)


def _train(settings: Settings, sites: int, progress: Callable[[str], Any]) -> str:
    from training import tracking
    from training.pipeline import run_training
    from training.synth import generate_world, write_world

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "world"
        progress(f"no champion in {settings.tracking_uri}: training the reference-size model")
        write_world(generate_world(sites, seed=TRAIN_SEED), folder, fmt="parquet")
        _, version, _ = run_training(folder, settings, cfg=REFERENCE_FIT, progress=progress)
    if version is None:  # pragma: no cover - run_training registers by default
        raise RuntimeError("training registered no model version")
    client = tracking.configure(settings)
    client.set_registered_model_alias(settings.registered_model_name, tracking.CHAMPION, version)
    return version


def ensure_champion(
    settings: Settings, *, train_sites: int = 1000, progress: Callable[[str], Any] = print
) -> tuple[Champion, ModelBundle]:
    """The champion of ``settings``' store (trained first if there is none)."""
    from models.mlflow_model import load_bundle

    version = _champion_version(settings)
    seconds = None
    trained = version is None
    if version is None:
        started = time.perf_counter()
        version = _train(settings, train_sites, progress)
        seconds = time.perf_counter() - started
    uri = f"models:/{settings.registered_model_name}/{version}"
    bundle = load_bundle(uri)
    return (
        Champion(
            name=settings.registered_model_name,
            version=version,
            uri=uri,
            trained_by_bench=trained,
            train_seconds=seconds,
            structure=bundle.meta.structure,
            features=len(bundle.meta.feature_names),
            boosters=_shape(bundle),
            loss_boosters=tuple(n for n, _ in bundle.meta.loss_terms),
        ),
        bundle,
    )
