"""What the contract checks report: one :class:`Problem` per broken rule and place,
gathered into a capped :class:`ProblemReport`.

A bad 2-million-row file can break one rule a million times; the report keeps a few
examples of every kind of problem and counts the rest, so the user sees each rule
that was broken rather than the first fifty rows of one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_PROBLEMS = 50


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule at one place.

    ``row`` is the 1-based data row as a user counts it in the file, header
    excluded (a spreadsheet shows it one line lower, and a CSV's rendering names that
    line too); ``None`` for a whole file.
    """

    file: str
    row: int | None
    column: str | None
    rule: str
    message: str

    def render(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        if self.row is not None and self.file.endswith(".csv"):
            # the header is line 1 of a CSV file: data row n is line n + 1
            where = f"{where} (line {self.row + 1} of the file)"
        if self.column is not None:
            where = f"{where} {self.column}"
        return f"{where} — {self.message} [{self.rule}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ProblemReport:
    """The problems shown (at most ``cap``) and how many were found in all."""

    problems: tuple[Problem, ...]
    total: int
    cap: int = DEFAULT_MAX_PROBLEMS

    @property
    def ok(self) -> bool:
        return self.total == 0

    @property
    def more(self) -> int:
        """Problems found but not shown."""
        return self.total - len(self.problems)

    def render(self) -> str:
        lines = [p.render() for p in self.problems]
        if self.more:
            noun = "problem" if self.more == 1 else "problems"
            lines.append(f"… and {self.more} more {noun}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "shown": len(self.problems),
            "more": self.more,
            "problems": [p.to_dict() for p in self.problems],
        }


class ContractError(Exception):
    """Data that breaks the contract; ``report`` lists what and where."""

    def __init__(self, report: ProblemReport) -> None:
        self.report = report
        noun = "problem" if report.total == 1 else "problems"
        super().__init__(
            f"the data breaks the contract ({report.total} {noun}):\n{report.render()}"
        )

    def __reduce__(self) -> tuple[type[ContractError], tuple[ProblemReport]]:
        # Rebuilt from the report, so the error survives pickling (worker processes).
        return (type(self), (self.report,))


class ProblemCollector:
    """Gathers problems while checks run and picks which to show.

    Problems are grouped by (file, column, rule). Each group keeps at most ``cap``
    examples; a check that finds many failures adds a few examples and the count.
    """

    def __init__(self, cap: int = DEFAULT_MAX_PROBLEMS) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self.cap = cap
        self.total = 0
        self._groups: dict[tuple[str, str | None, str], list[Problem]] = {}
        self._file_order: dict[str, int] = {}

    def __bool__(self) -> bool:
        return self.total > 0

    def add(self, problem: Problem) -> None:
        self.add_many([problem], 1)

    def add_many(self, examples: Iterable[Problem], count: int) -> None:
        """Record ``count`` failures of which ``examples`` are the first few."""
        self.total += count
        for problem in examples:
            self._file_order.setdefault(problem.file, len(self._file_order))
            group = self._groups.setdefault((problem.file, problem.column, problem.rule), [])
            if len(group) < self.cap:
                group.append(problem)

    def report(self) -> ProblemReport:
        # Round-robin over the groups so every kind of problem gets shown.
        chosen: list[Problem] = []
        groups = list(self._groups.values())
        depth = 0
        while len(chosen) < self.cap and any(depth < len(g) for g in groups):
            for group in groups:
                if depth < len(group) and len(chosen) < self.cap:
                    chosen.append(group[depth])
            depth += 1
        chosen.sort(
            key=lambda p: (
                self._file_order[p.file],
                -1 if p.row is None else p.row,
                p.column or "",
            )
        )
        return ProblemReport(tuple(chosen), self.total, self.cap)

    def raise_if_any(self) -> None:
        if self.total:
            raise ContractError(self.report())
