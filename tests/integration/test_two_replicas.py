"""Two replicas of the service against real servers, all on loopback, all as separate
processes run the way an operator runs them.

A real PostgreSQL (the test server ``make`` starts) holds both the MLflow tracking
server's store and the service database; ``mlflow server`` keeps the artifacts and
serves them over HTTP. The test trains, registers and promotes through that server
with the ``siterisk`` CLI, starts two ``siterisk serve`` replicas, prices through both,
trains and promotes a new version, reloads replica A through the admin endpoint while
replica B finds the new champion by polling (and keeps pricing, without one failed
request, meanwhile), and finally finds quotes of both versions in PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from models.contract import load_folder
from service.quotes.example import example_request

pytestmark = [pytest.mark.xdist_group("two-replicas"), pytest.mark.slow]

BIN = Path(sys.executable).parent
PEPPER = "two-replicas-pepper-0123456789"
# Small enough to train in seconds, big enough for every model part to fit.
SITES, MONTHS = 150, 24
# Generous: `make test` runs this next to another worker on two shared cores.
STEP_TIMEOUT = 600.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@dataclass
class Proc:
    """A child process in a session of its own (so its children end with it), its
    output in a log file."""

    name: str
    args: Sequence[str]
    log: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] = field(init=False)
    _out: IO[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self._out = self.log.open("wb")
        self.popen = subprocess.Popen(
            list(self.args),
            env=self.env,
            cwd=self.log.parent,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ok(self, timeout: float = STEP_TIMEOUT) -> str:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{self.name} took over {timeout:.0f} s:\n{_tail(self.log)}")
        self._out.close()
        output = self.log.read_text(encoding="utf-8", errors="replace")
        assert code == 0, f"{self.name} failed ({code}):\n{_tail(self.log)}"
        return output

    def alive(self) -> None:
        if self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited ({self.popen.returncode}):\n{_tail(self.log)}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._out.close()


@dataclass
class Stack:
    root: Path
    pg_url: str  # the service database
    tracking_uri: str
    procs: list[Proc] = field(default_factory=list)

    def env(self, home: str, **extra: str) -> dict[str, str]:
        """The machine's environment without any of ours, plus the deployment's."""
        ours = ("SITERISK_", "MLFLOW_")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(ours) and k not in {"DATABASE_URL", "PYTEST_XDIST_WORKER"}
        }
        folder = self.root / home
        folder.mkdir(exist_ok=True)
        env.update(
            SITERISK_HOME=str(folder),
            MPLCONFIGDIR=str(folder / "mpl"),
            MLFLOW_TRACKING_URI=self.tracking_uri,
            DATABASE_URL=self.pg_url,
            SITERISK_KEY_PEPPER=PEPPER,
            SITERISK_ENV="production",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def start(self, name: str, args: Sequence[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, args, self.root / f"{name}.log", env)
        self.procs.append(proc)
        return proc

    def siterisk(self, name: str, *args: str, home: str = "ops", **extra: str) -> Proc:
        return self.start(name, [str(BIN / "siterisk"), *args], self.env(home, **extra))


def _wait_http(url: str, proc: Proc, timeout: float = STEP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        proc.alive()
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} not ready after {timeout:.0f} s:\n{_tail(proc.log)}")
        time.sleep(0.5)


@pytest.fixture
def stack(pg_databases: Any, tmp_path: Path) -> Iterator[Stack]:
    """A running MLflow tracking server on PostgreSQL; every process is ended after."""
    mlflow_db, service_db = pg_databases.create(), pg_databases.create()
    port = _free_port()
    stack = Stack(tmp_path, service_db, f"http://127.0.0.1:{port}")
    try:
        mlflow = stack.start(
            "mlflow-server",
            [
                str(BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                mlflow_db,
                "--artifacts-destination",
                str(tmp_path / "mlflow-artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            # The server's background job runner (for GenAI features) is not needed here
            # and would add seven worker processes.
            stack.env("mlflow", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
        )
        assert stack.procs == [mlflow]
        yield stack
    finally:
        for proc in reversed(stack.procs):
            proc.stop()


class Clock:
    """Seconds per step, printed at the end (``-s``) to see where the time goes."""

    def __init__(self) -> None:
        self.began = self.last = time.monotonic()
        self.steps: list[tuple[str, float]] = []

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        self.steps.append((step, now - self.last))
        self.last = now

    def report(self) -> str:
        parts = ", ".join(f"{step} {seconds:.0f}" for step, seconds in self.steps)
        return f"two replicas: {self.last - self.began:.0f} s ({parts})"


def _key(output: str) -> str:
    keys = [line.strip() for line in output.splitlines() if line.startswith("srk_")]
    assert len(keys) == 1, output
    return keys[0]


def _version(output: str, marker: str) -> str:
    for line in output.splitlines():
        if marker in line:
            return line.split(marker, 1)[1].split()[0]
    raise AssertionError(f"no {marker!r} in:\n{output}")


class Pricer(threading.Thread):
    """Prices one body through one replica again and again until told to stop, and
    keeps every status and model version it got."""

    def __init__(self, url: str, key: str, body: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.body = url, key, body
        self.answers: list[tuple[int, str | None]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.halt.is_set():
                try:
                    answer = client.post("/v1/quotes", json=self.body, headers=_auth(self.key))
                except httpx.HTTPError as exc:
                    self.answers.append((0, repr(exc)))
                    continue
                version = answer.json()["model"]["version"] if answer.status_code == 201 else None
                self.answers.append((answer.status_code, version))
                # A steady stream, not a flood: the box's two cores also run the promotion.
                self.halt.wait(0.1)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _quote(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{url}/v1/quotes", json=body, headers=_auth(key), timeout=60)
    assert answer.status_code == 201, answer.text
    quote: dict[str, Any] = answer.json()
    return quote


def _card_version(url: str, key: str) -> str:
    card = httpx.get(f"{url}/v1/model", headers=_auth(key), timeout=30)
    assert card.status_code == 200, card.text
    return str(card.json()["version"])


def test_two_replicas_follow_a_promotion_through_real_servers(stack: Stack) -> None:
    mlflow = stack.procs[0]
    clock = Clock()
    worlds = {name: stack.root / f"world-{name}" for name in ("v1", "v2")}
    setup = [
        stack.siterisk(
            f"generate-{name}",
            *("data", "generate", "--sites", str(SITES), "--months", str(MONTHS)),
            *("--seed", str(seed), "--out", str(folder), "--format", "parquet"),
        )
        for (name, folder), seed in zip(worlds.items(), (11, 12), strict=True)
    ]
    setup.append(stack.siterisk("db-upgrade", "db", "upgrade"))
    for proc in setup:
        proc.wait_ok()
    clock("generate+db")
    data = load_folder(worlds["v1"])
    body = example_request(data.sites, data.site_months, data.claims)
    _wait_http(f"{stack.tracking_uri}/health", mlflow)
    clock("mlflow up")

    # Train, register and promote the first version through the tracking server. Keys
    # are issued and both replicas start meanwhile, before any champion exists (as on a
    # fresh install): each has its own model cache; A reloads when told, B polls.
    train = stack.siterisk("train-v1", "train", "--data", str(worlds["v1"]))
    insurer_proc = stack.siterisk(
        "key-insurer", "keys", "create", "--role", "insurer", "--insurer-id", "INS-2R"
    )
    admin_proc = stack.siterisk("key-admin", "keys", "create", "--role", "admin")
    urls = {name: f"http://127.0.0.1:{_free_port()}" for name in ("a", "b")}
    replicas = {
        name: stack.siterisk(
            f"replica-{name}",
            # one worker each: an admin reload reaches the one process that answers it
            *("serve", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1], "--workers", "1"),
            home=f"replica-{name}",
            SITERISK_MODEL_POLL_SECONDS="0" if name == "a" else "1",
        )
        for name, url in urls.items()
    }
    insurer, admin = _key(insurer_proc.wait_ok()), _key(admin_proc.wait_ok())
    for name, url in urls.items():
        _wait_http(f"{url}/health/live", replicas[name])
        # Up, but not ready: there is no champion yet, and readiness says so.
        assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 503
        refused = httpx.post(f"{url}/v1/quotes", json=body, headers=_auth(insurer), timeout=60)
        assert refused.status_code == 503, refused.text
    clock("replicas up")
    first = _version(train.wait_ok(), "Registered site-risk version ")
    clock("train v1")
    promoted = stack.siterisk("promote-v1", "model", "promote", "--data", str(worlds["v1"]))
    assert f"Version {first} of site-risk is now the champion" in promoted.wait_ok()
    clock("promote v1")

    # The next version trains while the replicas take the first one and price with it.
    train = stack.siterisk("train-v2", "train", "--data", str(worlds["v2"]))
    loaded = httpx.post(f"{urls['a']}/v1/admin/model/reload", headers=_auth(admin), timeout=300)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["previous"] is None
    assert loaded.json()["current"]["version"] == first
    for name, url in urls.items():
        _wait_http(f"{url}/health/ready", replicas[name], timeout=120)
    clock("replicas ready")

    for url in urls.values():
        assert _card_version(url, insurer) == first
        quote = _quote(url, insurer, body)
        assert quote["model"]["version"] == first
        assert quote["pricing"]["final_premium_cny"] > 0
    before = _quote(urls["a"], insurer, body)

    clock("priced v1")
    second = _version(train.wait_ok(), "Registered site-risk version ")
    assert second != first
    clock("train v2")
    # Replica B is priced without pause from before the promotion until after it.
    pricer = Pricer(urls["b"], insurer, body)
    pricer.start()
    promote = stack.siterisk(
        "promote-v2", "model", "promote", "--data", str(worlds["v2"]), "--force"
    )
    assert f"Version {second} of site-risk is now the champion" in promote.wait_ok()
    clock("promote v2")

    reloaded = httpx.post(f"{urls['a']}/v1/admin/model/reload", headers=_auth(admin), timeout=300)
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["status"] == "swapped"
    assert reloaded.json()["previous"]["version"] == first
    assert reloaded.json()["current"]["version"] == second
    clock("reload A")
    # Only admins may reload.
    denied = httpx.post(f"{urls['a']}/v1/admin/model/reload", headers=_auth(insurer))
    assert denied.status_code == 403

    deadline = time.monotonic() + 120
    while _card_version(urls["b"], insurer) != second:
        replicas["b"].alive()
        assert time.monotonic() < deadline, "replica B never picked up the new champion"
        time.sleep(0.5)
    clock("B polled")
    # B's poller already swapped: reloading it now finds nothing new.
    again = httpx.post(f"{urls['b']}/v1/admin/model/reload", headers=_auth(admin), timeout=300)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "unchanged"
    while sum(version == second for _, version in pricer.answers) < 3:
        assert pricer.is_alive()
        time.sleep(0.2)
    pricer.halt.set()
    pricer.join(timeout=120)

    statuses = [status for status, _ in pricer.answers]
    assert set(statuses) == {201}, pricer.answers
    versions = [version for _, version in pricer.answers]
    switch = versions.index(second)
    assert switch > 0
    assert set(versions[:switch]) == {first}
    assert set(versions[switch:]) == {second}

    after = {name: _quote(url, insurer, body) for name, url in urls.items()}
    assert {q["model"]["version"] for q in after.values()} == {second}
    # Another model, another price for the same site: the new version really priced.
    assert after["a"]["risk"] != before["risk"]

    # Every 201 answer is a stored quote, each with the version that priced it.
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.pg_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT model_version, count(*) FROM quote GROUP BY model_version")
            ).all()
    finally:
        engine.dispose()
    stored = {str(version): int(count) for version, count in rows}
    answered = {
        first: 3 + versions.count(first),  # one through each replica, `before`, B's
        second: 2 + versions.count(second),
    }
    assert stored == answered
    clock("checks")
    sys.stderr.write(clock.report() + "\n")
