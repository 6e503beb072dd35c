"""What every versioned rule file shares, whichever package reads it (pricing rules,
rate books, incentive rule sets): the error a broken one raises, and how versions order."""

from __future__ import annotations

import re


class RuleError(ValueError):
    """A rule file is missing, unreadable or breaks a rule; the message says where."""


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Sort key of a version: "default-2025.1" < "default-2025.10" < "acme-2026.1" (the
    trailing dotted number decides, the full string breaks ties)."""
    match = re.search(r"(\d+(?:\.\d+)*)$", version)
    numbers = tuple(int(p) for p in match.group(1).split(".")) if match else ()
    return numbers, version
