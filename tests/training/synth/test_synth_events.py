"""The synthetic world's raw events (``siterisk data generate --events``): the events
folder follows the event contract, the contract folder's site_months is exactly
``siterisk data aggregate`` of it, and the world's monthly behaviour comes out of the
events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.contract import load_folder
from models.events.aggregate import aggregate_folder
from models.events.load import load_events
from training.cli import app
from training.synth.events import generate_events, write_world_events
from training.synth.world import simulate

SCALE = 0.05


def _generate(out: Path, *extra: str) -> str:
    args = ["data", "generate", "--sites", "40", "--months", "12", "--seed", "3"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_generate_events_writes_events_whose_aggregation_is_site_months(
    tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "world"
    output = _generate(out, "--events", "--workforce-scale", str(SCALE), "--format", fmt)
    assert "events in" in output
    events = out / "events"
    assert sorted(p.name for p in events.iterdir()) == sorted(
        f"{t}.{fmt}"
        for t in ("sites", "claims", "site_stages", "attendance", "training_records",
                  "video_events", "hazard_tickets", "device_events", "device_days",
                  "weather_warnings")
    )  # fmt: skip
    loaded = load_events(events)  # the events follow the event contract
    try:
        assert loaded.warnings == []
        counts = {
            t: loaded.con.execute(f"SELECT count(*) FROM {t}").fetchone()
            for t in ("attendance", "video_events", "hazard_tickets", "device_days")
        }
    finally:
        loaded.con.close()
    assert all(c is not None and c[0] > 0 for c in counts.values()), counts
    data = load_folder(out)  # the contract folder follows the data contract
    assert data.warnings == []
    # site_months is the aggregation of the events, byte for byte
    again = tmp_path / "again"
    result = CliRunner().invoke(app, ["data", "aggregate", str(events), "--out", str(again)])
    assert result.exit_code == 0, result.output
    _same_site_months(again / "site_months.parquet", out / "site_months.parquet")
    for name in ("sites", "claims"):
        assert (again / f"{name}.{fmt}").read_bytes() == (out / f"{name}.{fmt}").read_bytes()
    # truth covers exactly the aggregated site-months
    truth = (
        pd.read_parquet(out / "truth.parquet")
        if fmt == "parquet"
        else pd.read_csv(out / "truth.csv")
    )
    keys = data.site_months[["site_id", "month"]].astype(str).reset_index(drop=True)
    pd.testing.assert_frame_equal(truth[["site_id", "month"]].astype(str), keys)
    # the same seed gives the same files
    twin = tmp_path / "twin"
    _generate(twin, "--events", "--workforce-scale", str(SCALE), "--format", fmt)
    for path in sorted(out.rglob("*.*")):
        if path.name != "site_months.parquet":
            assert path.read_bytes() == (twin / path.relative_to(out)).read_bytes(), path.name
    _same_site_months(twin / "site_months.parquet", out / "site_months.parquet")


def _same_site_months(a: Path, b: Path) -> None:
    """Equal tables; worker_hours within 1e-12 relative, as DuckDB sums floats on
    several threads in no fixed order (docs/events.md)."""
    x, y = pd.read_parquet(a), pd.read_parquet(b)
    pd.testing.assert_frame_equal(x.drop(columns="worker_hours"), y.drop(columns="worker_hours"))
    np.testing.assert_allclose(x["worker_hours"], y["worker_hours"], rtol=1e-12, atol=0)


def test_without_events_the_output_is_the_plain_world(tmp_path: Path) -> None:
    plain, sim = tmp_path / "plain", simulate(40, 3, months=12)
    _generate(plain)
    assert sorted(p.name for p in plain.iterdir()) == [
        "claims.csv", "site_months.csv", "sites.csv", "truth.csv",
    ]  # fmt: skip
    data = load_folder(plain)
    assert len(data.site_months) == len(sim.world.site_months)
    result = CliRunner().invoke(
        app, ["data", "generate", "--sites", "4", "--out", str(tmp_path / "x"),
              "--workforce-scale", "0.5"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "only with --events" in result.output


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    sim = simulate(120, 8, months=18)
    out = tmp_path_factory.mktemp("world")
    write_world_events(sim, out, "parquet", SCALE)
    got = pd.read_parquet(out / "site_months.parquet")
    merged = got.merge(sim.world.site_months, on=["site_id", "month"], suffixes=("", "_w"))
    return got, merged


def test_the_world_behaviour_comes_out_of_the_events(
    aggregated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    got, m = aggregated
    assert len(m) == len(got)
    # copied one for one: stage, weather days, government findings
    for column in ("stage", "severe_weather_days", "inspection_violations"):
        assert (m[column].astype(str) == m[f"{column}_w"].astype(str)).all(), column
    # the crew is the scaled world's, every working day
    expected = np.maximum(1, np.round(SCALE * m["avg_daily_workers_w"]))
    np.testing.assert_array_equal(m["avg_daily_workers"], expected)
    ratio = m["worker_hours"] / (SCALE * m["worker_hours_w"])
    assert 0.8 < ratio.median() < 1.2
    # a hazard or monitor count reported by the world is what its tickets and alarms give
    for column in ("hazards_found", "major_hazards", "crane_warnings", "structural_alarms"):
        reported = m[column].notna() & m[f"{column}_w"].notna()
        assert reported.sum() > 100, column
        assert (m.loc[reported, column] == m.loc[reported, f"{column}_w"]).all(), column
    # shares follow the world's intended rates
    for column, tolerance in (
        ("device_online_rate", 0.02),
        ("hazard_rectification_rate", 0.05),
        ("training_coverage", 0.1),
        ("new_worker_share", 0.1),
    ):
        pair = m[[column, f"{column}_w"]].astype(float).dropna()
        assert len(pair) > 300, column
        assert abs(pair[column].mean() - pair[f"{column}_w"].mean()) < tolerance, column
        assert pair[column].corr(pair[f"{column}_w"]) > 0.3, column
    # a month without anyone on site has no row
    assert not (m["avg_daily_workers_w"] == 0).any()


def test_events_of_the_same_world_are_the_same(tmp_path: Path) -> None:
    a = generate_events(simulate(30, 4, months=6), SCALE)
    b = generate_events(simulate(30, 4, months=6), SCALE)
    for name, table in a.tables.items():
        assert table.equals(b.tables[name]), name
    with pytest.raises(ValueError, match="workforce_scale"):
        generate_events(simulate(3, 4, months=2), 0.0)
    # the folder aggregates with the rows the world has working months for
    sim = simulate(30, 4, months=6)
    folder = tmp_path / "events"
    write_world_events(sim, tmp_path, "csv", SCALE)
    done = aggregate_folder(folder, tmp_path / "again")
    assert done.rows == int((sim.world.site_months["avg_daily_workers"] > 0).sum())
