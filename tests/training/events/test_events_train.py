"""Events to a trained and pricing model, end to end (issue 20).

* The synthetic world's own events (``siterisk data generate --events``) train a model.
* Foreign data: an events folder written by another tool than this project's generator
  (pandas, pyarrow and DuckDB in this test, rows shuffled, a table as a directory of
  Parquet parts, timestamps as Parquet instants, ``T`` and fractional seconds in CSV,
  CRLF line ends, columns in another order and one the contract does not know)
  aggregates to the same table as plain CSV, validates, trains and prices."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.contract import load_folder
from models.settings import get_settings
from training.fit import FitConfig
from training.synth import generate_world

FAST = FitConfig(max_rounds=200, early_stopping=30, threads=1)


def _repeat(frame: pd.DataFrame, counts: pd.Series) -> pd.DataFrame:
    n = counts.fillna(0).astype(int).to_numpy()
    out = frame.loc[frame.index.repeat(n)].reset_index(drop=True)
    out["i"] = np.concatenate([np.arange(k) for k in n]) if n.sum() else []
    return out


def _events(sm: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The event tables of a monthly table, as a platform other than ours might hold
    them: a few workers on the first six days of each month, devices on those days,
    alerts, alarms and tickets copied one for one from the month's counts."""
    tables: dict[str, pd.DataFrame] = {}
    sm = sm.copy()
    sm["start"] = pd.to_datetime(sm["month"] + "-01")
    changed = sm["stage"] != sm.groupby("site_id")["stage"].shift()
    stages = sm.loc[changed, ["site_id", "stage", "start"]].rename(columns={"start": "from_date"})
    stages["from_date"] = stages["from_date"].dt.strftime("%Y-%m-%d")
    tables["site_stages"] = stages
    # attendance: 1-4 workers a site on the first six days of each month
    workers = (sm["avg_daily_workers"] / 100).round().clip(1, 4)
    per_worker = _repeat(sm, workers)
    per_day = _repeat(
        per_worker.drop(columns="i").assign(w=per_worker["i"]), pd.Series(6, index=per_worker.index)
    )
    attendance = pd.DataFrame({
        "site_id": per_day["site_id"],
        "worker_id": per_day["site_id"] + "-W" + per_day["w"].astype(str),
        "date": (per_day["start"] + pd.to_timedelta(per_day["i"], unit="D")).dt.strftime(
            "%Y-%m-%d"
        ),
        "hours": 8.0,
    })  # fmt: skip
    tables["attendance"] = attendance
    trained = attendance.drop_duplicates(["worker_id"]).iloc[::2]
    tables["training_records"] = pd.DataFrame({
        "worker_id": trained["worker_id"], "site_id": trained["site_id"],
        "completed_on": "2000-01-01", "valid_until": "2100-01-01",
    })  # fmt: skip
    # devices on the attendance days, where the world reports their metric
    days = _repeat(sm, pd.Series(6, index=sm.index))
    days["date"] = (days["start"] + pd.to_timedelta(days["i"], unit="D")).dt.strftime("%Y-%m-%d")
    minutes = (days["device_online_rate"].fillna(1.0) * 1440).round().astype(int)
    device_days = []
    for kind, column in (("camera", "ai_alerts_ppe"), ("crane_monitor", "crane_warnings"),
                         ("structural_monitor", "structural_alarms")):  # fmt: skip
        has = days[column].notna()
        device_days.append(pd.DataFrame({
            "site_id": days.loc[has, "site_id"], "device_id": kind, "date": days.loc[has, "date"],
            "kind": kind, "online_minutes": minutes[has],
        }))  # fmt: skip
    tables["device_days"] = pd.concat(device_days, ignore_index=True)
    videos = []
    for kind in ("ppe", "intrusion", "fire"):
        ev = _repeat(sm, sm[f"ai_alerts_{kind}"])
        ts = ev["start"] + pd.Timedelta(hours=8) + pd.to_timedelta(ev["i"], unit="min")
        rate = ev["alert_closure_rate"].fillna(1.0)
        count = ev[f"ai_alerts_{kind}"]
        shut = ev["i"] < (rate * count).round()
        videos.append(pd.DataFrame({
            "event_id": ev["site_id"] + "-" + ev["month"] + f"-{kind}-" + ev["i"].astype(str),
            "site_id": ev["site_id"], "device_id": "camera",
            "ts": ts.dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "kind": kind,
            "closed_at": (ts + pd.Timedelta(hours=1)).dt.strftime("%Y-%m-%dT%H:%M:%S").where(shut),
        }))  # fmt: skip
    tables["video_events"] = pd.concat(videos, ignore_index=True)
    alarms = []
    for kind, column in (
        ("crane_overload", "crane_warnings"),
        ("deep_excavation", "structural_alarms"),
    ):
        ev = _repeat(sm, sm[column])
        alarms.append(pd.DataFrame({
            "event_id": ev["site_id"] + "-" + ev["month"] + f"-{kind}-" + ev["i"].astype(str),
            "site_id": ev["site_id"], "device_id": kind,
            "ts": (ev["start"] + pd.Timedelta(hours=9)).dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "kind": kind,
        }))  # fmt: skip
    tables["device_events"] = pd.concat(alarms, ignore_index=True)
    tickets = []
    for source, column in (("self", "hazards_found"), ("government", "inspection_violations")):
        ev = _repeat(sm, sm[column])
        major = ev["i"] < ev["major_hazards"].fillna(0) if source == "self" else False
        rate = ev["hazard_rectification_rate"].fillna(1.0)
        on_time = ev["i"] < (rate * ev[column]).round()
        found = ev["start"] + pd.Timedelta(days=1)
        tickets.append(pd.DataFrame({
            "ticket_id": ev["site_id"] + "-" + ev["month"] + f"-{source}-" + ev["i"].astype(str),
            "site_id": ev["site_id"], "found_on": found.dt.strftime("%Y-%m-%d"),
            "source": source, "level": np.where(major, "major", "general"),
            "deadline": (found + pd.Timedelta(days=10)).dt.strftime("%Y-%m-%d"),
            "rectified_on": (found + pd.Timedelta(days=5)).dt.strftime("%Y-%m-%d").where(on_time),
        }))  # fmt: skip
    tables["hazard_tickets"] = pd.concat(tickets, ignore_index=True)
    return tables


def _weather(sites: pd.DataFrame, sm: pd.DataFrame) -> pd.DataFrame:
    """One warning per district and month on the 2nd when a site there had any."""
    hit = sm[sm["severe_weather_days"] > 0].merge(sites[["site_id", "district"]], on="site_id")
    pairs = hit[["district", "month"]].drop_duplicates()
    return pd.DataFrame({
        "district": pairs["district"], "date": pairs["month"] + "-02", "kind": "rainstorm",
    })  # fmt: skip


def _write_plain(folder: Path, sites: pd.DataFrame, claims: pd.DataFrame,
                 tables: dict[str, pd.DataFrame]) -> Path:  # fmt: skip
    folder.mkdir()
    sites.to_csv(folder / "sites.csv", index=False)
    claims.to_csv(folder / "claims.csv", index=False)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def _write_foreign(folder: Path, sites: pd.DataFrame, claims: pd.DataFrame,
                   tables: dict[str, pd.DataFrame]) -> Path:  # fmt: skip
    """The same events as another platform might export them."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    shuffled = {n: f.sample(frac=1.0, random_state=7).reset_index(drop=True)
                for n, f in tables.items()}  # fmt: skip
    pq.write_table(pa.Table.from_pandas(sites, preserve_index=False), folder / "sites.parquet")
    claims.sample(frac=1.0, random_state=3).to_csv(folder / "claims.csv", index=False)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    # attendance: a directory of Parquet parts written by DuckDB, dates as DATE
    attendance = shuffled["attendance"]
    con.register("attendance_frame", attendance)
    (folder / "attendance").mkdir()
    for part in (0, 1):
        con.execute(
            "COPY (SELECT site_id, worker_id, CAST(date AS DATE) AS date, hours "
            f"FROM attendance_frame WHERE hash(worker_id) % 2 = {part}) "
            f"TO '{folder}/attendance/part-{part}.parquet' (FORMAT parquet)"
        )
    (folder / "attendance" / "_SUCCESS").write_text("")
    # video alerts: Parquet with instants (TIMESTAMPTZ, stored in UTC) read on the Shanghai
    # clock, an open alert a null
    con.register("video_frame", shuffled["video_events"])
    con.execute(
        "COPY (SELECT event_id, site_id, device_id, CAST(CAST(ts AS TIMESTAMP) AS TIMESTAMPTZ) "
        "AS ts, kind, CAST(CAST(closed_at AS TIMESTAMP) AS TIMESTAMPTZ) AS closed_at "
        f"FROM video_frame) TO '{folder}/video_events.parquet' (FORMAT parquet)"
    )
    con.close()
    # alarms: CSV with a T, fractional seconds, CRLF line ends
    alarms = shuffled["device_events"].copy()
    alarms["ts"] = alarms["ts"] + ".250"
    alarms.to_csv(folder / "device_events.csv", index=False, lineterminator="\r\n")
    # device-days: columns in another order and a column the contract does not know
    days = shuffled["device_days"]
    days = days.assign(vendor="hikvision")[["date", "kind", "vendor", "online_minutes",
                                            "device_id", "site_id"]]  # fmt: skip
    days.to_csv(folder / "device_days.csv", index=False)
    # training records: Parquet written by pyarrow with date32 columns
    training = pa.Table.from_pandas(shuffled["training_records"], preserve_index=False)
    for name in ("completed_on", "valid_until"):
        index = training.schema.get_field_index(name)
        values = pa.array(pd.to_datetime(training.column(name).to_pandas()).dt.date)
        training = training.set_column(index, name, values)
    pq.write_table(training, folder / "training_records.parquet")
    # the rest as quoted CSV in shuffled order
    for name in ("site_stages", "hazard_tickets", "weather_warnings"):
        shuffled[name].to_csv(folder / f"{name}.csv", index=False, quoting=1)
    return folder


def _fit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: Path) -> str:
    """``siterisk train`` on a folder with the tests' small fit config."""
    import training.pipeline
    from training.cli import app

    monkeypatch.setenv("SITERISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(
        training.pipeline,
        "run_training",
        functools.partial(training.pipeline.run_training, cfg=FAST),
    )
    try:
        result = CliRunner().invoke(app, ["train", "--data", str(data), "--no-register"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "gini" in result.output
    return result.output


@pytest.mark.slow
def test_the_worlds_own_events_train_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.cli import app

    out = tmp_path / "world"
    args = ["data", "generate", "--sites", "250", "--months", "24", "--seed", "5", "--events",
            "--workforce-scale", "0.02", "--format", "parquet", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = load_folder(out)
    assert data.site_months["training_coverage"].notna().mean() > 0.9
    _fit(monkeypatch, tmp_path, out)


@pytest.mark.slow
def test_foreign_events_aggregate_validate_train_and_price(tmp_path: Path) -> None:
    from training.cli import app
    from training.score import score_data

    world = generate_world(250, seed=5, months=24)
    tables = _events(world.site_months)
    tables["weather_warnings"] = _weather(world.sites, world.site_months)
    plain = _write_plain(tmp_path / "plain", world.sites, world.claims, tables)
    foreign = _write_foreign(tmp_path / "foreign", world.sites, world.claims, tables)
    runner = CliRunner()
    outs = {}
    for name, events in (("plain", plain), ("foreign", foreign)):
        out = tmp_path / f"{name}-monthly"
        result = runner.invoke(app, ["data", "aggregate", str(events), "--out", str(out)])
        assert result.exit_code == 0, result.output
        outs[name] = out
    assert "ignored unknown columns 'vendor'" in result.output
    # the foreign folder gives the table the plain one gives
    a = pd.read_parquet(outs["plain"] / "site_months.parquet")
    b = pd.read_parquet(outs["foreign"] / "site_months.parquet")
    pd.testing.assert_frame_equal(a.drop(columns="worker_hours"), b.drop(columns="worker_hours"))
    np.testing.assert_allclose(a["worker_hours"], b["worker_hours"], rtol=1e-12, atol=0)
    # it validates, and reproduces the world's counts where they were copied one for one
    result = runner.invoke(app, ["data", "validate", str(outs["foreign"])])
    assert result.exit_code == 0, result.output
    data = load_folder(outs["foreign"])
    assert len(data.site_months) == len(world.site_months)
    assert len(data.claims) == len(world.claims)
    merged = data.site_months.merge(world.site_months, on=["site_id", "month"], suffixes=("", "_w"))
    for column in ("stage", "ai_alerts_ppe", "crane_warnings", "structural_alarms",
                   "inspection_violations"):  # fmt: skip
        assert merged[column].astype(str).equals(merged[f"{column}_w"].astype(str)), column
    assert (merged["severe_weather_days"] == (merged["severe_weather_days_w"] > 0)).all()
    # it trains and prices (the bundle's expected loss per site-month)
    from training.pipeline import train_from_data

    outcome = train_from_data(data, cfg=FAST)
    scores = score_data(data, outcome.bundle)
    assert len(scores) == len(data.site_months)
    priced = scores["expected_loss_cny"].to_numpy()
    assert np.isfinite(priced).all()
    assert (priced > 0).all()
    # the price follows the exposure the events gave
    per_hour = scores["expected_loss_cny"] / data.site_months["worker_hours"].to_numpy()
    np.testing.assert_allclose(per_hour, scores["loss_rate_per_hour"], rtol=1e-9)
