"""``siterisk data aggregate`` on hand-written events: the folder it writes, the months
asked for, and bad events or options reported without a traceback."""

from __future__ import annotations

from pathlib import Path

from events_helpers import baseline, days, write
from typer.testing import CliRunner

from training.cli import app

runner = CliRunner()


def test_aggregate_writes_a_contract_folder(tmp_path: Path) -> None:
    rows = baseline()
    rows["attendance"] += days("S1", "W1", "2025-04-01", "2025-04-01")
    events = write(tmp_path / "events", rows)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["data", "aggregate", str(events), "--out", str(out), "--months", "2025-04..2025-04"]
    )
    assert result.exit_code == 0, result.output
    assert "✓ wrote 1 site-months (2025-04..2025-04) with sites and claims" in result.output
    assert "(duckdb, " in result.output
    check = runner.invoke(app, ["data", "validate", str(out)])
    assert check.exit_code == 0, check.output


def test_bad_events_exit_1_with_every_problem(tmp_path: Path) -> None:
    rows = baseline()
    rows["attendance"][1]["date"] = "2025-03-32"
    rows["site_stages"][0]["stage"] = "roof"
    events = write(tmp_path / "events", rows)
    result = runner.invoke(app, ["data", "aggregate", str(events), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "breaks the event contract (2 problems)" in result.output
    assert "attendance.csv row 2 (line 3 of the file) date — '2025-03-32'" in result.output
    assert "site_stages.csv row 1 (line 2 of the file) stage — 'roof'" in result.output
    assert not (tmp_path / "o").exists()


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    events = write(tmp_path / "events", baseline())
    for option, value in (("--months", "2025-3..2025-04"), ("--engine", "flink")):
        result = runner.invoke(
            app, ["data", "aggregate", str(events), "--out", str(tmp_path / "o"), option, value]
        )
        assert result.exit_code == 2, result.output
        assert option in result.output
