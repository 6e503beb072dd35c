"""Each contract rule, broken once, is reported at the right file, row and column."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.contract import ContractError, Problem, load_folder, spec
from models.contract.problems import ProblemCollector

Frames = dict[str, pd.DataFrame]
Where = tuple[str, int | None, str | None, str]


@dataclass(frozen=True)
class Case:
    edits: tuple[tuple[str, int, str, object], ...]  # table, 0-based position, column, value
    expected: tuple[Where, ...]  # (file, 1-based row, column, rule)


def _one(table: str, pos: int, column: str, value: object, rule: str) -> Case:
    return Case(((table, pos, column, value),), ((f"{table}.csv", pos + 1, column, rule),))


CASES: dict[str, Case] = {
    "gt": _one("sites", 1, "contract_value_cny", 0, "range"),
    "ge": _one("site_months", 2, "worker_hours", -1, "range"),
    "le share": _one("site_months", 0, "training_coverage", 1.5, "range"),
    "le days": _one("site_months", 3, "severe_weather_days", 32, "range"),
    "ge nullable count": _one("site_months", 1, "crane_warnings", -2, "range"),
    "enum district": _one("sites", 1, "district", "Pudong", "enum"),
    "enum stage": _one("site_months", 0, "stage", "roof", "enum"),
    "enum severity": _one("claims", 1, "severity", "death", "enum"),
    "length contractor": _one("sites", 2, "contractor_id", "C" * 65, "length"),
    "empty claim id": _one("claims", 0, "claim_id", "", "not null"),
    "month 13": _one("site_months", 1, "month", "2024-13", "format"),
    "month unpadded": _one("site_months", 1, "month", "2024-2", "format"),
    "month no dash": _one("site_months", 2, "month", "202401", "format"),
    "date slashes": _one("claims", 0, "incident_date", "2024/01/15", "format"),
    "date impossible": _one("sites", 0, "start_date", "2023-02-30", "format"),
    "float text": _one("site_months", 0, "avg_daily_workers", "sixty", "type"),
    "float comma": _one("claims", 1, "paid_cny", "1,5", "type"),
    "float inf": _one("claims", 0, "reserve_cny", "inf", "type"),
    "int fraction": _one("sites", 2, "tower_cranes", 3.5, "type"),
    "int text": _one("site_months", 3, "inspection_violations", "two", "type"),
    "int hex": _one("site_months", 0, "ai_alerts_ppe", "0x10", "type"),
    "null float": _one("site_months", 1, "data_completeness", None, "not null"),
    "null int": _one("site_months", 2, "inspection_violations", None, "not null"),
    "null date": _one("sites", 2, "planned_end_date", None, "not null"),
    "null enum": _one("claims", 1, "cause", None, "not null"),
    "null token": _one("site_months", 0, "worker_hours", "NA", "not null"),
    "unique site": Case(
        (("sites", 2, "site_id", "S2"), ("site_months", 3, "site_id", "S2")),
        (("sites.csv", 3, "site_id", "unique"),),
    ),
    "unique claim": _one("claims", 1, "claim_id", "K-001", "unique"),
    "unique site-month": Case(
        (("site_months", 1, "month", "2024-01"),),
        (("site_months.csv", 2, "site_id, month", "unique"),),
    ),
    "reference month": _one("site_months", 2, "site_id", "S9", "reference"),
    "reference claim": _one("claims", 0, "site_id", "S3x", "reference"),
    "cross hazards": _one("site_months", 0, "major_hazards", 6, "cross-column"),
    "cross over-scale": _one("sites", 0, "over_scale_hazardous_works", 5, "cross-column"),
    "cross dates": Case(
        (("sites", 1, "planned_end_date", "2022-05-31"),),
        (("sites.csv", 2, "start_date", "cross-column"),),
    ),
    "pattern": Case(
        (("sites", 2, "site_id", "S 3"), ("site_months", 3, "site_id", "S 3")),
        (("sites.csv", 3, "site_id", "pattern"), ("site_months.csv", 4, "site_id", "pattern")),
    ),
    # An over-long id breaks the pattern's {1,64} too; only the length is news.
    "length site id": Case(
        (("sites", 2, "site_id", "S" * 65), ("site_months", 3, "site_id", "S" * 65)),
        (("sites.csv", 3, "site_id", "length"), ("site_months.csv", 4, "site_id", "length")),
    ),
}


def _edit(frames: Frames, edits: tuple[tuple[str, int, str, object], ...]) -> Frames:
    out = {name: frame.copy() for name, frame in frames.items()}
    for table, pos, column, value in edits:
        values = out[table][column].astype(object).tolist()
        values[pos] = value
        out[table] = out[table].assign(**{column: pd.Series(values, dtype=object)})
    return out


def _where(problems: list[Problem]) -> set[Where]:
    return {(p.file, p.row, p.column, p.rule) for p in problems}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_rule_is_reported_where_it_is_broken(
    case: Case,
    frames: Frames,
    make_folder: Callable[..., Path],
    problems_of: Callable[..., list[Problem]],
) -> None:
    folder = make_folder(_edit(frames, case.edits))
    problems = problems_of(lambda: load_folder(folder))
    assert _where(problems) == set(case.expected)
    for problem in problems:
        assert problem.message


def test_every_rule_of_the_spec_has_a_case() -> None:
    # Each kind of per-column rule the spec uses is exercised above.
    rules = {w[3] for case in CASES.values() for w in case.expected}
    used = {"range", "enum", "length", "format", "pattern", "type", "not null", "unique"}
    used |= {"reference", "cross-column"}
    assert used <= rules
    assert {r.small for r in spec.CROSS_RULES} <= {
        w[2] for case in CASES.values() for w in case.expected if w[3] == "cross-column"
    }


def test_messages_name_the_value(
    frames: Frames, make_folder: Callable[..., Path], problems_of: Callable[..., list[Problem]]
) -> None:
    edits = (
        ("sites", 0, "contract_value_cny", -5),
        ("site_months", 0, "stage", "Roof"),
        ("site_months", 1, "worker_hours", "lots"),
        ("sites", 1, "district", "Pudong"),
        ("site_months", 0, "major_hazards", 9),
    )
    problems = problems_of(lambda: load_folder(make_folder(_edit(frames, edits))))
    by_column = {p.column: p.message for p in problems}
    assert "-5" in by_column["contract_value_cny"]
    assert "'Roof'" in by_column["stage"]
    assert "'lots'" in by_column["worker_hours"]
    assert "did you mean 'pudong'" in by_column["district"]
    assert by_column["major_hazards"] == "major_hazards 9 is greater than hazards_found 5"


def test_ten_rules_at_once_are_all_reported(
    frames: Frames, make_folder: Callable[..., Path], problems_of: Callable[..., list[Problem]]
) -> None:
    names = [
        "gt",
        "enum district",
        "month 13",
        "float text",
        "null float",
        "length contractor",
        "pattern",
        "unique claim",
        "reference month",
        "cross hazards",
    ]
    edits = tuple(e for name in names for e in CASES[name].edits)
    expected = {w for name in names for w in CASES[name].expected}
    problems = problems_of(lambda: load_folder(make_folder(_edit(frames, edits))))
    assert _where(problems) == expected
    assert len({w[3] for w in expected}) == 10


def test_int_written_as_whole_float_is_accepted(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    edited = _edit(frames, (("site_months", 0, "inspection_violations", "3.0"),))
    data = load_folder(make_folder(edited))
    assert data.site_months["inspection_violations"].iloc[0] == 3
    assert data.site_months["inspection_violations"].dtype == np.dtype("int64")


def test_null_token_in_a_nullable_column_is_missing(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    edited = _edit(frames, (("site_months", 0, "training_coverage", "NA"),))
    data = load_folder(make_folder(edited))
    assert pd.isna(data.site_months["training_coverage"].iloc[0])


def test_rows_after_a_broken_line_keep_their_numbers(
    frames: Frames, make_folder: Callable[..., Path], problems_of: Callable[..., list[Problem]]
) -> None:
    folder = make_folder(_edit(frames, (("site_months", 3, "stage", "roof"),)))
    path = folder / "site_months.csv"
    lines = path.read_text().splitlines()
    lines[2] += ",surplus"  # data row 2
    path.write_text("\n".join(lines) + "\n")
    problems = problems_of(lambda: load_folder(folder))
    assert _where(problems) == {
        ("site_months.csv", 2, None, "columns"),
        ("site_months.csv", 4, "stage", "enum"),
    }


def test_wrong_typed_parquet_column_is_named(
    frames: Frames, make_folder: Callable[..., Path], problems_of: Callable[..., list[Problem]]
) -> None:
    frames["sites"]["contract_value_cny"] = [True, False, True]
    folder = make_folder(frames, formats={"sites": "parquet"})
    problems = problems_of(lambda: load_folder(folder))
    assert _where(problems) == {("sites.parquet", None, "contract_value_cny", "type")}
    assert "bool" in problems[0].message


def test_time_of_day_in_a_parquet_date_is_reported(
    frames: Frames, make_folder: Callable[..., Path], problems_of: Callable[..., list[Problem]]
) -> None:
    frames["claims"]["incident_date"] = pd.to_datetime(["2024-01-15 00:00", "2024-01-20 13:30"])
    folder = make_folder(frames, formats={"claims": "parquet"})
    problems = problems_of(lambda: load_folder(folder))
    assert _where(problems) == {("claims.parquet", 2, "incident_date", "type")}


def test_report_shows_every_kind_of_problem_within_the_cap(
    frames: Frames, make_folder: Callable[..., Path]
) -> None:
    months = frames["site_months"]
    many = pd.concat([months] * 40, ignore_index=True)
    many["month"] = [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(len(many))]
    many["worker_hours"] = -1.0  # 160 range problems
    frames["site_months"] = many
    frames["claims"] = _edit(frames, (("claims", 1, "cause", "flood"),))["claims"]
    with pytest.raises(ContractError) as caught:
        load_folder(make_folder(frames), max_problems=10)
    report = caught.value.report
    assert report.total == len(many) + 1
    assert len(report.problems) == 10
    assert {p.rule for p in report.problems} == {"range", "enum"}
    assert report.render().splitlines()[-1] == f"… and {report.total - 10} more problems"
    as_dict = report.to_dict()
    assert as_dict["total"] == report.total
    assert as_dict["more"] == report.total - 10
    assert as_dict["problems"][0].keys() == {"file", "row", "column", "rule", "message"}
    assert str(report.total) in str(caught.value)
    copied = pickle.loads(pickle.dumps(caught.value))
    assert copied.report == report


def test_problem_renders_file_row_column_message_and_rule() -> None:
    problem = Problem("sites.csv", 12, "district", "enum", "'x' is not one of: a, b")
    assert (
        problem.render()
        == "sites.csv row 12 (line 13 of the file) district — 'x' is not one of: a, b [enum]"
    )
    whole_file = Problem("claims.csv", None, None, "empty", "is empty (0 bytes)")
    assert whole_file.render() == "claims.csv — is empty (0 bytes) [empty]"


def test_collector_keeps_a_few_examples_and_counts_the_rest() -> None:
    collector = ProblemCollector(cap=3)
    examples = [Problem("f", i, "c", "range", "bad") for i in range(1, 6)]
    collector.add_many(examples, 1000)
    collector.add(Problem("f", 7, "d", "enum", "bad"))
    report = collector.report()
    assert report.total == 1001
    assert [p.rule for p in report.problems].count("enum") == 1
    assert len(report.problems) == 3
    assert [p.row for p in report.problems] == sorted(p.row or 0 for p in report.problems)
    with pytest.raises(ValueError, match="cap"):
        ProblemCollector(cap=0)
