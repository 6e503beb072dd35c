"""Events to a trained model, end to end (issue 20): a synthetic world's monthly table
is turned into events (a stand-in for the platform: attendance, devices, alerts,
tickets, alarms), ``siterisk data aggregate`` writes the contract folder, the monthly
contract's loader accepts it and ``siterisk train`` trains on it."""

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


def _events(
    world_sites: pd.DataFrame, sm: pd.DataFrame, claims: pd.DataFrame, folder: Path
) -> None:
    folder.mkdir()
    world_sites.to_csv(folder / "sites.csv", index=False)
    claims.to_csv(folder / "claims.csv", index=False)
    sm = sm.copy()
    sm["start"] = pd.to_datetime(sm["month"] + "-01")
    changed = sm["stage"] != sm.groupby("site_id")["stage"].shift()
    stages = sm.loc[changed, ["site_id", "stage", "start"]].rename(columns={"start": "from_date"})
    stages["from_date"] = stages["from_date"].dt.strftime("%Y-%m-%d")
    stages.to_csv(folder / "site_stages.csv", index=False)
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
    attendance.to_csv(folder / "attendance.csv", index=False)
    trained = attendance.drop_duplicates(["worker_id"]).iloc[::2]
    pd.DataFrame({
        "worker_id": trained["worker_id"], "site_id": trained["site_id"],
        "completed_on": "2000-01-01", "valid_until": "2100-01-01",
    }).to_csv(folder / "training_records.csv", index=False)  # fmt: skip
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
    pd.concat(device_days).to_csv(folder / "device_days.csv", index=False)
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
    pd.concat(videos).to_csv(folder / "video_events.csv", index=False)
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
    pd.concat(alarms).to_csv(folder / "device_events.csv", index=False)
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
    pd.concat(tickets).to_csv(folder / "hazard_tickets.csv", index=False)
    pd.DataFrame(columns=["district", "date", "kind"]).to_csv(
        folder / "weather_warnings.csv", index=False
    )


@pytest.mark.slow
def test_events_aggregate_validate_and_train(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.pipeline
    from training.cli import app

    world = generate_world(250, seed=5, months=24)
    events = tmp_path / "events"
    _events(world.sites, world.site_months, world.claims, events)
    out = tmp_path / "monthly"
    runner = CliRunner()
    result = runner.invoke(app, ["data", "aggregate", str(events), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "✓ wrote" in result.output
    data = load_folder(out)
    assert len(data.site_months) == len(world.site_months)
    assert len(data.claims) == len(world.claims)
    # the events reproduce the world's counts where they were copied one for one
    merged = data.site_months.merge(world.site_months, on=["site_id", "month"], suffixes=("", "_w"))
    for column in ("stage", "ai_alerts_ppe", "crane_warnings", "inspection_violations"):
        assert merged[column].astype(str).equals(merged[f"{column}_w"].astype(str)), column
    # siterisk train accepts the folder (the small fit config of the tests)
    monkeypatch.setenv("SITERISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(
        training.pipeline,
        "run_training",
        functools.partial(training.pipeline.run_training, cfg=FAST),
    )
    try:
        result = runner.invoke(app, ["train", "--data", str(out), "--no-register"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "gini" in result.output
