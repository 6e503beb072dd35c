"""`siterisk quotes example`: a request body file from a contract folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from service.cli import app
from training.synth import generate_world, write_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    write_world(generate_world(40, seed=5, months=18), folder, fmt="csv")
    return folder


def test_writes_a_body_for_a_site_still_reporting_at_the_end(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "quote.json"
    result = CliRunner().invoke(app, ["quotes", "example", "--data", str(world), "--out", str(out)])
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text(encoding="utf-8"))
    assert set(body) == {"site", "months", "claims", "policy"}
    # 18 months from 2023-01: the data ends 2024-06, the renewal starts 2024-07.
    assert body["policy"] == {"start_month": "2024-07", "term_months": 12}
    assert [m["month"] for m in body["months"]][-1] == "2024-06"
    assert 1 <= len(body["months"]) <= 12
    assert f"wrote {out}" in result.output


def test_prints_to_stdout_and_honours_site_start_and_length(world: Path) -> None:
    months = pd.read_csv(world / "site_months.csv", usecols=["site_id", "month"])
    window = months[months["month"].between("2023-10", "2023-12")]
    site_id = str(window.groupby("site_id").size().sort_values().index[-1])
    options = ["--site", site_id, "--start", "2024-01", "--months", "3", "--term", "6"]
    result = CliRunner().invoke(app, ["quotes", "example", "--data", str(world), *options])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["site"]["site_id"] == site_id
    assert body["policy"] == {"start_month": "2024-01", "term_months": 6}
    assert [m["month"] for m in body["months"]] == ["2023-10", "2023-11", "2023-12"]


def test_an_unknown_site_fails_and_says_which(world: Path) -> None:
    result = CliRunner().invoke(app, ["quotes", "example", "--data", str(world), "--site", "NOPE"])
    assert result.exit_code == 1
    assert "NOPE" in result.output
