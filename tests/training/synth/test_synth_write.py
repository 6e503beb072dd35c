"""Writing synthetic worlds: both formats load through the contract loader, files
are byte-stable per seed, and ``siterisk data generate`` drives it all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.contract import load_folder
from training.cli import app
from training.synth import FORMATS, generate_world, write_world


@pytest.mark.parametrize("fmt", FORMATS)
def test_written_world_loads_back_unchanged(tmp_path: Path, fmt: str) -> None:
    world = generate_world(150, seed=3)
    paths = write_world(world, tmp_path, "csv" if fmt == "csv" else "parquet")
    assert [p.name for p in paths] == [
        f"{name}.{fmt}" for name in ("sites", "site_months", "claims", "truth")
    ]
    data = load_folder(tmp_path)
    assert data.warnings == []
    sm = data.site_months
    assert len(sm) == len(world.site_months)
    # Nulls survive the round trip as nulls, not zeros.
    for column in ("ai_alerts_ppe", "device_online_rate", "training_coverage"):
        assert sm[column].isna().sum() == world.site_months[column].isna().sum()
    pd.testing.assert_series_equal(
        data.claims["incident_date"].reset_index(drop=True),
        world.claims["incident_date"].astype("datetime64[ns]").reset_index(drop=True),
        check_dtype=False,
    )
    assert data.sites["start_date"].tolist() == world.sites["start_date"].tolist()


def test_write_rejects_unknown_format(tmp_path: Path) -> None:
    world = generate_world(20, seed=1)
    with pytest.raises(ValueError, match="format"):
        write_world(world, tmp_path, "xlsx")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_generate_writes_byte_identical_files_per_seed(tmp_path: Path, fmt: str) -> None:
    runner = CliRunner()
    outs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for out, seed in zip(outs, (4, 4, 5), strict=True):
        args = ["data", "generate", "--sites", "120", "--seed", str(seed), "--out", str(out)]
        result = runner.invoke(app, [*args, "--format", fmt, "--months", "24"])
        assert result.exit_code == 0, result.output
        assert "120 sites" in result.output
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(f"{n}.{fmt}" for n in ("sites", "site_months", "claims", "truth"))
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert (outs[0] / f"sites.{fmt}").read_bytes() != (outs[2] / f"sites.{fmt}").read_bytes()
    data = load_folder(outs[0])
    assert data.site_months["month"].nunique() == 24


def test_cli_generate_honours_start_and_rejects_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "w"
    base = ["data", "generate", "--sites", "30", "--out", str(out)]
    ok = runner.invoke(app, [*base, "--start", "2024-04", "--months", "6"])
    assert ok.exit_code == 0, ok.output
    months = pd.read_csv(out / "site_months.csv")["month"]
    assert months.min() >= "2024-04"
    assert months.max() <= "2024-09"
    assert runner.invoke(app, [*base, "--format", "xlsx"]).exit_code != 0
    assert runner.invoke(app, [*base, "--start", "2024-13"]).exit_code != 0
