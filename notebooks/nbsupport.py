"""What the notebooks look at: a contract folder and a registered model.

The notebooks compute everything with the project's own packages; this module only
decides which data and which model they are pointed at, from the environment:

- ``SITERISK_NB_DATA``: a folder in the data contract's shape; unset, a small world is
  generated into a temporary folder (``SITERISK_NB_SITES``, ``SITERISK_NB_SEED``,
  ``SITERISK_NB_MONTHS``).
- ``SITERISK_NB_MODEL_URI``: an MLflow model URI; unset, the champion of the tracking
  store the settings name (``SITERISK_HOME``, ``MLFLOW_TRACKING_URI``). When that
  store has no champion (a fresh clone, CI), a small model is trained on the data,
  registered and promoted in a throwaway store under a temporary ``SITERISK_HOME``,
  so a notebook always runs; the store you use is never written to.

Temporary folders live until the notebook's kernel exits.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from models.bundle import ModelBundle
from models.contract import ContractData, load_folder
from models.settings import Settings
from training.dataset import read_truth
from training.fit import FREQUENCY_SEVERITY, FitConfig
from training.synth import World, generate_world, write_world

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

# Small and quick rather than good: one structure, big steps, one thread (the
# notebooks run next to other work on two cores, where OpenMP threads only wait).
QUICK_FIT = FitConfig(
    learning_rate=0.1,
    max_rounds=150,
    early_stopping=20,
    structures=(FREQUENCY_SEVERITY,),
    threads=1,
)

_KEEP: list[tempfile.TemporaryDirectory[str]] = []


def temp_dir(prefix: str) -> Path:
    """A folder removed when the kernel exits."""
    holder = tempfile.TemporaryDirectory(prefix=prefix)
    _KEEP.append(holder)
    return Path(holder.name)


@dataclass(frozen=True)
class Data:
    """A loaded contract folder, with the generator's truth and world when it has them."""

    folder: Path
    contract: ContractData
    truth: pd.DataFrame | None
    world: World | None  # set only when this session generated the folder

    @property
    def generated(self) -> bool:
        return self.world is not None


def load_data(folder: Path, world: World | None = None) -> Data:
    """Read and check a contract folder (every rule of the contract, as training does)."""
    return Data(folder, load_folder(folder), read_truth(folder), world)


def generate(sites: int, seed: int, months: int, out: Path | None = None) -> Data:
    """A synthetic world written as a Parquet contract folder, then read back like any."""
    folder = out or temp_dir("siterisk-nb-world-")
    world = generate_world(sites, seed, months=months)
    write_world(world, folder, "parquet")
    return load_data(folder, world)


def data(data_dir: str, *, sites: int, seed: int, months: int) -> Data:
    """``data_dir`` if given, else a freshly generated world."""
    if data_dir:
        return load_data(Path(data_dir).expanduser())
    return generate(sites, seed, months)


@dataclass(frozen=True)
class Model:
    bundle: ModelBundle
    uri: str
    settings: Settings
    version: str | None
    trained_on: Path | None  # the run's data folder, when it is still there
    bootstrapped: bool


@contextmanager
def _third_party_noise() -> Iterator[None]:
    """Ignore, while MLflow stores or loads a model, third-party warnings the notebooks
    cannot fix, as pytest's configuration does: MLflow's own, and shap's colour maps (the
    run's SHAP summary plot) calling a matplotlib API due to be deprecated. The
    notebooks turn every other warning into an error."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category, module="mlflow")
        warnings.filterwarnings(
            "ignore", "The set_(bad|over|under) function", PendingDeprecationWarning
        )
        # MLflow reads the model class's type hints when the class is defined, and
        # warns (attributing it to our module) that it cannot check 'Any'.
        warnings.filterwarnings("ignore", ".*Any type hint is inferred as AnyType", UserWarning)
        yield


def _store_exists(settings: Settings) -> bool:
    # Looking into an embedded store that is not there would create an empty one.
    return bool(settings.mlflow_tracking_uri) or (settings.home / "mlflow.db").exists()


def _version(settings: Settings, uri: str) -> ModelVersion | None:
    """The registry entry behind ``models:/<name>@alias`` or ``models:/<name>/N``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    name = settings.registered_model_name
    prefix = f"models:/{name}"
    try:
        if uri.startswith(prefix + "@"):
            return client.get_model_version_by_alias(name, uri.removeprefix(prefix + "@"))
        if uri.startswith(prefix + "/"):
            return client.get_model_version(name, uri.removeprefix(prefix + "/"))
    except MlflowException:
        return None
    return None


def _registered(settings: Settings, uri: str) -> Model:
    with _third_party_noise():
        from mlflow.tracking import MlflowClient

        from models.mlflow_model import load_bundle
        from training import tracking

        tracking.configure(settings)
        bundle = load_bundle(uri)
        mv = _version(settings, uri)
        run = None
        if mv is not None and mv.run_id:
            run = MlflowClient(settings.tracking_uri, settings.tracking_uri).get_run(mv.run_id)
    trained_on: Path | None = None
    source = run.data.params.get("data_dir") if run is not None else None
    if source and Path(source).is_dir():
        trained_on = Path(source)
    version = str(mv.version) if mv is not None else None
    return Model(bundle, uri, settings, version, trained_on, bootstrapped=False)


def challenger(champion: Model) -> Model | None:
    """The registry's 'challenger', if it is another version than ``champion``."""
    from training import tracking

    uri = tracking.model_version_uri(champion.settings, tracking.CHALLENGER)
    with _third_party_noise():
        mv = _version(champion.settings, uri)
    if mv is None or str(mv.version) == champion.version:
        return None
    return _registered(champion.settings, uri)


def _restore_backend(backend: str) -> None:
    """Logging a run's figures switches matplotlib to Agg, which also unhooks the
    notebook's inline display; put both back."""
    import matplotlib.pyplot as plt

    shell = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        pass
    if shell is not None and "inline" in backend:
        shell.run_line_magic("matplotlib", "inline")
    else:
        plt.switch_backend(backend)


def _bootstrap(training_data: Data) -> Model:
    import matplotlib

    from training import tracking
    from training.pipeline import run_training

    home = temp_dir("siterisk-nb-home-")
    # A throwaway embedded store, whatever MLFLOW_TRACKING_URI says.
    settings = Settings(home=home).model_copy(update={"mlflow_tracking_uri": None})
    backend = matplotlib.get_backend()
    with _third_party_noise():
        _, version, _ = run_training(
            training_data.folder,
            settings,
            cfg=QUICK_FIT,
            progress=lambda step: print("  " + step),
        )
        assert version is not None
        # The first version has no champion to be compared with: 'siterisk model promote'
        # would promote it as is.
        tracking.configure(settings).set_registered_model_alias(
            settings.registered_model_name, tracking.CHAMPION, version
        )
    _restore_backend(backend)
    model = _registered(settings, tracking.model_version_uri(settings, tracking.CHAMPION))
    return replace(model, trained_on=training_data.folder, bootstrapped=True)


def model_and_data(
    model_uri: str, data_dir: str, *, sites: int, seed: int, months: int
) -> tuple[Model, Data]:
    """The model to study and the data to study it on.

    Model: ``model_uri`` (it must load), else the settings' champion, else a quick model
    trained, registered and promoted in a throwaway store. Data: ``data_dir``, else the
    folder the model was trained on (when it is still there), else a generated world.
    """
    from mlflow.exceptions import MlflowException

    given = load_data(Path(data_dir).expanduser()) if data_dir else None
    settings = Settings()
    found: Model | None = None
    if model_uri:
        found = _registered(settings, model_uri)
    elif _store_exists(settings):
        try:
            found = _registered(settings, settings.champion_uri)
        except MlflowException as exc:
            print(f"No champion at {settings.champion_uri} ({type(exc).__name__}).")
    if found is None:
        print("No champion in the tracking store: training a quick one in a throwaway store.")
        training_data = given or generate(sites, seed, months)
        return _bootstrap(training_data), training_data
    if given is not None:
        return found, given
    if found.trained_on is not None:
        return found, load_data(found.trained_on)
    return found, generate(sites, seed, months)


def quiet_mlflow() -> None:
    """MLflow logs every step of storing a model (store migrations, advice on how models
    are serialised) at INFO and WARNING; in a notebook that buries the output. Errors
    still show."""
    import mlflow  # noqa: F401  (it sets its loggers' levels when imported)

    logging.getLogger("mlflow").setLevel(logging.ERROR)


def quick_config(**changes: Any) -> FitConfig:
    """The quick configuration with some settings changed (e.g. another seed)."""
    return replace(QUICK_FIT, **changes)
