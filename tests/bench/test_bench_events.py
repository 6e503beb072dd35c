"""make bench-events at a tiny scale: the generated month passes the event contract's
validation with the sizes asked for, the harness measures a child and writes its
figures, and the comparison of two engines' tables catches what it must."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.events import differences, main
from bench.events_data import Scale, generate
from models.events.aggregate import site_months
from models.events.load import load_events

TINY = Scale(sites=40, attendance=40_000, video_events=3_000, device_events=2_000)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("bench") / "events"
    return folder, generate(folder, TINY)


def test_the_generated_month_is_valid_and_of_the_size_asked(
    tiny: tuple[Path, dict[str, int]],
) -> None:
    folder, rows = tiny
    assert rows["video_events"] == TINY.video_events
    assert rows["device_events"] == TINY.device_events
    assert abs(rows["attendance"] - TINY.attendance) < 0.1 * TINY.attendance
    events = load_events(folder)  # raises with every problem if the folder is invalid
    try:
        table = site_months(events)
        counted = events.con.execute("SELECT count(*) FROM attendance").fetchall()
        assert counted == [(rows["attendance"],)]
    finally:
        events.con.close()
    assert table.num_rows == TINY.sites  # one month, every site attends
    assert set(table.column("month").to_pylist()) == {"2025-03"}
    # a tenth of the sites have no camera: their alert counts are null
    ppe = table.column("ai_alerts_ppe").to_pylist()
    assert ppe.count(None) == TINY.sites // 10


def test_generation_is_the_same_every_time(
    tiny: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    folder, _ = tiny
    again = tmp_path / "again"
    generate(again, TINY)
    for name in ("attendance", "video_events", "hazard_tickets"):
        first = pq.read_table(folder / f"{name}.parquet")
        second = pq.read_table(again / f"{name}.parquet")
        assert first.sort_by(first.column_names[0]).equals(
            second.sort_by(second.column_names[0])
        ), name


def test_the_harness_measures_duckdb_and_writes_its_figures(
    tiny: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    folder, rows = tiny
    # the folder's scale.json tells the harness to reuse it
    (folder / "scale.json").write_text(
        json.dumps({"scale": TINY.__dict__, "rows": rows, "seconds": 0.0})
    )
    main(
        ["--sites", str(TINY.sites), "--attendance", str(TINY.attendance),
         "--video-events", str(TINY.video_events), "--device-events", str(TINY.device_events),
         "--engines", "duckdb", "--events", str(folder), "--out", str(tmp_path)]
    )  # fmt: skip
    summary = json.loads((tmp_path / "results" / "bench-events.json").read_text())
    (report,) = summary["reports"]
    assert report["engine"] == "duckdb"
    assert report["rows"] == TINY.sites
    assert 50 < report["peak_rss_mb"] < 4096
    assert report["phases"]["validate_s"] > 0
    assert summary["engines_agree"] is None  # one engine: nothing to compare
    assert pq.read_table(tmp_path / "results" / "duckdb" / "site_months.parquet").num_rows == 40


def test_differences_tell_counts_nulls_and_shares_apart(tmp_path: Path) -> None:
    base = {"n": [1, 2, None], "share": [0.5, 1 / 3, None]}
    pq.write_table(pa.table(base), tmp_path / "a.parquet")

    def against(**change: list[object]) -> list[str]:
        pq.write_table(
            pa.table({**base, **change}, schema=pa.table(base).schema), tmp_path / "b.parquet"
        )
        return differences(tmp_path / "a.parquet", tmp_path / "b.parquet")

    assert against() == []
    assert against(share=[0.5, 1 / 3 * (1 + 1e-15), None]) == []
    assert against(share=[0.5, 1 / 3 * (1 + 1e-9), None]) == ["share: 1 rows differ"]
    assert against(share=[0.5, 1 / 3, 0.0]) == ["share: 1 rows differ"]
    assert against(n=[1, 3, None]) == ["n: 1 rows differ"]
