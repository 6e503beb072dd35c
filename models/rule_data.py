"""What every versioned rule file shares, whichever package reads it (pricing rules,
rate books, incentive rule sets): the error a broken one raises, how versions order,
and how a schema's problems are named at their JSON paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError


class RuleError(ValueError):
    """A rule file is missing, unreadable or breaks a rule; the message says where."""


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Sort key of a version: "default-2025.1" < "default-2025.10" < "acme-2026.1" (the
    trailing dotted number decides, the full string breaks ties)."""
    match = re.search(r"(\d+(?:\.\d+)*)$", version)
    numbers = tuple(int(p) for p in match.group(1).split(".")) if match else ()
    return numbers, version


@dataclass(frozen=True, slots=True)
class Problem:
    """One error of a document: where (a JSON path such as ``$.tiers[2].name``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SchemaError(RuleError):
    """A document breaks its schema: every problem found, each at its JSON path."""

    what: ClassVar[str] = "document"  # how the message names the document

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        listed = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the {self.what}:\n{listed}")


def json_path(loc: Sequence[int | str]) -> str:
    """pydantic's location of an error as a JSON path."""
    out = "$"
    for part in loc:
        if part == "[key]":  # pydantic's mark for a bad key of a mapping: the key is the place
            continue
        if part == "schema_":  # a field named ``schema`` would shadow pydantic's own
            part = "schema"
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def schema_problems(error: ValidationError) -> list[Problem]:
    """Every problem pydantic found, at its path, in plain words."""
    out = []
    for e in error.errors(include_url=False):
        message = e["msg"]
        if "[key]" in e["loc"]:
            message = f"unknown key: {message}"
        elif e["type"] == "extra_forbidden":
            message = "unknown key"
        elif e["type"] == "missing":
            message = "missing"
        out.append(Problem(json_path(e["loc"]), message))
    return out
