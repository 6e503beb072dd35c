"""Prometheus metrics: requests and latency by method, route template and status.

Each app has its own registry, so several apps in one process (tests) do not mix.
Counts are per process; with ``--workers N`` scrape each worker or run one worker per
container.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

UNMATCHED = "<unmatched>"
# Label values must stay few: anything else a client sends is counted as OTHER.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "siterisk_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "siterisk_http_request_duration_seconds",
            "Time from request to the end of the response.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """An ASGI app that times ``app``; wraps routing too, so 404s are counted."""

        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            start = time.perf_counter()
            status = 500

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_and_note)
            finally:
                route = scope.get("path_template") or UNMATCHED
                self.observe(method, route, status, time.perf_counter() - start)

        return timed
