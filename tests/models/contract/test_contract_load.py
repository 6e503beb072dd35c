"""Loading a contract folder: typed frames on success, whole-file problems named
clearly on failure, and the same result however the tables arrived."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from models.contract import (
    ContractData,
    Problem,
    load_folder,
    read_table,
    spec,
    validate_frames,
)
from models.settings import get_settings

Frames = dict[str, pd.DataFrame]


def _expected_dtype(col: spec.Column) -> str:
    if col.kind in ("str", "month"):
        return "str"
    if col.kind == "date":
        return "datetime64[us]"
    if col.kind == "int":
        return "Int64" if col.nullable else "int64"
    return "float64"


def test_valid_folder_loads_with_contract_dtypes(valid_folder: Path, frames: Frames) -> None:
    data = load_folder(valid_folder)
    for table, columns in spec.TABLES.items():
        frame = getattr(data, table)
        assert list(frame.columns) == [c.name for c in columns]
        assert len(frame) == len(frames[table])
        assert isinstance(frame.index, pd.RangeIndex)
        for col in columns:
            assert str(frame[col.name].dtype) == _expected_dtype(col), col.name
    assert data.sources == {t: valid_folder / f"{t}.csv" for t in spec.TABLES}
    assert data.warnings == []
    assert data.sites["start_date"].iloc[2] == pd.Timestamp("2024-02-29")
    assert data.site_months["month"].tolist() == frames["site_months"]["month"].tolist()


def test_unreported_sensors_stay_missing_not_zero(valid_folder: Path, frames: Frames) -> None:
    months = load_folder(valid_folder).site_months
    source = frames["site_months"]
    nullable = [c.name for c in spec.SITE_MONTHS if c.nullable]
    for name in nullable:
        assert months[name].isna().tolist() == source[name].isna().tolist(), name
    assert months[nullable].isna().to_numpy().any()
    # Real zeros stay zeros.
    assert (months["ai_alerts_ppe"] == 0).sum() == (source["ai_alerts_ppe"] == 0).sum()


@pytest.mark.parametrize(
    "formats",
    [
        "parquet",
        {"sites": "parquet", "claims": "parquet"},
        {"site_months": "parquet"},
    ],
    ids=["parquet", "mixed-1", "mixed-2"],
)
def test_csv_parquet_and_mixed_folders_load_identically(
    formats: str | dict[str, str], make_folder: Callable[..., Path]
) -> None:
    from_csv = load_folder(make_folder())
    other = load_folder(make_folder(formats=formats))
    for table in spec.TABLES:
        pd.testing.assert_frame_equal(getattr(from_csv, table), getattr(other, table))


def test_parquet_dates_as_date_objects_and_text_columns_load(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    reference = load_folder(make_folder(frames))
    sites = frames["sites"].copy()
    for name in ("start_date", "planned_end_date"):
        sites[name] = [dt.date.fromisoformat(d) for d in sites[name]]
    folder = make_folder(frames)
    (folder / "sites.csv").unlink()
    # date32 columns, and numbers stored as text as some exporters do.
    table = pa.Table.from_pandas(sites.astype({"tower_cranes": str}), preserve_index=False)
    assert pa.types.is_date32(table.schema.field("start_date").type)
    import pyarrow.parquet as pq

    pq.write_table(table, folder / "sites.parquet")
    pd.testing.assert_frame_equal(load_folder(folder).sites, reference.sites)


def test_utf8_bom_is_tolerated(valid_folder: Path) -> None:
    path = valid_folder / "sites.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_folder(valid_folder).sites["site_id"].tolist() == ["S1", "S2", "S3"]


def test_unknown_columns_are_ignored_with_a_warning(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    frames["claims"]["adjuster_note"] = "see file"
    data = load_folder(make_folder(frames))
    assert "adjuster_note" not in data.claims.columns
    assert any("claims.csv" in w and "adjuster_note" in w for w in data.warnings)


def test_a_world_without_claims_loads_with_a_warning(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    frames["claims"] = frames["claims"].iloc[0:0]
    data = load_folder(make_folder(frames))
    assert len(data.claims) == 0
    assert list(data.claims.columns) == [c.name for c in spec.CLAIMS]
    assert any("claims.csv" in w and "no rows" in w for w in data.warnings)


@pytest.mark.parametrize("table", ["sites", "site_months"])
def test_header_only_sites_or_months_is_a_problem(
    table: str,
    frames: Frames,
    make_folder: Callable[..., Path],
    problems_of: Callable[..., list[Problem]],
) -> None:
    frames[table] = frames[table].iloc[0:0]
    folder = make_folder(frames)
    problems = problems_of(lambda: load_folder(folder))
    assert (f"{table}.csv", None, None, "empty") in {
        (p.file, p.row, p.column, p.rule) for p in problems
    }


def test_empty_file_is_named(valid_folder: Path, problems_of: Callable[..., list[Problem]]) -> None:
    (valid_folder / "site_months.csv").write_bytes(b"")
    [problem] = problems_of(lambda: load_folder(valid_folder))
    assert (problem.file, problem.row, problem.rule) == ("site_months.csv", None, "empty")
    assert "0 bytes" in problem.message


def test_missing_table_is_named(
    valid_folder: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    (valid_folder / "claims.csv").unlink()
    [problem] = problems_of(lambda: load_folder(valid_folder))
    assert (problem.file, problem.rule) == ("claims", "missing table")
    assert "claims.parquet or claims.csv" in problem.message


def test_table_in_both_formats_is_a_problem(
    valid_folder: Path, frames: Frames, problems_of: Callable[..., list[Problem]]
) -> None:
    frames["claims"].to_parquet(valid_folder / "claims.parquet")
    [problem] = problems_of(lambda: load_folder(valid_folder))
    assert (problem.file, problem.rule) == ("claims", "duplicate table")


def test_missing_columns_are_named_each(
    frames: Frames, make_folder: Callable[..., Path], problems_of: Callable[..., list[Problem]]
) -> None:
    frames["sites"] = frames["sites"].drop(columns=["district", "tower_cranes"])
    frames["sites"] = frames["sites"].rename(columns={"max_height_m": "Max_Height_M"})
    problems = problems_of(lambda: load_folder(make_folder(frames)))
    assert {(p.file, p.column, p.rule) for p in problems} == {
        ("sites.csv", "district", "header"),
        ("sites.csv", "tower_cranes", "header"),
        ("sites.csv", "max_height_m", "header"),
    }
    hinted = next(p for p in problems if p.column == "max_height_m")
    assert "Max_Height_M" in hinted.message


def test_headerless_csv_is_a_header_problem(
    valid_folder: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    path = valid_folder / "claims.csv"
    path.write_text("\n".join(path.read_text().splitlines()[1:]) + "\n")
    [problem] = problems_of(lambda: load_folder(valid_folder))
    assert (problem.file, problem.row, problem.column, problem.rule) == (
        "claims.csv",
        None,
        None,
        "header",
    )
    assert "claim_id" in problem.message


def test_duplicated_column_is_a_header_problem(
    valid_folder: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    path = valid_folder / "claims.csv"
    lines = path.read_text().splitlines()
    lines = [line + "," + line.split(",")[0] for line in lines]
    path.write_text("\n".join(lines) + "\n")
    problems = problems_of(lambda: load_folder(valid_folder))
    assert {(p.file, p.column, p.rule) for p in problems} == {("claims.csv", "claim_id", "header")}


def test_non_utf8_file_names_byte_and_line(
    valid_folder: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    path = valid_folder / "sites.csv"
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"C2", "Cé".encode("latin-1")))
    [problem] = problems_of(lambda: load_folder(valid_folder))
    offset = raw.index(b"C2") + 1
    line = raw[:offset].count(b"\n") + 1
    assert (problem.file, problem.row, problem.rule) == ("sites.csv", line - 1, "encoding")
    assert "not UTF-8" in problem.message
    assert f"offset {offset} (line {line})" in problem.message


def test_binary_garbage_csv_is_a_clear_problem(
    valid_folder: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    garbage = np.random.default_rng(3).integers(0, 256, 2 << 20, dtype=np.uint8).tobytes()
    (valid_folder / "site_months.csv").write_bytes(garbage)
    [problem] = problems_of(lambda: load_folder(valid_folder))
    assert problem.file == "site_months.csv"
    assert problem.rule in {"encoding", "header"}


def test_corrupt_parquet_is_a_clear_problem(
    frames: Frames, make_folder: Callable[..., Path], problems_of: Callable[..., list[Problem]]
) -> None:
    folder = make_folder(frames, formats={"site_months": "parquet"})
    path = folder / "site_months.parquet"
    path.write_bytes(path.read_bytes()[:-40])
    [problem] = problems_of(lambda: load_folder(folder))
    assert (problem.file, problem.rule) == ("site_months.parquet", "unreadable")
    assert "parquet" in problem.message


def test_missing_folder_is_a_problem(
    tmp_path: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    [problem] = problems_of(lambda: load_folder(tmp_path / "nowhere"))
    assert problem.rule == "missing folder"


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_files_over_the_size_limit_are_refused(
    valid_folder: Path,
    problems_of: Callable[..., list[Problem]],
    monkeypatch: pytest.MonkeyPatch,
    fresh_settings: None,
) -> None:
    size = (valid_folder / "site_months.csv").stat().st_size
    problems = problems_of(lambda: load_folder(valid_folder, max_file_bytes=size - 1))
    assert ("site_months.csv", "size") in {(p.file, p.rule) for p in problems}
    assert all(p.rule == "size" for p in problems)
    monkeypatch.setenv("SITERISK_MAX_FILE_BYTES", str(size - 1))
    problems = problems_of(lambda: load_folder(valid_folder))
    assert ("site_months.csv", "size") in {(p.file, p.rule) for p in problems}
    assert "SITERISK_MAX_FILE_BYTES" in problems[0].message
    monkeypatch.setenv("SITERISK_MAX_FILE_BYTES", str(size))
    get_settings.cache_clear()
    assert len(load_folder(valid_folder).site_months) == 4


def test_validate_frames_matches_the_folder(valid_folder: Path, frames: Frames) -> None:
    from_folder = load_folder(valid_folder)
    from_frames = validate_frames(frames["sites"], frames["site_months"], frames["claims"])
    # As JSON records arrive: plain Python values, None for empty.
    records = {
        t: pd.DataFrame(f.astype(object).where(f.notna(), None).to_dict("records"))
        for t, f in frames.items()
    }
    from_json = validate_frames(records["sites"], records["site_months"], records["claims"])
    for table in spec.TABLES:
        expected = getattr(from_folder, table)
        pd.testing.assert_frame_equal(getattr(from_frames, table), expected)
        pd.testing.assert_frame_equal(getattr(from_json, table), expected)
    assert isinstance(from_json, ContractData)
    assert from_json.sources == {}


def test_validate_frames_accepts_typed_columns(valid_folder: Path, frames: Frames) -> None:
    sites, claims = frames["sites"], frames["claims"]
    # Aware timestamps keep their wall date; categories and unsigned ints are values.
    sites["start_date"] = pd.to_datetime(sites["start_date"]).dt.tz_localize("Asia/Shanghai")
    sites["district"] = sites["district"].astype("category")
    sites["tower_cranes"] = sites["tower_cranes"].astype("uint64")
    claims["incident_date"] = [dt.date.fromisoformat(d) for d in claims["incident_date"]]
    data = validate_frames(sites, frames["site_months"], claims)
    expected = load_folder(valid_folder)
    pd.testing.assert_frame_equal(data.sites, expected.sites)
    pd.testing.assert_frame_equal(data.claims, expected.claims)


def test_validate_frames_names_tables_as_told(
    frames: Frames, problems_of: Callable[..., list[Problem]]
) -> None:
    months = frames["site_months"].astype({"worker_hours": object})
    months.loc[1, "worker_hours"] = "many"
    problems = problems_of(
        lambda: validate_frames(
            frames["sites"],
            months,
            frames["claims"],
            names={"site_months": "upload.site_months"},
        )
    )
    assert {(p.file, p.row, p.column, p.rule) for p in problems} == {
        ("upload.site_months", 2, "worker_hours", "type")
    }


def test_read_table_checks_one_file(
    valid_folder: Path, problems_of: Callable[..., list[Problem]]
) -> None:
    claims = read_table(valid_folder / "claims.csv")
    pd.testing.assert_frame_equal(claims, load_folder(valid_folder).claims)
    path = valid_folder / "claims.csv"
    path.write_text(path.read_text().replace("lifting", "lightning"))
    [problem] = problems_of(lambda: read_table(path))
    assert (problem.file, problem.row, problem.column, problem.rule) == (
        "claims.csv",
        2,
        "cause",
        "enum",
    )
    with pytest.raises(ValueError, match="unknown table"):
        read_table(path, table="policies")


def test_a_larger_table_loads_quickly(
    tmp_path: Path, frames: Frames, make_folder: Callable[..., Path]
) -> None:
    """200k site-months (about 22 MB of CSV): vectorised checks, not row loops."""
    n = 200_000
    rng = np.random.default_rng(0)
    folder = make_folder(frames)
    ids = np.array([f"S{i}" for i in range(1, 4)])
    site = ids[np.arange(n) % 3]
    month = np.arange(n) // 3
    columns: dict[str, pa.Array] = {}
    for col in spec.SITE_MONTHS:
        if col.name == "site_id":
            columns[col.name] = pa.array(site)
        elif col.name == "month":
            years, months = 1000 + month // 12, month % 12 + 1
            columns[col.name] = pa.array(
                [f"{y}-{m:02d}" for y, m in zip(years, months, strict=True)]
            )
        elif col.choices:
            columns[col.name] = pa.array(rng.choice(col.choices, n))
        elif col.kind == "int":
            values = np.zeros(n, dtype=np.int64) if col.name == "major_hazards" else None
            values = rng.integers(0, 20, n) if values is None else values
            hi = col.le if col.le is not None else 20
            columns[col.name] = pa.array(np.minimum(values, int(hi)))
        else:
            hi = col.le if col.le is not None else 1e5
            mask = rng.random(n) < 0.1 if col.nullable else None
            columns[col.name] = pa.array(rng.uniform(0, hi, n), mask=mask)
    pa_csv.write_csv(pa.table(columns), folder / "site_months.csv")
    assert os.path.getsize(folder / "site_months.csv") > 15e6
    data = load_folder(folder)
    assert len(data.site_months) == n
    assert data.site_months["new_worker_share"].isna().sum() > n // 20
