"""A load test on loopback: ``siterisk serve`` as its own process (uvicorn, the embedded
SQLite database, the session's small model from the registry) and 32 concurrent
clients sending single quotes, small portfolios and reads, bounded in count and time.

Nothing may fail (every answer 2xx, none throttled), and afterwards the database holds
exactly as many quotes as were answered 201. Throughput and latency are printed, never
asserted (``-s`` shows them)::

    .venv/bin/pytest tests/service/quotes/test_load.py -s
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from quote_helpers import ModelStore, request_for, sites_with_history
from sqlmodel import func, select
from svc_helpers import PEPPER, bearer

from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.db.tables import Quote
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

CLIENTS = 32
REQUESTS_PER_CLIENT = 10  # every 5th a 5-site portfolio, every 7th a read
TIME_LIMIT = 60.0  # seconds for the whole run; clients stop starting requests after it
START = "2025-07"


@dataclass
class Server:
    url: str
    home: Path
    key: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, migrated_db: Path, model_store: ModelStore
) -> Iterator[Server]:
    """``siterisk serve`` on a free port; stopped (by its own pid) after the module."""
    home = tmp_path_factory.mktemp("load")
    shutil.copy(migrated_db, home / "siterisk.db")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SITERISK_") and name not in {"DATABASE_URL", "MLFLOW_TRACKING_URI"}
    }
    env.update(
        SITERISK_HOME=str(home),
        SITERISK_ENV="dev",
        SITERISK_KEY_PEPPER=PEPPER,
        MLFLOW_TRACKING_URI=model_store.settings.tracking_uri,
        SITERISK_MODEL_POLL_SECONDS="0",
    )
    database = Database(f"sqlite:///{home / 'siterisk.db'}")
    with database.session() as session:
        key = ApiKeyStore(session, PEPPER).create(KeySpec.parse("insurer", insurer_id="I-LOAD"))
    database.dispose()
    port = _free_port()
    log = home / "serve.log"
    siterisk = Path(sys.executable).parent / "siterisk"
    with log.open("wb") as out:
        process = subprocess.Popen(
            # one process, as before serve defaulted to one worker per CPU
            [str(siterisk), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield Server(url, home, key.key, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"siterisk serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"siterisk serve was not ready within 120 s:\n{log.read_text()[-3000:]}")


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    created: int = 0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


async def _client(
    number: int, http: httpx.AsyncClient, bodies: list[dict[str, Any]], tally: Tally, stop: float
) -> None:
    for i in range(REQUESTS_PER_CLIENT):
        if time.monotonic() > stop:
            return
        step = number * REQUESTS_PER_CLIENT + i
        if step % 7 == 6:
            kind, call = "read", http.get("/v1/quotes", params={"limit": 20})
        elif step % 5 == 4:
            items = [bodies[(step + k) % len(bodies)] for k in range(5)]
            kind, call = "batch of 5", http.post("/v1/quotes/batch", json={"items": items})
        else:
            kind, call = "quote", http.post("/v1/quotes", json=bodies[step % len(bodies)])
        started = time.perf_counter()
        try:
            response = await call
        except httpx.HTTPError as exc:
            tally.failures.append(f"{kind}: {exc!r}")
            continue
        tally.latencies.setdefault(kind, []).append(time.perf_counter() - started)
        tally.statuses[response.status_code] += 1
        if response.status_code >= 300:
            tally.failures.append(f"{kind}: {response.status_code} {response.text[:300]}")
        elif kind == "quote":
            tally.created += response.status_code == 201
        elif kind == "batch of 5":
            tally.created += sum(item["status"] == 201 for item in response.json()["items"])


async def _run(server: Server, bodies: list[dict[str, Any]]) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=server.url, headers=bearer(server.key), limits=limits, timeout=120
    ) as http:
        started = time.monotonic()
        stop = started + TIME_LIMIT
        await asyncio.gather(*(_client(n, http, bodies, tally, stop) for n in range(CLIENTS)))
        return tally, time.monotonic() - started


def _stored(home: Path) -> int:
    database = Database(f"sqlite:///{home / 'siterisk.db'}")
    try:
        with database.session() as session:
            return int(session.exec(select(func.count()).select_from(Quote)).one())
    finally:
        database.dispose()


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_32_concurrent_clients_lose_nothing(server: Server, unseen_world: World) -> None:
    sites = sites_with_history(unseen_world, START)[:60]
    bodies = [request_for(unseen_world, site, START) for site in sites]

    tally, seconds = asyncio.run(_run(server, bodies))

    answered = sum(tally.statuses.values())
    print(f"\nload: {CLIENTS} clients, {answered} requests in {seconds:.1f} s")
    print(f"  {answered / seconds:.1f} requests/s, {tally.created / seconds:.1f} quotes/s")
    print(f"  statuses {dict(sorted(tally.statuses.items()))}, {tally.created} quotes stored")
    for kind, values in sorted(tally.latencies.items()):
        print(
            f"  {kind:<11} n={len(values):<4} mean {1000 * statistics.fmean(values):7.1f} ms"
            f"  p50 {_ms(values, 0.5):7.1f}  p95 {_ms(values, 0.95):7.1f}"
            f"  p99 {_ms(values, 0.99):7.1f}  max {1000 * max(values):7.1f} ms"
        )
    assert tally.failures == [], tally.failures[:5]
    assert answered >= CLIENTS  # every client got at least one answer in the time limit
    assert _stored(server.home) == tally.created
    assert tally.created > 0
