"""Risk grades as versioned rule data: the shipped cutoffs, and files that break them."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.pricing import RuleError, available_versions
from models.pricing.grades import load_grades

VALID = """
version: "district-2026.1"
label: "test grades"
description: "three grades"
grades:
  - {grade: A, below: 30, zh: 低, en: low}
  - {grade: B, below: 80, zh: 中, en: middle}
  - {grade: C, below: null, zh: 高, en: high}
peers: {better_below: 20, worse_above: 80}
trend: {points: 4, threshold_points: 10}
"""


def test_the_shipped_grades_cover_every_percentile_in_order() -> None:
    versions = available_versions("grades")
    assert versions
    rules = load_grades()
    assert rules.version == versions[-1]
    assert rules.label.startswith("DEFAULT")
    assert [g.grade for g in rules.grades] == list("ABCDE")
    cutoffs = [g.below for g in rules.grades[:-1]]
    assert cutoffs == sorted(cutoffs)
    assert rules.grades[-1].below is None
    graded = [rules.grade(p / 10).grade for p in range(1001)]
    assert graded == sorted(graded)  # riskier never grades better
    assert set(graded) == set("ABCDE")


def test_a_district_s_own_file_replaces_the_cutoffs(tmp_path: Path) -> None:
    path = tmp_path / "grades.yaml"
    path.write_text(VALID, encoding="utf-8")
    rules = load_grades(path=path)
    assert [rules.grade(p).grade for p in (0, 29.9, 30, 79.9, 80, 100)] == list("AABBCC")
    assert (rules.level(10), rules.level(50), rules.level(90)) == ("better", "typical", "worse")
    assert rules.direction(60, 45, 4) == "improving"
    assert rules.direction(60, 55, 4) == "stable"
    assert rules.direction(40, 55, 4) == "worsening"
    assert rules.direction(40, 80, 1) == "unknown"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("below: 80, zh: 中", "below: 20, zh: 中"), "must be > 30"),
        (("below: null", "below: 95"), "the last grade must be open"),
        (("below: 30", "below: null"), "only the last grade may be open"),
        (("grade: B", "grade: A"), "each grade must appear once"),
        (("worse_above: 80", "worse_above: 10"), "must be >= 20"),
        (("points: 4", "points: 0"), "must be >= 1"),
        (("trend:", "trends:"), "unknown key"),
    ],
)
def test_broken_files_are_refused_naming_the_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "grades.yaml"
    path.write_text(VALID.replace(*change, 1), encoding="utf-8")
    with pytest.raises(RuleError, match=message):
        load_grades(path=path)
