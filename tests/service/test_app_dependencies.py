"""Dependencies are resolved one after another (not as tasks of a task group, which
costs more than they do), generators last."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar import get
from litestar.di import NamedDependency, Provide
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from models.settings import Settings
from service.app import create_app
from service.controllers.health import PUBLIC


def test_a_quotes_dependencies_are_resolved_one_at_a_time_the_session_last(
    settings: Settings,
) -> None:
    app = create_app(settings)
    routes = [r for r in app.routes if isinstance(r, HTTPRoute)]
    quotes = next(r for r in routes if r.path == "/v1/quotes")
    _, model = quotes.route_handler_map["POST"]
    keys = [next(iter(batch)).key for batch in model.dependency_batches]
    assert {"principal", "db_session", "deadline", "pricer", "quote_writer"} <= set(keys)
    assert keys[-1] == "db_session"
    for route in routes:
        for _, handler_model in route.route_handler_map.values():
            assert all(len(batch) == 1 for batch in handler_model.dependency_batches)


def test_a_failing_dependency_leaves_no_generator_open(settings: Settings) -> None:
    opened: list[str] = []

    async def a_generator() -> AsyncGenerator[str, None]:
        opened.append("entered")
        try:
            yield "value"
        finally:
            opened.append("closed")

    def z_fails() -> str:
        raise RuntimeError("dependency failed")

    @get(
        "/t/deps",
        opt=PUBLIC,
        sync_to_thread=False,
        dependencies={
            "a_gen": Provide(a_generator),
            "z_fails": Provide(z_fails, sync_to_thread=False),
        },
    )
    def handler(a_gen: NamedDependency[str], z_fails: NamedDependency[str]) -> str:
        return a_gen + z_fails

    with TestClient(create_app(settings, route_handlers=[handler])) as client:
        answer = client.get("/t/deps")
    assert answer.status_code == 500
    assert opened == []  # named first, the generator still waits for the plain dependency
