"""Incremental aggregation (issue 20, item 4): a re-run with nothing changed writes
nothing, and a run after hand-made appends aggregates exactly the months those appends
reach, including later months that read earlier events (first attendance, training
validity, the 90-day hazards window, tickets due later), with the same table as a
full run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from events_helpers import Rows, baseline, days, device, site, write
from typer.testing import CliRunner

from models.contract import load_folder
from models.events.aggregate import aggregate_folder
from models.events.incremental import MANIFEST, aggregate_incremental


def _world() -> Rows:
    """S1 with W1 on the first three days of every month March-August 2025, a camera,
    and an own ticket in January (so hazards_found is never null in these months)."""
    rows = baseline()
    rows["attendance"] = []
    for month in ("03", "04", "05", "06", "07", "08"):
        rows["attendance"] += days("S1", "W1", f"2025-{month}-01", f"2025-{month}-03")
    rows["device_days"] = device("S1", "C1", "camera", "2025-03-01", "2025-08-31")
    rows["hazard_tickets"] = [_ticket("T0", "self", "2025-01-05", "2025-01-10")]
    return rows


def _ticket(ticket_id: str, source: str, found: str, deadline: str) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "site_id": "S1", "found_on": found, "source": source,
            "level": "general", "deadline": deadline, "rectified_on": None}  # fmt: skip


def _same_as_full(events: Path, out: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    aggregate_folder(events, full)
    a = pd.read_parquet(out / "site_months.parquet")
    b = pd.read_parquet(full / "site_months.parquet")
    pd.testing.assert_frame_equal(a.drop(columns="worker_hours"), b.drop(columns="worker_hours"))
    np.testing.assert_allclose(a["worker_hours"], b["worker_hours"], rtol=1e-12, atol=0)


def _rows_of(out: Path) -> dict[str, dict[str, Any]]:
    import pyarrow.parquet as pq

    records = pq.read_table(out / "site_months.parquet").to_pylist()
    return {str(r["month"]): r for r in records}


@pytest.fixture
def first_run(tmp_path: Path) -> tuple[Rows, Path, Path]:
    rows = _world()
    events = write(tmp_path / "events", rows)
    out = tmp_path / "monthly"
    run = aggregate_incremental(events, out)
    assert run.computed == ("2025-03", "2025-04", "2025-05", "2025-06", "2025-07", "2025-08")
    assert set(run.written) == {"sites.csv", "claims.csv", "site_months.parquet", MANIFEST}
    return rows, events, out


def test_a_rerun_with_nothing_changed_writes_nothing(
    first_run: tuple[Rows, Path, Path], tmp_path: Path
) -> None:
    _, events, out = first_run
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    run = aggregate_incremental(events, out)
    assert (run.computed, run.removed, run.written) == ((), (), ())
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before
    manifest = json.loads((out / MANIFEST).read_text("utf-8"))
    assert sorted(manifest["months"]) == list(run.months)
    _same_as_full(events, out, tmp_path)


def test_unchanged_events_are_not_read_again(
    first_run: tuple[Rows, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.events.incremental as incremental

    _, events, out = first_run
    (events / "attendance.csv").touch()  # a new time, the same bytes

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the events were read again")

    monkeypatch.setattr(incremental, "load_events", fail)
    run = aggregate_incremental(events, out)
    assert (run.computed, run.written, run.rows) == ((), (), 6)
    assert run.months == ("2025-03", "2025-04", "2025-05", "2025-06", "2025-07", "2025-08")
    monkeypatch.undo()
    # another file in the folder: read and fingerprinted again, but no month changed
    (events / "README.txt").write_text("exported 2025-09-01", "utf-8")
    run = aggregate_incremental(events, out)
    assert (run.computed, run.written) == ((), (MANIFEST,))


@pytest.mark.parametrize(
    ("append", "reached"),
    [
        # a day appended to the last month reaches that month only
        (lambda r: r["attendance"].extend(days("S1", "W1", "2025-08-04", "2025-08-04")),
         {"2025-08"}),
        # W2 first attends in May; a day of W2 appended in April makes April W2's first
        # month: April and May change, later months (without W2) do not
        (lambda r: (r["attendance"].extend(days("S1", "W2", "2025-05-02", "2025-05-02")),
                    r["attendance"].extend(days("S1", "W2", "2025-04-02", "2025-04-02"))),
         {"2025-04", "2025-05"}),
        # a training record completed on April 2 is read by every month from April on
        # (valid or not on the first day, it makes the coverage a number)
        (lambda r: r["training_records"].append(
            {"worker_id": "W1", "site_id": "S1", "completed_on": "2025-04-02",
             "valid_until": "2025-06-30"}),
         {"2025-04", "2025-05", "2025-06", "2025-07", "2025-08"}),
        # a government ticket found on March 20 is in the 90-day window of March to June
        # (June 1 - 89 days = March 4; July 1 - 89 days = April 3) and due in August
        (lambda r: r["hazard_tickets"].append(
            _ticket("T9", "government", "2025-03-20", "2025-08-02")),
         {"2025-03", "2025-04", "2025-05", "2025-06", "2025-08"}),
        # an alert in June and a weather warning in July reach their own months
        (lambda r: (r["video_events"].append(
            {"event_id": "E1", "site_id": "S1", "device_id": "C1", "ts": "2025-06-30T23:59:59",
             "kind": "fire", "closed_at": "2025-07-01T01:00:00"}),
                    r["weather_warnings"].append(
            {"district": "pudong", "date": "2025-07-15", "kind": "heat"})),
         {"2025-06", "2025-07"}),
    ],
    ids=["day-in-last-month", "first-attendance", "training", "hazards-window-and-due",
         "alert-and-weather"],
)  # fmt: skip
def test_an_append_aggregates_exactly_the_months_it_reaches(
    first_run: tuple[Rows, Path, Path],
    tmp_path: Path,
    append: Any,
    reached: set[str],
) -> None:
    rows, events, out = first_run
    before = _rows_of(out)
    append(rows)
    write(events, rows)
    run = aggregate_incremental(events, out)
    assert set(run.computed) == reached
    assert run.written == ("site_months.parquet", MANIFEST)
    after = _rows_of(out)
    # the months not reached keep their rows as written
    for month in set(before) - reached:
        assert after[month] == before[month], month
    _same_as_full(events, out, tmp_path)
    # and the run after that has nothing to do
    assert aggregate_incremental(events, out).computed == ()


def test_in_a_month_computed_again_the_other_sites_keep_their_rows(tmp_path: Path) -> None:
    rows = _world()
    rows["sites"].append(site("S2"))
    rows["site_stages"].append({"site_id": "S2", "stage": "civil", "from_date": "2024-01-01"})
    rows["attendance"] += days("S2", "V1", "2025-08-01", "2025-08-09", hours=7.3)
    events = write(tmp_path / "events", rows)
    out = tmp_path / "monthly"
    aggregate_incremental(events, out)
    # mark S2's August sum in its last bit, as another order of summing could have
    # written it: a row kept as written keeps the mark, a row computed again loses it
    before = pd.read_parquet(out / "site_months.parquet")
    s2 = (before["site_id"] == "S2") & (before["month"] == "2025-08")
    before.loc[s2, "worker_hours"] = np.nextafter(before.loc[s2, "worker_hours"], np.inf)
    before.to_parquet(out / "site_months.parquet", index=False)
    before = pd.read_parquet(out / "site_months.parquet")
    rows["attendance"] += days("S1", "W1", "2025-08-20", "2025-08-20")
    write(events, rows)
    run = aggregate_incremental(events, out)
    assert run.computed == ("2025-08",)
    after = pd.read_parquet(out / "site_months.parquet")
    s1 = (after["site_id"] == "S1") & (after["month"] == "2025-08")
    assert after.loc[s1, "worker_hours"].item() == before.loc[s1, "worker_hours"].item() + 8.0
    # S2's August row is the one written before, to the last bit
    pd.testing.assert_frame_equal(after[~s1], before[~s1], check_exact=True)
    manifest = json.loads((out / MANIFEST).read_text("utf-8"))
    assert sorted(manifest["months"]["2025-08"]) == ["S1", "S2"]
    _same_as_full(events, out, tmp_path)  # the mark is within 1e-12


def test_months_without_attendance_are_removed_and_sites_are_copied_when_changed(
    first_run: tuple[Rows, Path, Path], tmp_path: Path
) -> None:
    rows, events, out = first_run
    rows["attendance"] = [a for a in rows["attendance"] if not a["date"].startswith("2025-08")]
    rows["sites"] = [site("S1", tower_cranes=2)]  # crane feed now expected every month
    write(events, rows)
    run = aggregate_incremental(events, out)
    assert run.removed == ("2025-08",)
    assert set(run.computed) == {"2025-03", "2025-04", "2025-05", "2025-06", "2025-07"}
    assert "sites.csv" in run.written
    assert (out / "sites.csv").read_bytes() == (events / "sites.csv").read_bytes()
    assert sorted(_rows_of(out)) == ["2025-03", "2025-04", "2025-05", "2025-06", "2025-07"]
    _same_as_full(events, out, tmp_path)


def test_months_asked_and_a_changed_definition(
    first_run: tuple[Rows, Path, Path], tmp_path: Path
) -> None:
    _, events, out = first_run
    run = aggregate_incremental(events, out, months=("2025-05", "2025-06"))
    assert run.computed == ()
    assert run.removed == ("2025-03", "2025-04", "2025-07", "2025-08")
    assert sorted(_rows_of(out)) == ["2025-05", "2025-06"]
    # a manifest of another definition (or none) computes every month again
    manifest = json.loads((out / MANIFEST).read_text("utf-8"))
    manifest["definition"] = "another"
    (out / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    assert aggregate_incremental(events, out).computed == tuple(
        f"2025-{m:02d}" for m in range(3, 9)
    )
    _same_as_full(events, out, tmp_path)


def test_bad_events_write_nothing(first_run: tuple[Rows, Path, Path]) -> None:
    from models.contract import ContractError

    rows, events, out = first_run
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rows["attendance"].append(dict(rows["attendance"][0], hours=30))
    write(events, rows)
    with pytest.raises(ContractError):
        aggregate_incremental(events, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_cli_runs_incrementally_after_a_full_run(tmp_path: Path) -> None:
    from training.cli import app

    rows = _world()
    events = write(tmp_path / "events", rows)
    out = tmp_path / "monthly"
    runner = CliRunner()
    args = ["data", "aggregate", str(events), "--out", str(out), "--incremental"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "aggregated 6 of 6 months" in result.output
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.output
    rows["attendance"] += days("S1", "W1", "2025-08-20", "2025-08-20")
    write(events, rows)
    result = runner.invoke(app, args)
    assert "aggregated 1 of 6 months (2025-08)" in result.output
    assert load_folder(out).site_months["month"].nunique() == 6
    # a full run computes every month again and leaves the manifest it would write
    (out / MANIFEST).write_text("{}", "utf-8")
    result = runner.invoke(app, [*args[:-1]])
    assert result.exit_code == 0, result.output
    assert "✓ wrote 6 site-months (2025-03..2025-08) with sites and claims" in result.output
    result = runner.invoke(app, args)
    assert "is up to date" in result.output
    result = runner.invoke(app, [*args, "--engine", "spark"])
    assert result.exit_code == 2
    assert "--incremental runs on duckdb" in result.output


def test_appending_a_generated_worlds_last_weeks_table_by_table(tmp_path: Path) -> None:
    """A generated world's events (many sites, movers between them, tickets due later)
    cut six weeks before their end, then appended table by table: every incremental run
    gives the full run's table."""
    from training.synth.events import write_world_events
    from training.synth.world import simulate

    write_world_events(simulate(30, 6, months=8), tmp_path / "world", "csv", 0.05)
    source = tmp_path / "world" / "events"
    events = tmp_path / "events"
    events.mkdir()
    cut = "2023-07-20"
    dated = {
        "attendance": "date",
        "video_events": "ts",
        "hazard_tickets": "found_on",
        "device_days": "date",
        "device_events": "ts",
        "training_records": "completed_on",
    }
    for path in source.iterdir():
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.stem in dated:
            frame = frame[frame[dated[path.stem]] < cut]
        frame.to_csv(events / path.name, index=False)
    out = tmp_path / "monthly"
    aggregate_incremental(events, out)
    for table in dated:
        (events / f"{table}.csv").write_bytes((source / f"{table}.csv").read_bytes())
        run = aggregate_incremental(events, out)
        assert set(run.computed) <= {"2023-07", "2023-08"}, (table, run.computed)
        _same_as_full(events, out, tmp_path / table)
