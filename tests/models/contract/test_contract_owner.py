"""Contract v1.1: ``sites.owner_id`` is optional. A folder with it loads without a
warning and keeps it; a v1 folder without it stays valid; a bad owner_id is reported
at its file, row and column like any other rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from models.contract import Problem, load_folder, read_table, spec, validate_frames

Frames = dict[str, pd.DataFrame]
OWNERS = ["OWN-1", None, "owner_2.b"]


def _with_owner(frames: Frames, owners: list[object]) -> Frames:
    return {**frames, "sites": frames["sites"].assign(owner_id=pd.Series(owners, dtype=object))}


def test_owner_id_is_an_optional_sites_column_not_a_v1_one() -> None:
    assert spec.CONTRACT_VERSION == "1.1"
    owner = spec.column("sites", "owner_id")
    assert owner.kind == "str"
    assert owner.nullable
    assert (owner.pattern, owner.min_len, owner.max_len) == (spec.ID_PATTERN, 1, 64)
    # not a feature, not a metric
    assert owner.group is None
    assert owner.direction == 0
    assert "owner_id" not in [c.name for c in spec.columns("sites")]
    assert [c.name for c in spec.columns("sites", optional=True)][-1] == "owner_id"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_v1_1_folder_with_owner_id_loads_without_a_warning(
    fmt: str, frames: Frames, make_folder: Callable[..., Path]
) -> None:
    data = load_folder(make_folder(_with_owner(frames, OWNERS), formats=fmt))
    assert data.warnings == []
    v1 = [c.name for c in spec.columns("sites")]
    assert list(data.sites.columns) == [*v1, "owner_id"]
    assert str(data.sites["owner_id"].dtype) == "str"
    assert data.sites["owner_id"].isna().tolist() == [False, True, False]
    assert data.sites["owner_id"].dropna().tolist() == ["OWN-1", "owner_2.b"]
    # everything else as a v1 folder gives it
    v1_data = load_folder(make_folder(frames, formats=fmt))
    pd.testing.assert_frame_equal(data.sites[v1], v1_data.sites)
    pd.testing.assert_frame_equal(data.site_months, v1_data.site_months)


def test_a_v1_folder_still_loads_without_owner_id(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    data = load_folder(make_folder(frames))
    assert data.warnings == []
    assert "owner_id" not in data.sites.columns


def test_an_empty_owner_id_column_is_valid(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    data = load_folder(make_folder(_with_owner(frames, [None, None, None])))
    assert data.warnings == []
    assert data.sites["owner_id"].isna().all()


def test_owner_id_in_frames_and_single_files(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    given = _with_owner(frames, OWNERS)
    checked = validate_frames(given["sites"], given["site_months"], given["claims"])
    assert checked.warnings == []
    assert checked.sites["owner_id"].dropna().tolist() == ["OWN-1", "owner_2.b"]
    folder = make_folder(given)
    sites = read_table(folder / "sites.csv")
    assert sites["owner_id"].dropna().tolist() == ["OWN-1", "owner_2.b"]


@pytest.mark.parametrize(
    ("value", "rule"),
    [("OWN 1", "pattern"), ("业主", "pattern"), ("O" * 65, "length"), ("a/b", "pattern")],
)
def test_a_bad_owner_id_is_reported_with_file_row_and_column(
    value: str,
    rule: str,
    frames: Frames,
    make_folder: Callable[..., Path],
    problems_of: Callable[..., list[Problem]],
) -> None:
    folder = make_folder(_with_owner(frames, ["OWN-1", "OWN-2", value]))
    problems = problems_of(lambda: load_folder(folder))
    assert [(p.file, p.row, p.column, p.rule) for p in problems] == [
        ("sites.csv", 3, "owner_id", rule)
    ]
    assert value[:30] in problems[0].message


def test_a_bad_owner_id_in_frames_is_named_too(
    frames: Frames, problems_of: Callable[..., list[Problem]]
) -> None:
    given = _with_owner(frames, ["OWN-1", "", "OWN 3"])
    problems = problems_of(
        lambda: validate_frames(given["sites"], given["site_months"], given["claims"])
    )
    assert {(p.file, p.row, p.column, p.rule) for p in problems} == {
        ("sites", 2, "owner_id", "length"),
        ("sites", 3, "owner_id", "pattern"),
    }


def test_owner_id_twice_is_a_header_problem(
    frames: Frames, make_folder: Callable[..., Path], problems_of: Callable[..., list[Problem]]
) -> None:
    folder = make_folder(frames)
    path = folder / "sites.csv"
    lines = path.read_text().splitlines()
    lines = [lines[0] + ",owner_id,owner_id"] + [line + ",O1,O2" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    problems = problems_of(lambda: load_folder(folder))
    assert any(p.column == "owner_id" and p.rule == "header" for p in problems)
