"""The OpenAPI document is the contract insurers generate clients from: schemathesis
checks the service against it with every check, for every role's key (issue 21).

In-process (ASGI, no network), one app serving a small model trained for real, a fixed
seed and at least ``MAX_EXAMPLES`` generated requests per operation and role, plus the
documented examples and the boundary cases of the coverage phase. Every check runs on
every operation, except the few listed in ``EXCEPTIONS``, each with the reason it is
wrong for this API. A failure prints the request as a curl command.

    .venv/bin/pytest tests/service/openapi/test_openapi_schemathesis.py -s  # the tally
"""

from __future__ import annotations

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
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from svc_helpers import bearer, make_settings

from models.bundle import ModelBundle
from models.contract import validate_frames
from models.settings import Settings
from service.app import create_app
from service.auth.principal import Role
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.model_provider import StaticModelProvider
from training.fit import FitConfig
from training.pipeline import train_from_data
from training.synth import generate_world

SEED = 424242
MAX_EXAMPLES = 25  # per operation and role, on top of examples and boundary cases
ROLES = list(Role)
# What each role's key carries besides its role (KeySpec.parse's keyword arguments).
SCOPES: dict[str, dict[str, Any]] = {
    "insurer": {"insurer_id": "INS-ST"},
    "contractor": {"contractor_id": "GC-ST"},
    "regulator": {"districts": ["all"]},
    "owner": {"owner_id": "OWN-ST"},
}


@dataclass(frozen=True)
class Exempt:
    """A check switched off for one operation, and why it is wrong for this API there."""

    method: str
    path: str
    check: str
    reason: str

    def config(self) -> dict[str, Any]:
        return {
            "include-name": f"{self.method} {self.path}",
            "checks": {self.check: {"enabled": False}},
        }


# Rules between fields, rows and stored data that JSON Schema cannot state. A body valid
# by the document alone may still break one; the service answers 422 naming the field,
# and positive_data_acceptance would call that a failure. Every other check stays on.
CROSS_ROW = "positive_data_acceptance"
EXCEPTIONS = [
    Exempt("POST", "/v1/quotes", CROSS_ROW, "the contract's rules between a request's "
           "rows: months before policy.start_month, a start near works start, claims "
           "within the site's dates, at most as many major hazards as hazards found"),
    Exempt("POST", "/v1/feed/claims", CROSS_ROW, "claim_id unique within the request, "
           "incident dates within the site's works"),
    Exempt("PUT", "/v1/feed/sites/{site_id}", CROSS_ROW, "the body's site_id is the "
           "path's; at most as many over-scale hazardous works as hazardous works; the "
           "planned end after the start"),
    Exempt("PUT", "/v1/feed/sites/{site_id}/months/{month}", CROSS_ROW, "the body's "
           "site_id and month are the path's, the site is stored, and the month's own "
           "rules between columns (major hazards at most hazards found...)"),
    Exempt("POST", "/v1/admin/keys", CROSS_ROW, "which scope a key carries follows its "
           "role: insurer_id for insurer keys, contractor_id for contractors, districts "
           "for regulators, owner_id for owners, and none of them for the others"),
    Exempt("POST", "/v1/admin/ratebooks", CROSS_ROW, "a rate book's schema is pydantic's "
           "(models/pricing/ratebook.py), its problems answered at their JSON paths; the "
           "document has it as any object (docs/api.md)"),
    Exempt("POST", "/v1/agreements", CROSS_ROW, "terms follow models.incentives' shape "
           "(an object here), the site is one of the owner's stored sites, the first "
           "month is not after the last"),
    Exempt("POST", "/v1/feed/bulk", CROSS_ROW, "the parts are files whose content (CSV or "
           "Parquet in the contract's shape) and name (.csv or .parquet) JSON Schema "
           "cannot describe; a broken file is a 422 with the contract's problem report"),
]  # fmt: skip


@dataclass
class Target:
    """The app under test, a key per role, and the tally of what it answered."""

    app: Litestar
    settings: Settings
    database: Database
    keys: dict[Role, str] = field(default_factory=dict)
    statuses: Counter[tuple[Role, int]] = field(default_factory=Counter)
    seconds: Counter[Role] = field(default_factory=Counter)

    def issue_keys(self) -> None:
        """Fresh keys for every role (the admin operations may revoke or rotate ours)."""
        with self.database.session() as session:
            store = ApiKeyStore(session, self.settings.key_pepper.get_secret_value())
            self.keys = {
                role: store.create(KeySpec.parse(role.value, **SCOPES.get(role.value, {}))).key
                for role in ROLES
            }


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    world = generate_world(200, seed=11, months=30)
    data = validate_frames(world.sites, world.site_months, world.claims)
    return train_from_data(data, cfg=FitConfig(max_rounds=80, early_stopping=20, threads=1)).bundle


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory, migrated_db: Path, bundle: ModelBundle
) -> Iterator[Target]:
    home = tmp_path_factory.mktemp("schemathesis")
    shutil.copy(migrated_db, home / "siterisk.db")
    service = make_settings(home, auth_cache_seconds=0.0)  # a revoked key is refused at once
    app = create_app(service, model_provider=StaticModelProvider(bundle, name="schemathesis"))
    found = Target(app, service, Database(service.db_url))
    found.issue_keys()
    yield found
    asgi.shutdown_lifespans()  # schemathesis started the app's lifespan on its first call
    found.database.dispose()
    for role in ROLES:
        answered = {s: n for (r, s), n in sorted(found.statuses.items()) if r is role}
        print(f"\n{role.value:<11} {sum(answered.values()):>6} requests "
              f"{found.seconds[role]:>6.1f} s {answered}", end="")  # fmt: skip


def _document() -> dict[str, Any]:
    """The app's own document: building an app touches no database or model."""
    app = create_app(make_settings(Path(tempfile.gettempdir()) / "siterisk-schemathesis"))
    document: dict[str, Any] = app.openapi_schema.to_schema()
    return document


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # Every request carries a valid key of the role under test: generated
            # Authorization headers would only test authentication, which the
            # ignored_auth check probes on every operation anyway.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "operations": [exempt.config() for exempt in EXCEPTIONS],
    }
)
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


def test_every_check_runs_on_every_operation_but_the_listed_exceptions() -> None:
    """``--checks all``: each check schemathesis has is on (max_response_time has no
    limit: nothing here is timed), and every exception names an operation that exists."""
    load_all_checks()
    names = {check.__name__ for check in CHECKS.get_all()}
    assert {"not_a_server_error", "negative_data_rejection", "ignored_auth"} <= names
    exempt = {(e.method, e.path, e.check) for e in EXCEPTIONS}
    operations = [result.ok() for result in schema.get_all_operations()]
    off = set()
    for operation in operations:
        config = schema.config.checks_config_for(operation=operation)
        for name in names:
            if not config.get_by_name(name=name).enabled:
                off.add((operation.method.upper(), operation.path, name))
    assert off == exempt
    assert {(o.method.upper(), o.path) for o in operations} >= {(m, p) for m, p, _ in exempt}


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_service_answers_as_its_document_says(case: Any, target: Target, role: Role) -> None:
    # Requests, and the probes some checks send (the same request without a key...),
    # go to this app in-process.
    case.operation.app = case.operation.schema.app = target.app
    started = time.perf_counter()
    response = case.call_and_validate(headers=bearer(target.keys[role]))
    target.seconds[role] += time.perf_counter() - started
    target.statuses[role, response.status_code] += 1
    if case.path.startswith("/v1/admin/keys"):
        target.issue_keys()
