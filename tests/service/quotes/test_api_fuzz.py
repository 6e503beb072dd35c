"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every documented operation gets generated requests, valid and invalid, in-process
against one app serving a real model from the registry, with a valid key of a role
the operation admits. Each answer must be documented (status, content type, headers,
body schema), no answer may be a 5xx, and after every request the database must hold
exactly as many quotes as were answered 201 (a batch counts its items answered 201;
an idempotent replay stores nothing and counts nothing). Generation is seeded and
deterministic, so CI sends the same requests every run.

    .venv/bin/pytest tests/service/quotes/test_api_fuzz.py -s   # prints the tally
"""

from __future__ import annotations

import copy
import inspect
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from quote_helpers import ModelStore, request_for, sites_with_history
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from sqlmodel import select
from svc_helpers import bearer, make_settings

from models.settings import Settings
from service.app import create_app
from service.auth.principal import Role
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.db.tables import Quote
from service.model_provider import RegistryModelProvider
from training.synth import generate_world

pytestmark = pytest.mark.xdist_group("model")

# Per operation: the fuzzing phase's budget; the coverage phase adds its boundary cases.
MAX_EXAMPLES = 30
SEED = 20240605
# Which key an operation gets when it admits several roles.
PREFERENCE = (Role.insurer, Role.admin, Role.platform, Role.contractor, Role.regulator)
REPLAYED = "idempotent-replayed"
EXAMPLE_SEED = 7
EXAMPLE_START = "2025-01"  # the example world's 24 months end in 2024-12


def _specs() -> dict[Role, KeySpec]:
    return {
        Role.insurer: KeySpec.parse("insurer", insurer_id="INS-FUZZ"),
        Role.admin: KeySpec.parse("admin"),
        Role.platform: KeySpec.parse("platform"),
        Role.contractor: KeySpec.parse("contractor", contractor_id="GC-FUZZ"),
        Role.regulator: KeySpec.parse("regulator", districts=["all"]),
    }


def _roles_by_operation(app: Litestar) -> dict[tuple[str, str], Role]:
    """(METHOD, OpenAPI path) -> the role whose key the operation gets, read from the
    roles each handler's ``requires(...)`` guards admit."""
    found: dict[tuple[str, str], Role] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in route.route_handlers:
            allowed = set(Role)
            for guard in handler.resolve_guards():
                function = getattr(guard, "func", guard)  # Litestar wraps guards
                admitted = inspect.getclosurevars(function).nonlocals.get("allowed")
                if admitted is not None:
                    allowed &= set(admitted)
            role = next((r for r in PREFERENCE if r in allowed), Role.insurer)
            for method in handler.http_methods:
                found[(method, path)] = role
    return found


@dataclass
class Target:
    """The app under test, a key per role, and the tally of what it answered."""

    app: Litestar
    settings: Settings
    database: Database
    roles: dict[tuple[str, str], Role]
    keys: dict[Role, str] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)  # ids of quotes answered 201
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: Counter[str] = field(default_factory=Counter)
    first: dict[str, float] = field(default_factory=dict)  # wall clock, generation included
    last: dict[str, float] = field(default_factory=dict)

    def issue_keys(self) -> None:
        """Fresh keys for every role (the admin operations may revoke or rotate ours)."""
        with self.database.session() as session:
            store = ApiKeyStore(session, self.settings.key_pepper.get_secret_value())
            self.keys = {role: store.create(spec).key for role, spec in _specs().items()}

    def auth_for(self, method: str, path: str) -> dict[str, str]:
        return bearer(self.keys[self.roles.get((method.upper(), path), Role.insurer)])

    def stored(self) -> set[str]:
        with self.database.session() as session:
            return set(session.exec(select(Quote.id)).all())


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_db: Path,
    model_store: ModelStore,
    shared_cache: Path,
) -> Iterator[Target]:
    home = tmp_path_factory.mktemp("fuzz")
    shutil.copy(migrated_db, home / "siterisk.db")
    service = make_settings(
        home,
        mlflow_tracking_uri=model_store.settings.tracking_uri,
        model_cache_dir=shared_cache,
        auth_cache_seconds=0.0,  # a key the fuzzer revokes is refused at once
    )
    app = create_app(service, model_provider=RegistryModelProvider(service))
    found = Target(app, service, Database(service.db_url), _roles_by_operation(app))
    found.issue_keys()
    yield found
    # schemathesis started the app's lifespan on its first request; end it here.
    asgi.shutdown_lifespans()
    found.database.dispose()
    total = sum(found.statuses.values())
    print(f"\nfuzzing: {total} requests, {len(found.answered)} quotes stored, statuses", end=" ")
    print(dict(sorted(found.statuses.items())))
    for label, count in sorted(found.per_operation.items()):
        seconds = found.last[label] - found.first[label]
        print(f"  {label:<52} {count:>5} requests {seconds:>6.1f} s")


def _openapi_document() -> dict[str, Any]:
    """The app's own OpenAPI document (building an app touches no database or model),
    with a real site's request as the example of each pricing operation: requests
    generated from the schema alone almost never satisfy the contract's cross-row rules,
    and the examples phase should see quotes priced, stored and answered too."""
    app = create_app(make_settings(Path(tempfile.gettempdir()) / "siterisk-fuzz-schema"))
    document: dict[str, Any] = app.openapi_schema.to_schema()
    world = generate_world(8, seed=EXAMPLE_SEED, months=24)
    sites = sites_with_history(world, EXAMPLE_START)[:3]
    single = request_for(world, sites[0], EXAMPLE_START)
    batch = {"items": [request_for(world, site, EXAMPLE_START) for site in sites]}
    for path, example in (("/v1/quotes", single), ("/v1/quotes/batch", batch)):
        media = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        if "examples" not in media:  # the document's own examples are sent as they are
            media.setdefault("example", example)
    return document


# What is fuzzed when the app's document cannot be built (one trivial operation).
MINIMAL: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "unbuildable", "version": "0"},
    "paths": {"/health/live": {"get": {"responses": {"200": {"description": "live"}}}}},
}

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # Every request carries a valid key (below): generated or negated
            # Authorization headers would only ever test authentication, which the
            # ignored_auth check probes on every operation anyway.
            "with-security-parameters": False,
        },
        "checks": {
            # Requests valid by the schema alone may still break the contract's
            # cross-row rules (a month after the policy start, more hazards than
            # found): those are 422s naming the field, not failures.
            "positive_data_acceptance": {"enabled": False},
        },
        "phases": {"stateful": {"enabled": False}},
        "operations": [
            {
                # A portfolio is judged item by item: an item that is not a valid quote
                # request is answered inside the 200 with its own 422 (documented in
                # BatchItem), it does not sink the batch.
                "include-path": "/v1/quotes/batch",
                "checks": {"negative_data_rejection": {"enabled": False}},
                # Its items are POST /v1/quotes bodies, fuzzed there; generating lists
                # of them is slow, so fewer here and no boundary cases again.
                "phases": {"coverage": {"enabled": False}},
                "generation": {"max-examples": 5},
            }
        ],
    }
)
try:
    DOCUMENT, BROKEN = _openapi_document(), ""
except Exception as exc:  # a failing test below, not a collection error stopping the run
    DOCUMENT, BROKEN = {}, f"{exc.__class__.__name__}: {exc}"


def test_the_openapi_document_builds() -> None:
    assert not BROKEN, f"the app cannot describe itself: {BROKEN}"
    assert DOCUMENT["paths"]


schema = schemathesis.openapi.from_dict(DOCUMENT or MINIMAL, config=CONFIG)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_answer_is_documented_and_nothing_is_lost(case: Any, target: Target) -> None:
    # Requests, and the probes some checks send (the same request without a key…),
    # go to this app in-process.
    case.operation.app = case.operation.schema.app = target.app
    label = case.operation.label
    target.first.setdefault(label, time.perf_counter())
    response = case.call_and_validate(headers=target.auth_for(case.method, case.path))
    target.last[label] = time.perf_counter()
    target.per_operation[label] += 1
    status = response.status_code
    target.statuses[status] += 1
    assert status < 500, response.text
    # schemathesis keeps each header as the list of its values
    replayed = response.headers.get(REPLAYED) == ["true"]
    if case.path == "/v1/quotes" and status == 201 and not replayed:
        target.answered.add(response.json()["quote_id"])
    if case.path == "/v1/quotes/batch" and status == 200 and not replayed:
        items = response.json()["items"]
        target.answered |= {item["quote"]["quote_id"] for item in items if item["status"] == 201}
    assert target.stored() == target.answered, (status, case.headers, response.text[:300])
    if case.path.startswith("/v1/admin/keys"):
        target.issue_keys()


@pytest.mark.parametrize(
    ("history", "start"), [("0000-01", "0000-01"), ("0000-01", "0000-02"), ("9999-11", "9999-12")]
)
def test_months_at_the_ends_of_the_calendar_are_answered_not_crashed(
    target: Target, history: str, start: str
) -> None:
    """What the fuzzer once found: ``0000-01`` is a month by the contract's pattern but no
    date, and comparing it as one was a 500."""
    body = copy.deepcopy(
        DOCUMENT["paths"]["/v1/quotes"]["post"]["requestBody"]["content"]["application/json"][
            "example"
        ]
    )
    body["months"] = [{**body["months"][-1], "month": history}]
    body["claims"] = [{**claim, "incident_date": "0001-01-01"} for claim in body["claims"][:1]]
    body["policy"]["start_month"] = start
    with TestClient(target.app) as client:
        before = target.stored()
        response = client.post(
            "/v1/quotes", json=body, headers=target.auth_for("POST", "/v1/quotes")
        )
    assert response.status_code in (201, 422), response.text
    added = target.stored() - before
    assert added == ({response.json()["quote_id"]} if response.status_code == 201 else set())
    target.answered |= added
