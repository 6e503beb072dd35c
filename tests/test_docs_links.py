"""The documentation is reachable and stays inside the repository (issue 18).

Every page of docs/ is linked from README.md or from another page; every relative link
of README.md and docs/ names a file of the repository; and no document or source file
sends the reader to files beside the repository (``../shared/…``), which a user of the
repository does not have.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"

# The target of an inline link, [text](target) or [text](<target> "title").
_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_OUTSIDE = re.compile(r"\.\./shared/|\bshared/(?:data|event)-contract\.md|\bshared/context\b")
SOURCES = ("models", "service", "training", "siterisk", "bench", "scripts", "notebooks", "helm")


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _targets(page: Path) -> list[tuple[int, str]]:
    """Relative link targets of a page, with their line, outside code blocks."""
    out: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        for target in _LINK.findall(line):
            parts = urlsplit(target)
            if parts.scheme or target.startswith("#"):
                continue
            out.append((number, unquote(parts.path)))
    return out


def test_every_doc_is_linked() -> None:
    linked: set[Path] = set()
    for page in _pages():
        for _, target in _targets(page):
            resolved = (page.parent / target).resolve()
            if resolved != page.resolve():
                linked.add(resolved)
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs not linked from README.md or another doc: {unlinked}"


def test_relative_links_name_files_of_the_repository() -> None:
    broken = []
    for page in _pages():
        for number, target in _targets(page):
            resolved = (page.parent / target).resolve()
            where = f"{page.relative_to(REPO)}:{number}: {target}"
            if not resolved.is_relative_to(REPO):
                broken.append(f"{where} (outside the repository)")
            elif not resolved.exists():
                broken.append(f"{where} (no such file)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_nothing_points_beside_the_repository() -> None:
    files = [*_pages(), REPO / "Makefile"]
    for folder in SOURCES:
        for suffix in ("*.py", "*.md", "*.yaml", "*.ipynb"):
            files += (REPO / folder).rglob(suffix)
    found = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if _OUTSIDE.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, (
        "references to files outside the repository (the data contract is "
        "docs/data-contract.md):\n" + "\n".join(found)
    )
