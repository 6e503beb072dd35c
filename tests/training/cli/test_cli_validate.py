"""``siterisk data validate DIR``: a summary and exit 0 for a good folder, the
problem report and exit 1 for a bad one, never a traceback."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.contract import spec
from training.cli import app

Rows = dict[str, list[dict[str, str]]]

runner = CliRunner()


def _world() -> Rows:
    """A hand-written valid world, as someone would export it."""
    sites = [
        {
            "site_id": "S1",
            "contractor_id": "C1",
            "district": "pudong",
            "project_type": "residential",
            "contract_value_cny": "150000000",
            "floor_area_m2": "52000",
            "max_height_m": "99",
            "start_date": "2023-01-10",
            "planned_end_date": "2025-01-10",
            "hazardous_works": "4",
            "over_scale_hazardous_works": "1",
            "tower_cranes": "2",
        },
    ]
    sites.append(
        {
            **sites[0],
            "site_id": "S2",
            "district": "xuhui",
            "project_type": "rail_transit",
            "contract_value_cny": "9e8",
            "floor_area_m2": "0",
            "start_date": "2022-06-01",
            "hazardous_works": "9",
            "over_scale_hazardous_works": "9",
        }
    )
    reported = {
        "new_worker_share": "0.2",
        "training_coverage": "0.9",
        "ai_alerts_ppe": "3",
        "ai_alerts_intrusion": "0",
        "ai_alerts_fire": "0",
        "alert_closure_rate": "0.8",
        "hazards_found": "5",
        "major_hazards": "1",
        "hazard_rectification_rate": "0.6",
        "crane_warnings": "2",
        "structural_alarms": "",
        "device_online_rate": "0.97",
    }
    first = {
        "site_id": "S1",
        "month": "2024-01",
        "stage": "foundation",
        "worker_hours": "12000",
        "avg_daily_workers": "60",
        "data_completeness": "0.9",
        "inspection_violations": "0",
        "severe_weather_days": "2",
        **reported,
    }
    months = [
        first,
        {**first, **dict.fromkeys(reported, ""), "month": "2024-02", "stage": "structure"},
        {**first, "site_id": "S2", "month": "2024-03", "severe_weather_days": "31"},
    ]
    claims = [
        {
            "claim_id": "K-001",
            "site_id": "S1",
            "incident_date": "2024-01-15",
            "cause": "lifting",
            "severity": "fatality",
            "paid_cny": "120000",
            "reserve_cny": "30000",
        },
    ]
    return {"sites": sites, "site_months": months, "claims": claims}


def _write(folder: Path, rows: Rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table, records in rows.items():
        with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=[c.name for c in spec.columns(table)])
            writer.writeheader()
            writer.writerows(records)
    return folder


def _validate(folder: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["data", "validate", str(folder)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout


def test_valid_folder_prints_a_summary(tmp_path: Path) -> None:
    rows = _world()
    code, out = _validate(_write(tmp_path / "w", rows))
    assert code == 0
    for table, records in rows.items():
        line = next(x for x in out.splitlines() if x.strip().startswith(table + " "))
        assert f" {len(records)} rows" in line
    months = sorted(r["month"] for r in rows["site_months"])
    assert f"months {months[0]} to {months[-1]}" in out
    assert f"{len(rows['claims'])} claims" in out


def test_ten_broken_rules_are_all_listed_and_exit_1(tmp_path: Path) -> None:
    rows = _world()
    sites, months, claims = rows["sites"], rows["site_months"], rows["claims"]
    sites[0]["contract_value_cny"] = "-1"
    sites[1]["district"] = "Pudong"
    sites.append({**sites[1], "site_id": "S 3", "contractor_id": "C" * 70, "district": "xuhui"})
    months[0]["major_hazards"] = "9"
    months[1]["month"] = "2024-13"
    months[1]["worker_hours"] = "lots"
    months[2]["data_completeness"] = ""
    claims.append({**claims[0], "claim_id": "K-002", "site_id": "S9"})
    claims.append({**claims[0]})
    expected = [
        ("sites.csv", 1, "contract_value_cny", "range"),
        ("sites.csv", 2, "district", "enum"),
        ("sites.csv", 3, "site_id", "pattern"),
        ("sites.csv", 3, "contractor_id", "length"),
        ("site_months.csv", 1, "major_hazards", "cross-column"),
        ("site_months.csv", 2, "month", "format"),
        ("site_months.csv", 2, "worker_hours", "type"),
        ("site_months.csv", 3, "data_completeness", "not null"),
        ("claims.csv", 2, "site_id", "reference"),
        ("claims.csv", 3, "claim_id", "unique"),
    ]
    code, out = _validate(_write(tmp_path / "w", rows))
    assert code == 1
    assert "(10 problems)" in out
    lines = out.splitlines()
    for file, row, column, rule in expected:
        assert any(
            x.startswith(f"{file} row {row} (line {row + 1} of the file) {column} — ")
            and x.endswith(f"[{rule}]")
            for x in lines
        ), (file, row, column, rule)


def _empty_file(folder: Path) -> None:
    (folder / "site_months.csv").write_bytes(b"")


def _missing_table(folder: Path) -> None:
    (folder / "sites.csv").unlink()


def _wrong_header(folder: Path) -> None:
    path = folder / "claims.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("severity", "Severity", 1))


def _not_utf8(folder: Path) -> None:
    path = folder / "sites.csv"
    path.write_bytes(path.read_bytes().replace(b"C1", "Cé".encode("gbk"), 1))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_empty_file, "site_months.csv — is empty (0 bytes)"),
        (_missing_table, "sites — no sites.parquet or sites.csv"),
        (_wrong_header, "claims.csv severity — required column 'severity' is missing"),
        (_not_utf8, "is not UTF-8"),
    ],
    ids=["empty", "missing-table", "wrong-header", "not-utf8"],
)
def test_whole_file_problems_get_a_clear_message(
    damage: object, expected: str, tmp_path: Path
) -> None:
    folder = _write(tmp_path / "w", _world())
    assert callable(damage)
    damage(folder)
    code, out = _validate(folder)
    assert code == 1
    assert expected in out


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_console_script_reports_and_exits(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "siterisk"
    good = _write(tmp_path / "good", _world())
    bad = _write(tmp_path / "bad", _world())
    _not_utf8(bad)
    _empty_file(bad)
    ok = subprocess.run([script, "data", "validate", good], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "follows the data contract" in ok.stdout
    failed = subprocess.run([script, "data", "validate", bad], capture_output=True, text=True)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stdout + failed.stderr
    lines = failed.stdout.splitlines()
    assert any(x.startswith("sites.csv") and x.endswith("[encoding]") for x in lines)
    assert any(x.startswith("site_months.csv") and x.endswith("[empty]") for x in lines)


def test_a_problem_names_the_data_row_and_the_file_line(tmp_path: Path) -> None:
    rows = _world()
    rows["sites"][1]["district"] = "Pudong"  # data row 2: line 3 of the file (header is 1)
    folder = _write(tmp_path / "w", rows)
    code, out = _validate(folder)
    assert code == 1
    assert "sites.csv row 2 (line 3 of the file) district — " in out
    lines = (folder / "sites.csv").read_text(encoding="utf-8").splitlines()
    assert "Pudong" in lines[3 - 1]


def test_non_utf8_in_a_row_with_extra_fields_prints_no_traceback(tmp_path: Path) -> None:
    """Issue 20, item 6: pyarrow decodes a broken row's text for the invalid-row handler
    and printed its UnicodeDecodeError ("Exception ignored in ...") as a traceback."""
    script = Path(sys.executable).parent / "siterisk"
    bad = _write(tmp_path / "bad", _world())
    path = bad / "sites.csv"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2] + b",x" + "é".encode("gbk")
    path.write_bytes(b"\n".join(lines))
    failed = subprocess.run([script, "data", "validate", bad], capture_output=True, text=True)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stdout + failed.stderr
    assert "Exception ignored" not in failed.stderr
    assert "sites.csv row 2 (line 3 of the file) — is not UTF-8" in failed.stdout
