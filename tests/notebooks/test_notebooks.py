"""The notebooks run top to bottom on small worlds, warning-free and with figures, on
the generator's data and on other contract folders; and they are committed stripped.

Each notebook runs in a fresh kernel of this interpreter (nbclient, as nbmake does)
with its own ``SITERISK_HOME`` and ``TMPDIR``, so it never touches ``var/``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

from models.settings import Settings
from training import tracking
from training.pipeline import run_training
from training.synth import generate_world, write_world

pytestmark = pytest.mark.xdist_group("notebooks")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 600
# Settings the notebooks read; the tests decide them, not the caller's shell.
OUR_VARIABLES = re.compile(r"^(SITERISK_|MLFLOW_|MPLBACKEND$)")
NB_VARIABLE = re.compile(r"SITERISK_NB_[A-Z_]+")


def _notebook(stem: str) -> Path:
    (path,) = [p for p in PATHS if p.stem.startswith(stem)]
    return path


def _environment(tmp: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not OUR_VARIABLES.match(k)}
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    env |= {"SITERISK_HOME": str(tmp / "home"), "TMPDIR": str(tmp / "tmp"), **variables}
    return env


def _execute(path: Path, env: dict[str, str]) -> NotebookNode:
    """Run every cell; a cell that raises fails the test with its traceback."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute(env=env)
    return nb


def _outputs(nb: NotebookNode) -> list[NotebookNode]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def _stdout(nb: NotebookNode) -> str:
    return "".join(o.text for o in _outputs(nb) if o.output_type == "stream" and o.name == "stdout")


def _check_clean_run(nb: NotebookNode) -> None:
    outputs = _outputs(nb)
    assert [o.ename for o in outputs if o.output_type == "error"] == []
    noise = [
        o.text
        for o in outputs
        if o.output_type == "stream" and o.name == "stderr" and "warn" in o.text.lower()
    ]
    assert noise == []
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook drew no figure"
    # The kernel is this interpreter's environment, not whatever 'python' a PATH finds.
    assert _stdout(nb).rstrip().splitlines()[-1] == sys.prefix


def _nbsupport() -> ModuleType:
    """The notebooks' helper module, which lives beside them rather than in a package."""
    spec = importlib.util.spec_from_file_location("nbsupport", NOTEBOOKS / "nbsupport.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def champion_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracking store with a promoted champion, trained on a small generated world, so
    notebooks 02 and 03 study a registered model instead of training their own."""
    root = tmp_path_factory.mktemp("champion")
    world = root / "world"
    write_world(generate_world(500, seed=3, months=24), world, "parquet")
    settings = Settings(home=root / "home").model_copy(update={"mlflow_tracking_uri": None})
    _, version, _ = run_training(world, settings, cfg=_nbsupport().QUICK_FIT)
    assert version is not None
    client = tracking.configure(settings)
    client.set_registered_model_alias(settings.registered_model_name, tracking.CHAMPION, version)
    return root / "home"


@pytest.fixture(scope="module")
def other_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A contract folder unlike the notebooks' default: another seed, size and window,
    written as CSV."""
    folder = tmp_path_factory.mktemp("csv-world")
    write_world(generate_world(450, seed=23, months=26, start="2022-05"), folder, "csv")
    return folder


@pytest.fixture(scope="module")
def alien_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export made as an outside platform would (tests/fixtures/alien_world.py)."""
    from fixtures.alien_world import make_alien_world, write_alien_csv

    return write_alien_csv(make_alien_world(350, seed=4), tmp_path_factory.mktemp("alien"))


@pytest.mark.slow
def test_data_overview_runs_on_a_generated_world(tmp_path: Path) -> None:
    nb = _execute(_notebook("01"), _environment(tmp_path, SITERISK_NB_SITES="600"))
    _check_clean_run(nb)
    assert "generated" in _stdout(nb)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["other_folder", "alien_folder"])
def test_data_overview_reads_another_folder(
    tmp_path: Path, source: str, request: pytest.FixtureRequest
) -> None:
    folder: Path = request.getfixturevalue(source)
    nb = _execute(_notebook("01"), _environment(tmp_path, SITERISK_NB_DATA=str(folder)))
    _check_clean_run(nb)
    assert f"{folder} (given)" in _stdout(nb)


@pytest.mark.slow
def test_model_diagnostics_study_the_champion(tmp_path: Path, champion_home: Path) -> None:
    env = _environment(tmp_path) | {"SITERISK_HOME": str(champion_home)}
    nb = _execute(_notebook("02"), env)
    _check_clean_run(nb)
    out = _stdout(nb)
    assert "models:/site-risk@champion (version 1)" in out
    assert "(throwaway)" not in out
    assert "the model was trained on this data" in out


@pytest.mark.slow
def test_model_diagnostics_train_their_own_model_on_another_folder(
    tmp_path: Path, other_folder: Path
) -> None:
    env = _environment(tmp_path, SITERISK_NB_DATA=str(other_folder))
    nb = _execute(_notebook("02"), env)
    _check_clean_run(nb)
    out = _stdout(nb)
    assert "(throwaway)" in out
    assert f"data    {other_folder}" in out
    # The caller's store was not written to.
    assert not (tmp_path / "home").exists()


@pytest.mark.slow
def test_pricing_walkthrough_matches_the_service(tmp_path: Path, champion_home: Path) -> None:
    env = _environment(tmp_path) | {"SITERISK_HOME": str(champion_home)}
    nb = _execute(_notebook("03"), env)
    _check_clean_run(nb)
    assert "the same as above" in _stdout(nb)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [
        cell.get("id", i)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert dirty == [], f"strip the outputs of {path.name} (e.g. Kernel > Restart & Clear Output)"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_documents_its_parameters(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.cells[0].cell_type == "markdown"
    code = "".join(c.source for c in nb.cells if c.cell_type == "code")
    assert set(NB_VARIABLE.findall(code)) <= set(NB_VARIABLE.findall(nb.cells[0].source))


def test_there_are_notebooks() -> None:
    assert [p.stem[:2] for p in PATHS] == ["01", "02", "03"]
