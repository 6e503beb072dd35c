"""Some of the tables at a time (uploads to the feed): ``load_files`` and
``validate_tables`` check each table as a folder's, with stored sites as references."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from models.contract import (
    Problem,
    empty_frame,
    load_files,
    load_folder,
    spec,
    validate_tables,
)

Frames = dict[str, pd.DataFrame]


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """CSV as pandas writes it; parquet with the table's date columns as dates (the
    table is the file's folder-less name, as the loader would be told)."""
    if path.suffix == ".parquet":
        dates = [c.name for t in spec.TABLES for c in spec.columns(t) if c.kind == "date"]
        typed = frame.assign(**{d: pd.to_datetime(frame[d]) for d in dates if d in frame})
        typed.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_one_table_loads_as_it_would_in_a_folder(
    frames: Frames, valid_folder: Path, tmp_path: Path, ext: str
) -> None:
    path = write_table(frames["site_months"], tmp_path / f"upload.{ext}")
    alone = load_files({"site_months": path}, known_site_ids=["S1", "S2", "S3"])
    whole = load_folder(valid_folder)
    assert_frame_equal(alone.site_months, whole.site_months)
    for table in ("sites", "claims"):
        frame = getattr(alone, table)
        assert frame.empty
        assert list(frame.columns) == [c.name for c in spec.columns(table)]


def test_empty_frames_have_the_loader_s_dtypes(valid_folder: Path) -> None:
    loaded = load_folder(valid_folder)
    for table in spec.TABLES:
        assert empty_frame(table).dtypes.to_dict() == getattr(loaded, table).dtypes.to_dict()


def test_references_may_name_known_sites_and_nothing_else(
    frames: Frames, tmp_path: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    months = write_table(frames["site_months"], tmp_path / "m.csv")
    found = problems_of(
        lambda: load_files(
            {"site_months": months}, names={"site_months": "march.csv"},
            known_site_ids=["S1", "S3"], known_label="the stored sites",
        )
    )  # fmt: skip
    assert [(p.file, p.row, p.column, p.rule) for p in found] == [
        ("march.csv", 3, "site_id", "reference")
    ]
    assert "'S2' is not a site_id in the stored sites" in found[0].message
    # Sites sent along count as well as known ones.
    sites = write_table(frames["sites"].iloc[[1]], tmp_path / "sites.csv")
    both = load_files({"sites": sites, "site_months": months}, known_site_ids=["S1", "S3"])
    assert len(both.site_months) == len(frames["site_months"])
    # Without known sites and without a sites table there is nothing to check against.
    assert len(load_files({"site_months": months}).site_months) == len(frames["site_months"])


def test_files_are_checked_like_a_folder_s(
    frames: Frames, tmp_path: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    bad = frames["claims"].copy()
    bad.loc[1, "severity"] = "bruise"
    path = write_table(bad, tmp_path / "claims.csv")
    (problem,) = problems_of(lambda: load_files({"claims": path}, known_site_ids=["S1", "S2"]))
    assert (problem.file, problem.row, problem.column, problem.rule) == (
        "claims.csv", 2, "severity", "enum",
    )  # fmt: skip
    odd = tmp_path / "claims.xlsx"
    odd.write_bytes(b"PK")
    (problem,) = problems_of(lambda: load_files({"claims": odd}))
    assert problem.rule == "format"
    with pytest.raises(ValueError, match="unknown table"):
        load_files({"buildings": path})


def test_rows_as_frames_follow_the_same_rules(
    frames: Frames, problems_of: Callable[..., list[Problem]]
) -> None:
    months = frames["site_months"].copy()
    checked = validate_tables({"site_months": months}, known_site_ids=["S1", "S2", "S3"])
    assert len(checked.site_months) == len(months)
    months.loc[0, "major_hazards"] = 99
    found = problems_of(
        lambda: validate_tables({"site_months": months}, known_site_ids=["S1", "S2", "S3"])
    )
    assert [(p.row, p.column, p.rule) for p in found] == [(1, "major_hazards", "cross-column")]
    stray = pd.DataFrame(frames["claims"]).assign(site_id="S9")
    found = problems_of(lambda: validate_tables({"claims": stray}, known_site_ids=["S1"]))
    assert {p.rule for p in found} == {"reference"}
