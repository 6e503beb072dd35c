"""Faults, for real: the PostgreSQL database dies in the middle of a portfolio's commit
and then refuses connections altogether, and comes back; the model is swapped twice
while clients keep pricing.

The other faults of the issue are tested where the code lives
(tests/service/quotes/test_model_provider.py): the registry unreachable at start
(``test_unreachable_registry_at_start_serves_the_cached_model_and_says_so``, served
from the on-disk cache, readiness and the model card say so) and a promoted model that
fails its smoke test (``test_reload_swaps_to_a_newly_promoted_version_and_refuses_a_
broken_one``: 409, the old model keeps serving).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from quote_helpers import ModelStore, PrivateRegistry, request_for, shifted, sites_with_history
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import func, select
from svc_helpers import bearer, make_settings

from models.settings import Settings
from service.app import create_app
from service.auth.store import ApiKeyStore, IssuedKey, KeySpec
from service.db import migrate
from service.db.engine import Database
from service.db.tables import Quote
from service.model_provider import RegistryModelProvider
from service.runtime import runtime_of
from training import tracking
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"
Body = dict[str, Any]


@pytest.fixture(scope="module")
def bodies(unseen_world: World) -> list[Body]:
    sites = sites_with_history(unseen_world, START)[:8]
    return [request_for(unseen_world, site, START) for site in sites]


def _stored(database: Database) -> int:
    with database.session() as session:
        return int(session.exec(select(func.count()).select_from(Quote)).one())


# --- the database goes away and comes back -------------------------------------------


@pytest.fixture
def admin(pg_url: str) -> Iterator[Engine]:
    """Superuser statements on the test server, each in its own transaction."""
    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_service(
    pg_database: str, tmp_path: Path, model_store: ModelStore, shared_cache: Path
) -> Settings:
    migrate.upgrade(pg_database)
    return make_settings(
        tmp_path,
        database_url=pg_database,
        mlflow_tracking_uri=model_store.settings.tracking_uri,
        model_cache_dir=shared_cache,
    )


def test_a_database_outage_is_a_clear_503_stores_nothing_and_heals_by_itself(
    pg_service: Settings, admin: Engine, bodies: list[Body]
) -> None:
    database = Database(pg_service.db_url)
    with database.session() as session:
        key = ApiKeyStore(session, pg_service.key_pepper.get_secret_value()).create(
            KeySpec.parse("insurer", insurer_id="I1")
        )
    name = make_url(pg_service.db_url).database
    auth = bearer(key.key)
    created = 0

    def connections(allowed: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allowed}'))
            if not allowed:  # and drop everyone connected, pooled or busy
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )

    def expect_outage(response: Any) -> None:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "error": {
                "status": 503,
                "code": "database_unavailable",
                "message": "the database is unavailable; try again shortly",
            }
        }

    app = create_app(pg_service, model_provider=RegistryModelProvider(pg_service))
    engine = runtime_of(app).database.engine
    die_at_commit = threading.Event()

    def kill_own_backend(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The server goes away once a portfolio's rows were sent, before its COMMIT.
        if die_at_commit.is_set() and statement.lstrip().upper().startswith("INSERT INTO QUOTE "):
            die_at_commit.clear()
            pid = connection.connection.dbapi_connection.info.backend_pid
            with admin.connect() as killer:
                killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    event.listen(engine, "after_cursor_execute", kill_own_backend)
    try:
        with TestClient(app) as client:
            first = client.post("/v1/quotes", json=bodies[0], headers=auth)
            assert first.status_code == 201, first.text
            created += 1

            # 1. The connection dies during a portfolio's commit: nothing of it is kept.
            die_at_commit.set()
            portfolio = {"items": bodies[1:4]}
            expect_outage(client.post("/v1/quotes/batch", json=portfolio, headers=auth))
            assert not die_at_commit.is_set()  # its rows were sent, and then lost
            assert _stored(database) == created
            # The pool drops the dead connection; the next request just works.
            again = client.post("/v1/quotes/batch", json=portfolio, headers=auth)
            assert again.status_code == 200, again.text
            assert [item["status"] for item in again.json()["items"]] == [201, 201, 201]
            created += 3

            # 2. The database refuses every connection for a while.
            connections(False)
            try:
                for _ in range(2):  # pooled connections are gone, new ones refused
                    expect_outage(client.post("/v1/quotes", json=bodies[4], headers=auth))
                expect_outage(client.post("/v1/quotes/batch", json=portfolio, headers=auth))
                expect_outage(client.get("/v1/quotes", headers=auth))
                ready = client.get("/health/ready")
                assert ready.status_code == 503
                assert ready.json()["checks"]["database"] == {
                    "ok": False,
                    "detail": "database unreachable",
                }
                assert client.get("/health/live").status_code == 200
            finally:
                connections(True)

            # 3. Back without a restart; only what was answered 201 is there.
            back = client.post("/v1/quotes", json=bodies[4], headers=auth)
            assert back.status_code == 201, back.text
            created += 1
            assert client.get("/health/ready").status_code == 200
            listed = client.get("/v1/quotes", headers=auth).json()
            assert listed["total"] == created
    finally:
        event.remove(engine, "after_cursor_execute", kill_own_backend)
    assert _stored(database) == created == 5
    database.dispose()


# --- a model swapped twice under load ---------------------------------------------------

CLIENT_THREADS = 6


def _promote(registry: PrivateRegistry, version: str) -> None:
    client = tracking.configure(registry.store)
    client.set_registered_model_alias(
        registry.store.registered_model_name, tracking.CHAMPION, version
    )


def test_reloading_under_load_fails_no_request_and_never_mixes_models(
    model_store: ModelStore,
    private_registry: PrivateRegistry,
    issue_key: Callable[..., IssuedKey],
    settings: Settings,
    bodies: list[Body],
) -> None:
    shifts = {"first": 0.0, "second": 0.3, "third": -0.2}
    versions = {
        "first": private_registry.register(model_store.bundle),
        "second": private_registry.register(shifted(model_store.bundle, 0.3), champion=False),
        "third": private_registry.register(shifted(model_store.bundle, -0.2), champion=False),
    }
    service = private_registry.settings
    insurer = bearer(issue_key("insurer", insurer_id="I1").key)
    admin = bearer(issue_key("admin").key)
    app = create_app(service, model_provider=RegistryModelProvider(service))

    seen: list[tuple[int, str, float]] = []  # (body, model version, loss rate)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def quote_loop(client: TestClient[Any], number: int) -> None:
        i = number
        while not stop.is_set():
            index = i % len(bodies)
            response = client.post("/v1/quotes", json=bodies[index], headers=insurer)
            with lock:
                statuses[response.status_code] += 1
                if response.status_code != 201:
                    failures.append(f"{response.status_code}: {response.text[:300]}")
                else:
                    answer = response.json()
                    seen.append(
                        (
                            index,
                            answer["model"]["version"],
                            answer["risk"]["loss_rate_per_10k_worker_hours"],
                        )
                    )
            i += CLIENT_THREADS

    def wait_for(version: str, count: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                if sum(v == version for _, v, _ in seen) >= count or failures:
                    return
            time.sleep(0.05)
        pytest.fail(f"no {count} quotes priced by version {version} within 60 s")

    with TestClient(app) as client:
        threads = [
            threading.Thread(target=quote_loop, args=(client, n), daemon=True)
            for n in range(CLIENT_THREADS)
        ]
        for thread in threads:
            thread.start()
        try:
            wait_for(versions["first"], CLIENT_THREADS)
            for name in ("second", "third"):
                _promote(private_registry, versions[name])
                swap = client.post("/v1/admin/model/reload", headers=admin)
                assert swap.status_code == 200, swap.text
                assert swap.json()["status"] == "swapped"
                assert swap.json()["current"]["version"] == versions[name]
                wait_for(versions[name], CLIENT_THREADS)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)

    assert failures == [], failures[:3]
    assert set(statuses) == {201}
    by_version = {v: name for name, v in versions.items()}
    assert {v for _, v, _ in seen} == set(by_version)
    # Each quote was priced by one model throughout: the version it names.
    rates: dict[tuple[int, str], set[float]] = defaultdict(set)
    for index, version, rate in seen:
        rates[(index, version)].add(round(rate, 9))
    assert all(len(found) == 1 for found in rates.values()), rates
    for (index, version), (rate,) in rates.items():
        if (index, versions["first"]) in rates:
            (base,) = rates[(index, versions["first"])]
            shift = shifts[by_version[version]]
            assert rate / base == pytest.approx(math.exp(shift), rel=1e-6)
    database = Database(service.db_url)
    assert _stored(database) == statuses[201] == len(seen)
    database.dispose()
