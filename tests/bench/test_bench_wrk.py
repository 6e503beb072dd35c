"""The wrk driver: bodies sent in turn, latencies read back, and a run bounded by its
number of requests ending when they are answered, not when its duration runs out."""

from __future__ import annotations

import http.server
import itertools
import json
import os
import threading
import time
from collections.abc import Iterator

import pytest

from bench import wrk


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, object]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append({"body": json.loads(body), "auth": self.headers.get("Authorization")})
        time.sleep(0.02)
        status = 500 if json.loads(body).get("fail") else 201
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self) -> None:
        self.seen.append({"method": "GET", "auth": self.headers.get("Authorization"),
                          "length": self.headers.get("Content-Length")})  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, object]]]]:
    if wrk.available() is None:
        if os.environ.get("SITERISK_REQUIRE_WRK") == "1":
            pytest.fail("wrk is not installed (make wrk)")
        pytest.skip("wrk is not installed (make wrk)")
    seen: list[dict[str, object]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/v1/quotes", seen
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_run_ends_when_its_requests_are_answered(
    server: tuple[str, list[dict[str, object]]],
) -> None:
    url, seen = server
    started = time.monotonic()
    load = wrk.run(
        url, ['{"n": 1}', '{"n": 2}'], connections=1, threads=1, seconds=30, max_requests=6,
        auth="Bearer k",
    )  # fmt: skip
    assert time.monotonic() - started < 10  # not the 30 s duration
    assert 6 <= load.requests <= 7  # one may be in flight when the run is stopped
    assert load.errors == 0
    sent = [s["body"] for s in seen]
    assert all(a != b for a, b in itertools.pairwise(sent))  # taken in turn
    assert {json.dumps(b) for b in sent} == {'{"n": 1}', '{"n": 2}'}
    assert {s["auth"] for s in seen} == {"Bearer k"}
    assert 15 <= load.latency_ms["p50"] <= load.latency_ms["p99"] < 5_000


def test_answers_other_than_2xx_count_as_errors(
    server: tuple[str, list[dict[str, object]]],
) -> None:
    url, _ = server
    load = wrk.run(url, ['{"fail": true}'], connections=2, threads=2, seconds=30, max_requests=4)
    assert load.requests >= 4
    assert load.errors >= 4
    assert load.error_detail["status"] >= 4


def test_gets_send_no_body(server: tuple[str, list[dict[str, object]]]) -> None:
    url, seen = server
    load = wrk.run(
        url, [""], connections=1, threads=1, seconds=30, max_requests=3, auth="Bearer k",
        method="GET",
    )  # fmt: skip
    assert load.requests >= 3
    assert load.errors == 0
    assert seen
    assert all(s == {"method": "GET", "auth": "Bearer k", "length": None} for s in seen)
