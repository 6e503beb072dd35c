"""The objects one running app shares between requests, kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar
from litestar.datastructures import State

from models.settings import Settings
from service.auth.resolver import KeyResolver
from service.db.engine import Database
from service.db.group_commit import GroupCommitter
from service.metrics import HttpMetrics
from service.model_provider import ModelProvider

STATE_KEY = "siterisk"


@dataclass
class Runtime:
    settings: Settings
    database: Database
    schema_revision: str
    model_provider: ModelProvider
    resolver: KeyResolver
    metrics: HttpMetrics
    # commits the quotes of concurrent requests together; None: each commits alone
    quote_writer: GroupCommitter | None = None

    def warnings(self) -> list[str]:
        """Configuration that works but should not go to production as it is."""
        found = []
        if self.settings.pepper_is_dev_default and not self.settings.is_dev:
            found.append(
                "SITERISK_KEY_PEPPER is not set: API keys are hashed with the public "
                "development pepper"
            )
        return found


def runtime_of(holder: Litestar | State) -> Runtime:
    """The runtime of an app (``request.app``) or of its state (the ``state`` dependency)."""
    state = holder.state if isinstance(holder, Litestar) else holder
    runtime = state.get(STATE_KEY)
    if not isinstance(runtime, Runtime):  # pragma: no cover - create_app always sets it
        raise RuntimeError("this app was not made by service.app.create_app")
    return runtime
