"""A tiny valid contract world, and fixtures to write it as a folder and break it.

Every rule test starts from these frames, which are known to pass, and changes one
thing. Dates are ISO text here; parquet files get real dates (see ``make_folder``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.contract import ContractError, Problem, spec

Frames = dict[str, pd.DataFrame]


def _valid_frames() -> Frames:
    """Three sites, four site-months (with unreported sensors), two claims."""
    sites = pd.DataFrame(
        {
            "site_id": ["S1", "S2", "S3"],
            "contractor_id": ["C1", "C1", "C2"],
            "district": ["pudong", "xuhui", "minhang"],
            "project_type": ["residential", "rail_transit", "municipal"],
            "contract_value_cny": [1.5e8, 9.0e8, 3.2e7],
            "floor_area_m2": [52000.0, 0.0, 1200.5],
            "max_height_m": [99.0, 12.0, 0.0],
            "start_date": ["2023-01-10", "2022-06-01", "2024-02-29"],
            "planned_end_date": ["2025-01-10", "2026-06-01", "2024-02-29"],
            "hazardous_works": [4, 9, 0],
            "over_scale_hazardous_works": [1, 9, 0],
            "tower_cranes": [2, 0, 0],
        }
    )
    months = pd.DataFrame(
        {
            "site_id": ["S1", "S1", "S2", "S3"],
            "month": ["2024-01", "2024-02", "2024-01", "2024-03"],
            "stage": ["foundation", "structure", "civil", "finishing"],
            "worker_hours": [12000.0, 15000.5, 80000.0, 0.0],
            "avg_daily_workers": [60.0, 75.0, 400.0, 0.0],
            "new_worker_share": [0.2, np.nan, 0.05, np.nan],
            "training_coverage": [0.9, 0.95, np.nan, 1.0],
            "ai_alerts_ppe": [3, None, 10, 0],
            "ai_alerts_intrusion": [0, 1, None, 0],
            "ai_alerts_fire": [0, 0, 1, None],
            "alert_closure_rate": [0.8, np.nan, 1.0, 0.0],
            "hazards_found": [5, 2, None, 0],
            "major_hazards": [1, None, None, 0],
            "hazard_rectification_rate": [0.6, 1.0, np.nan, np.nan],
            "crane_warnings": [2, 0, None, 0],
            "structural_alarms": [None, 1, 0, 0],
            "device_online_rate": [0.97, np.nan, 0.8, 1.0],
            "data_completeness": [0.9, 0.5, 1.0, 0.0],
            "inspection_violations": [0, 3, 1, 0],
            "severe_weather_days": [2, 0, 31, 5],
        }
    )
    nullable_ints = [c.name for c in spec.SITE_MONTHS if c.kind == "int" and c.nullable]
    months = months.astype(dict.fromkeys(nullable_ints, "Int64"))
    claims = pd.DataFrame(
        {
            "claim_id": ["K-001", "K-002"],
            "site_id": ["S1", "S2"],
            "incident_date": ["2024-01-15", "2024-01-20"],
            "cause": ["fall_from_height", "lifting"],
            "severity": ["serious_injury", "fatality"],
            "paid_cny": [120000.0, 0.0],
            "reserve_cny": [30000.0, 800000.0],
        }
    )
    return {"sites": sites, "site_months": months, "claims": claims}


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """CSV as pandas writes it; parquet with the date columns as real dates."""
    if path.suffix == ".parquet":
        table = path.stem
        dates = [c.name for c in spec.columns(table) if c.kind == "date" and c.name in frame]
        typed = frame.assign(**{d: pd.to_datetime(frame[d], errors="coerce") for d in dates})
        typed.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.fixture
def frames() -> Frames:
    return _valid_frames()


@pytest.fixture
def make_folder(tmp_path: Path) -> Callable[..., Path]:
    """Writes frames (default: the valid world) to a fresh folder and returns it.

    ``formats`` is "csv", "parquet", or a per-table dict of those.
    """
    made = 0

    def make(frames: Frames | None = None, formats: dict[str, str] | str = "csv") -> Path:
        nonlocal made
        made += 1
        folder = tmp_path / f"world{made}"
        folder.mkdir()
        for table, frame in (frames or _valid_frames()).items():
            ext = formats if isinstance(formats, str) else formats.get(table, "csv")
            write_table(frame, folder / f"{table}.{ext}")
        return folder

    return make


@pytest.fixture
def valid_folder(make_folder: Callable[..., Path]) -> Path:
    return make_folder()


@pytest.fixture
def problems_of() -> Callable[..., list[Problem]]:
    """Runs a loader call that must fail and returns the problems it reported."""

    def run(call: Callable[[], object]) -> list[Problem]:
        with pytest.raises(ContractError) as caught:
            call()
        report = caught.value.report
        assert report.total == len(report.problems), "more problems than shown"
        return list(report.problems)

    return run
