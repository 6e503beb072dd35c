"""``/v1/model``: the model that prices now; ``/v1/admin/model/reload``: look for a new
champion, smoke-test it and swap it in, or refuse it and keep the old one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency

from service.auth.guards import requires
from service.auth.principal import Role
from service.errors import ServiceError, UnavailableError, error_responses
from service.model_provider import (
    ModelProvider,
    ModelRejectedError,
    ModelSnapshot,
    RegistryError,
    ScoringModelProvider,
)
from service.quotes.schemas import ModelRef


class ModelCard(msgspec.Struct, frozen=True, kw_only=True):
    """Which model prices, where it came from, what it learned from and how it tested."""

    name: str
    version: str
    uri: str
    requested_uri: str
    run_id: str | None
    source: Literal["registry", "cache", "memory"]
    served_from_cache: bool
    note: str | None
    loaded_at: datetime
    trained_at: str
    feature_set_version: str
    features: int
    structure: str
    tweedie_power: float | None
    rating: dict[str, Any]
    peers: int
    data: dict[str, Any]
    metrics: dict[str, float]


class ReloadAnswer(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["swapped", "unchanged"]
    previous: ModelRef | None
    current: ModelRef


class ModelRefusedError(ServiceError):
    status, code, default_message = 409, "model_refused", "the new model failed its smoke test"


def _ref(snapshot: ModelSnapshot | None) -> ModelRef | None:
    if snapshot is None:
        return None
    return ModelRef(
        name=snapshot.name, version=snapshot.version, uri=snapshot.uri, source=snapshot.source
    )


class ModelController(Controller):
    path = "/v1"
    tags = ["model"]  # noqa: RUF012

    @get(
        "/model",
        sync_to_thread=False,
        summary="The model card: version, training data, test metrics, where it was loaded from",
        responses=error_responses(401, 429, 503),
    )
    def model_card(self, model_provider: NamedDependency[ModelProvider]) -> ModelCard:
        card = model_provider.card()
        if not card:
            _, detail = model_provider.ready()
            raise UnavailableError(f"no model is loaded ({detail})", retry_after=5)
        return msgspec.convert(card, ModelCard, strict=False)

    @post(
        "/admin/model/reload",
        status_code=200,
        guards=[requires(Role.admin)],
        summary="Resolve the champion alias again, smoke-test it and swap it in",
        responses=error_responses(401, 403, 409, 429, 503),
    )
    async def reload(self, model_provider: NamedDependency[ModelProvider]) -> ReloadAnswer:
        """``swapped`` when a new version now prices, ``unchanged`` when the alias still
        names the model in use. A model that fails its smoke test is refused (409) and
        the old one keeps serving; an unreachable registry is a 503."""
        if not isinstance(model_provider, ScoringModelProvider):
            raise UnavailableError("this service's model cannot be reloaded")
        try:
            outcome = await model_provider.reload()
        except ModelRejectedError as exc:
            raise ModelRefusedError(f"refused; the current model keeps serving: {exc}") from exc
        except RegistryError as exc:
            raise UnavailableError(
                f"the model registry cannot be asked; the current model keeps serving: {exc}",
                retry_after=30,
            ) from exc
        current = _ref(outcome.current)
        assert current is not None
        return ReloadAnswer(status=outcome.status, previous=_ref(outcome.previous), current=current)
