"""A share link opened through ``siterisk serve`` leaves no token in any log line.

The server runs as in production, in a process of its own: the real command, uvicorn
with its access log, and :data:`service.logs.LOG_CONFIG` writing to stderr, which the
test reads. Quotes are priced in-process first (the served app has no model); sharing,
opening the link and signing in all go through the served app (issue 18)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from portal_helpers import PEPPER, SECRET, Scenario, free_port

from models.settings import Settings
from service.portal.access import CSRF_COOKIE, SESSION_COOKIE, SHARE_PATH

pytestmark = pytest.mark.xdist_group("portal")

ROOT = Path(__file__).resolve().parents[3]
SERVE = "from siterisk.cli import main; main()"


def _environment(settings: Settings, port: int) -> dict[str, str]:
    """This machine's environment without any siterisk setting, then the test's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SITERISK_", "MLFLOW_")) and name != "DATABASE_URL"
    }
    env.update(
        SITERISK_HOME=str(settings.home),
        DATABASE_URL=settings.db_url,
        SITERISK_ENV="dev",
        SITERISK_KEY_PEPPER=PEPPER,
        SITERISK_PORTAL_SECRET=SECRET,
        SITERISK_PORTAL_COOKIE_SECURE="false",
        SITERISK_RATE_LIMIT_PER_SECOND="0",
        SITERISK_AUTH_CACHE_SECONDS="0",
        SITERISK_HOST="127.0.0.1",
        SITERISK_PORT=str(port),
        SITERISK_WORKERS="1",
    )
    return env


@contextmanager
def served(settings: Settings, log: Path) -> Iterator[httpx.Client]:
    """``siterisk serve`` on a loopback port, its stdout and stderr into ``log``. The
    home gets an empty MLflow store first: serve refuses a missing one (docs/stores.md),
    and this service needs no model, only the stored quote."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=settings.tracking_uri).search_experiments()
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve"],
            cwd=ROOT,
            env=_environment(settings, port),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                deadline = time.monotonic() + 90
                while True:
                    if process.poll() is not None:
                        raise RuntimeError(f"siterisk serve exited:\n{log.read_text()}")
                    try:
                        if client.get("/health/live").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"siterisk serve did not start:\n{log.read_text()}")
                    time.sleep(0.1)
                yield client
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_a_served_share_link_leaves_no_token_key_or_bearer_in_any_log_line(
    scenario: Scenario, module_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    quote_id = scenario.quotes["a"]["quote_id"]
    with served(module_settings, log) as client:
        assert client.get("/v1/whoami", headers=scenario.bearer("ins_a")).status_code == 200
        made = client.post(f"/v1/quotes/{quote_id}/share", headers=scenario.bearer("ins_a"))
        assert made.status_code == 201, made.text
        path = made.json()["path"]
        assert path.startswith(SHARE_PATH)
        token = path.removeprefix(SHARE_PATH)
        assert len(token) > 40
        assert "." in token  # payload.signature
        # Opened as a contractor would, in both languages, and once altered.
        opened = client.get(path)
        assert opened.status_code == 200, opened.text
        assert client.get(path, params={"lang": "en"}).status_code == 200
        altered = path[:-4] + ("BBBB" if path.endswith("AAAA") else "AAAA")
        assert client.get(altered).status_code in (400, 403, 404)
        # The link inside a query (a sign-in that returns to it), and a sign-in by key.
        assert client.get("/portal/login", params={"next": path}).status_code == 200
        csrf = client.cookies.get(CSRF_COOKIE)
        assert csrf
        signed_in = client.post(
            "/portal/login",
            data={"api_key": scenario.keys["c1"], "csrf": csrf, "next": "/portal"},
        )
        assert signed_in.status_code == 303, signed_in.text
        session = client.cookies.get(SESSION_COOKIE)
        assert session
    logged = log.read_text()
    lines = logged.splitlines()
    # The served logs were read, the access log's line for the link included.
    assert [line for line in lines if "uvicorn.access" in line and SHARE_PATH in line], logged
    for secret in (token, session):
        for start in range(len(secret) - 15):
            piece = secret[start : start + 16]
            leaked = [line for line in lines if piece in line]
            assert not leaked, f"{piece!r} of a portal token is logged: {leaked[0]}"
    for key in scenario.keys.values():
        assert key.split("_", 2)[2] not in logged, "an API key's secret is logged"
    assert not re.search(r"(?i)bearer\s+(?!\*\*\*)\S", logged), "a bearer token is logged"
    # Only the token is masked: the route and the rest of the line stay.
    assert f'"GET {SHARE_PATH}*** HTTP/1.1" 200' in logged, logged
    assert f'"GET {SHARE_PATH}***?lang=en HTTP/1.1" 200' in logged, logged
    assert f'"POST /v1/quotes/{quote_id}/share HTTP/1.1" 201' in logged, logged
