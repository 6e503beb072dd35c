"""README.md's shell commands, run in order and as written (issue 18).

Every ```bash, ```sh and ```shell block of README.md runs, in the order it appears, in
one bash with ``set -euo pipefail``: a variable one block sets is there for the next, as
in the terminal of someone following the README, and a command that fails stops the run.
An HTML comment right before a block changes that, visibly in the README:

``<!-- readme-test: skip (why) -->``
    the block does not run; the reason is required and the skipped blocks are listed in
    :data:`SKIPPED`, so a new skip is a decision someone made.
``<!-- readme-test: background, ready http://127.0.0.1:8000/PATH -->``
    the block runs in the background (``make demo`` ends by serving) and the next block
    starts once the URL answers 200. Background blocks end with the run: the run is a
    process group of its own, killed as a whole at the end.

The run happens in a copy of the checkout made of symbolic links (everything but
``var/`` and caches), so the README's ``var/…`` paths land in a temporary folder, which
is also ``SITERISK_HOME``; ``HOME`` is another. The venv's ``bin`` is left off the
``PATH``: the README says how to get ``siterisk``. Two settings the README documents make
the run quick and safe beside other work on the machine: ``DEMO_SITES=300`` (a small demo
world) and ``DEMO_PORT`` (a free port, which replaces the README's port 8000 in the ready
URL). No command is rewritten.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

RUN_LANGS = frozenset({"bash", "sh", "shell"})
# Fences that look like shell but are not run: refused, so nothing goes untested unseen.
SHELL_LIKE = frozenset({"console", "shell-session", "zsh", "terminal", "shellsession"})

# The blocks that do not run, by their first command (comments and spacing dropped).
SKIPPED = frozenset(
    {
        "make test",
        "siterisk quotes replay 3f1c…",
        ".venv/bin/pytest tests/service/quotes/test_api_fuzz.py -s",
        "docker build -t site-risk:0.1.0 .",
        "make demo",  # the notebooks section: a second demo next to the first
    }
)

# What the README test may set, each documented in the README.
DEMO_SITES = "300"
README_PORT = 8000  # the README's port; the run moves it with DEMO_PORT
# Generous: `make test` runs this next to another worker on two shared cores.
RUN_TIMEOUT = 900.0
READY_TIMEOUT = 600.0

# Entries of the checkout the run does not see (it gets its own var/).
LEFT_OUT = frozenset(
    {".git", "var", "mlruns", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__"}
)
# Settings of the caller that must not leak into the run.
CLEARED_PREFIXES = ("SITERISK_", "MLFLOW_", "DEMO_")
CLEARED = frozenset(
    {
        "DATABASE_URL",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKEOVERRIDES",
    }
)

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`]*)")
_MARKER = re.compile(r"^\s*<!--\s*readme-test:(?P<text>.*?)-->\s*$")
_SKIP = re.compile(r"skip \((?P<why>[^()]*\S[^()]*)\)")
_BACKGROUND = re.compile(r"background, ready (?P<url>https?://\S+)")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str | None  # the readme-test comment right before it, if any

    @property
    def first(self) -> str:
        """The first command line, without its comment and extra spaces."""
        for raw in self.text.splitlines():
            command = raw.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                return " ".join(command.split())
        return ""


@dataclass(frozen=True)
class Step:
    block: Block
    action: Literal["run", "skip", "background"]
    reason: str = ""
    ready: str = ""


def read_blocks(markdown: str) -> tuple[list[Block], list[int]]:
    """Every fenced block, and the lines of readme-test comments that stand before none."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    used: set[int] = set()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                break
            body.append(lines[j].removeprefix(indent))
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = _MARKER.match(lines[k]) if k >= 0 else None
        if marker:
            used.add(k)
        text = "\n".join(body) + "\n"
        blocks.append(Block(i + 1, opening["lang"].lower(), text, marker and marker["text"]))
        i = j + 1
    stray = [n + 1 for n, line in enumerate(lines) if _MARKER.match(line) and n not in used]
    return blocks, stray


def plan(blocks: list[Block]) -> list[Step]:
    """What the run does with each shell block; a marker it cannot read is an error."""
    steps: list[Step] = []
    for block in blocks:
        if block.lang in SHELL_LIKE:
            raise ValueError(
                f"README.md line {block.line}: a ```{block.lang} block is not run; "
                "write it as ```bash (or ```text when it is output)"
            )
        if block.lang not in RUN_LANGS:
            if block.marker is not None:
                raise ValueError(f"README.md line {block.line}: a marker on a non-shell block")
            continue
        text = " ".join((block.marker or "").split())
        if block.marker is None:
            steps.append(Step(block, "run"))
        elif skip := _SKIP.fullmatch(text):
            steps.append(Step(block, "skip", reason=skip["why"].strip()))
        elif background := _BACKGROUND.fullmatch(text):
            steps.append(Step(block, "background", ready=background["url"]))
        else:
            raise ValueError(
                f"README.md line {block.line}: unknown marker 'readme-test: {text}'; expected "
                "'skip (why)' or 'background, ready URL'"
            )
    return steps


def readme_steps() -> list[Step]:
    blocks, stray = read_blocks(README.read_text(encoding="utf-8"))
    assert not stray, f"readme-test comments not right before a block: README.md lines {stray}"
    return plan(blocks)


def test_readme_blocks_are_marked() -> None:
    """Every shell block runs unless marked; each skip has its reason and is listed here;
    each background block names the URL that says it is ready, on the README's port."""
    steps = readme_steps()
    skipped = {s.block.first for s in steps if s.action == "skip"}
    assert skipped == SKIPPED, (
        f"skipped blocks differ from SKIPPED: new {sorted(skipped - SKIPPED)}, "
        f"no longer skipped {sorted(SKIPPED - skipped)}"
    )
    assert all(s.reason for s in steps if s.action == "skip")
    for step in steps:
        if step.action == "background":
            assert urlsplit(step.ready).port == README_PORT, (
                f"README.md line {step.block.line}: the ready URL must use the README's port "
                f"{README_PORT}, which the run moves with DEMO_PORT"
            )
    assert [s for s in steps if s.action == "run"], "no README command runs"


def test_plan_reads_markers() -> None:
    readme = (
        "<!-- readme-test: skip (why not) -->\n```bash\nmake test\n```\n\n"
        "<!--  readme-test: background, ready http://127.0.0.1:8000/health/ready -->\n\n"
        "```sh\nmake demo\n```\n\n  ```bash\n  echo hi   # a comment\n  ```\n"
        "```text\noutput\n```\n"
    )
    blocks, stray = read_blocks(readme)
    assert not stray
    steps = plan(blocks)
    assert [(s.action, s.reason, s.ready) for s in steps] == [
        ("skip", "why not", ""),
        ("background", "", "http://127.0.0.1:8000/health/ready"),
        ("run", "", ""),
    ]
    assert steps[2].block.text == "echo hi   # a comment\n"
    assert steps[2].block.first == "echo hi"
    with pytest.raises(ValueError, match="unknown marker"):
        plan(read_blocks("<!-- readme-test: skip -->\n```bash\nls\n```\n")[0])
    with pytest.raises(ValueError, match="is not run"):
        plan(read_blocks("```console\n$ ls\n```\n")[0])
    assert read_blocks("<!-- readme-test: skip (x) -->\n\ntext\n")[1] == [1]


# --- the run ------------------------------------------------------------------------

WAIT_READY = '''\
"""Wait until a URL answers 200 while a background block runs: wait_ready.py URL PID LOG."""
import pathlib, sys, time, urllib.request

url, pid, log = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
timeout = float(sys.argv[4])


def running() -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


end = time.monotonic() + timeout
while time.monotonic() < end:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        pass
    if not running():
        sys.exit(f"the background block ended before {url} answered; its log {log}")
    time.sleep(0.5)
sys.exit(f"{url} did not answer 200 within {timeout:.0f} s; the background block's log {log}")
'''


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _checkout(target: Path) -> None:
    """A checkout that reads everything from this one but writes its own var/."""
    target.mkdir()
    for entry in REPO.iterdir():
        if entry.name in LEFT_OUT or entry.name.endswith(".egg-info"):
            continue
        (target / entry.name).symlink_to(entry)


def _environment(home: Path, siterisk_home: Path, port: int) -> dict[str, str]:
    venv_bins = {(REPO / ".venv" / "bin").resolve(), Path(sys.executable).parent.resolve()}
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in CLEARED and not name.startswith(CLEARED_PREFIXES)
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    path = [p for p in path if Path(p).resolve() not in venv_bins]
    env.update(
        PATH=os.pathsep.join(path or ["/usr/local/bin", "/usr/bin", "/bin"]),
        HOME=str(home),
        SITERISK_HOME=str(siterisk_home),
        DEMO_SITES=DEMO_SITES,
        DEMO_PORT=str(port),
    )
    return env


def _script(steps: list[Step], work: Path, port: int) -> str:
    """One bash script: the blocks in order, each announced in the log and recorded in
    ``current`` (the block a failure stopped in)."""
    q = shlex.quote
    current, wait_ready = work / "current", work / "wait_ready.py"
    out = ["# README.md's commands, by tests/test_readme.py", "set -euo pipefail"]
    for step in steps:
        block = step.block
        where = f"README.md line {block.line}"
        if step.action == "skip":
            out.append(f"printf '\\n%s\\n' {q(f'>>> {where}: skipped ({step.reason})')}")
            continue
        out.append(f"echo {q(where)} > {q(str(current))}")
        out.append(
            f"printf '\\n%s (at %s s)\\n' {q(f'>>> {where} ({step.action}): {block.first}')} "
            '"$SECONDS"'
        )
        if step.action == "run":
            out.append(block.text.rstrip("\n"))
            # `set -e` spares a failure inside `a && b`; the block's status still counts.
            out.append('readme_status=$?; [ "$readme_status" -eq 0 ] || exit "$readme_status"')
            continue
        url = urlsplit(step.ready)._replace(netloc=f"{urlsplit(step.ready).hostname}:{port}")
        log = work / f"background-line-{block.line}.log"
        out.append(
            f"bash -euo pipefail -c {q(block.text)} > {q(str(log))} 2>&1 < /dev/null &\n"
            f"{q(sys.executable)} {q(str(wait_ready))} {q(url.geturl())} $! {q(str(log))} "
            f"{READY_TIMEOUT:.0f}"
        )
    out.append(f"echo done > {q(str(current))}")
    return "\n".join(out) + "\n"


def _stop_group(pgid: int) -> None:
    """End a process group: TERM, then KILL whatever is left after 20 s."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + grace
        while time.monotonic() < end:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _stale_venv() -> str | None:
    """Why `make demo` in the run would install into the venv, if it would. Its `setup`
    reinstalls when pyproject.toml or requirements.lock is newer than the venv's stamp,
    and would do so from the temporary checkout, leaving the venv's scripts pointing
    into a folder about to be deleted."""
    stamp = REPO / ".venv" / ".installed"
    if not stamp.is_file():
        return "there is no .venv/.installed: run 'make setup' first"
    newer = [
        name
        for name in ("pyproject.toml", "requirements.lock")
        if (REPO / name).stat().st_mtime > stamp.stat().st_mtime
    ]
    if newer:
        return f"{' and '.join(newer)} changed since the venv was installed: run 'make setup'"
    return None


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no output)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


@pytest.mark.slow
def test_readme_commands_run(tmp_path: Path) -> None:
    if stale := _stale_venv():
        pytest.fail(f"{stale} (make test does), then run this test", pytrace=False)
    steps = readme_steps()
    checkout, home, work = tmp_path / "checkout", tmp_path / "home", tmp_path / "run"
    _checkout(checkout)
    home.mkdir()
    work.mkdir()
    (work / "wait_ready.py").write_text(WAIT_READY, encoding="utf-8")
    port = _free_port()
    script = work / "readme.sh"
    script.write_text(_script(steps, work, port), encoding="utf-8")
    log = work / "readme.log"
    began = time.monotonic()
    with log.open("wb") as output:
        run = subprocess.Popen(
            ["bash", str(script)],
            cwd=checkout,
            env=_environment(home, checkout / "var", port),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the run and its background blocks: one process group
        )
        try:
            status: int | str = run.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            status = f"still running after {RUN_TIMEOUT:.0f} s"
        finally:
            _stop_group(run.pid)
            run.wait()
    took = time.monotonic() - began
    if status != 0:
        where = (work / "current").read_text().strip() if (work / "current").exists() else "?"
        background = "".join(
            f"\n--- {p.name} (last lines) ---\n{_tail(p, 40)}\n"
            for p in sorted(work.glob("background-*.log"))
        )
        pytest.fail(
            f"README.md's commands failed ({status}) in {where}, after {took:.0f} s; the run's "
            f"last lines:\n{_tail(log)}\n{background}",
            pytrace=False,
        )
    print(f"README.md's commands ran in {took:.0f} s")
