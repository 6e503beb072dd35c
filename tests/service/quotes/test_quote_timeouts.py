"""A request that runs past ``request_timeout_seconds`` stops before storing anything
and answers a clean 503 in the one error format; the same request with time enough is
priced as usual."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient
from quote_helpers import ModelStore, request_for, sites_with_history
from sqlmodel import func, select
from svc_helpers import bearer

from models.bundle import ModelBundle
from models.settings import Settings
from service.app import create_app
from service.db.engine import Database
from service.db.tables import Quote
from service.model_provider import StaticModelProvider
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"
STALL = 0.5  # seconds the slow model spends explaining, per call


class SlowBundle(ModelBundle):
    """The session's model, but its TreeSHAP pass stalls (a hung or overloaded scorer)."""

    def contributions(self, x: np.ndarray) -> np.ndarray:
        time.sleep(STALL)
        return super().contributions(x)


@pytest.fixture
def slow_app(model_store: ModelStore, settings: Settings) -> Any:
    def make(timeout: float) -> Any:
        bundle = SlowBundle(model_store.bundle.boosters, model_store.bundle.meta)
        timed = settings.model_copy(update={"request_timeout_seconds": timeout})
        return create_app(timed, model_provider=StaticModelProvider(bundle))

    return make


def _stored(settings: Settings) -> int:
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            return int(session.exec(select(func.count()).select_from(Quote)).one())
    finally:
        database.dispose()


def test_a_request_past_its_deadline_is_a_503_and_stores_nothing(
    slow_app: Any, settings: Settings, issue_key: Any, unseen_world: World
) -> None:
    insurer = bearer(issue_key("insurer", insurer_id="I1").key)
    sites = sites_with_history(unseen_world, START)[:3]
    single = request_for(unseen_world, sites[0], START)
    portfolio = {"items": [request_for(unseen_world, s, START) for s in sites]}

    with TestClient(slow_app(STALL / 5)) as client:
        late = client.post("/v1/quotes", json=single, headers=insurer)
        late_batch = client.post("/v1/quotes/batch", json=portfolio, headers=insurer)
    for response in (late, late_batch):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        error = response.json()["error"]
        assert error["code"] == "timeout"
        assert "nothing was stored" in error["message"]
        assert f"within {STALL / 5:g} s" in error["message"]
    assert _stored(settings) == 0

    with TestClient(slow_app(60.0)) as client:
        in_time = client.post("/v1/quotes", json=single, headers=insurer)
    assert in_time.status_code == 201, in_time.text
    assert _stored(settings) == 1
