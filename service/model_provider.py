"""What the service needs from whatever supplies the pricing model.

The service asks two things, both cheap and never raising: is a model loaded
(:meth:`ModelProvider.ready`, used by ``/health/ready``) and what is it
(:meth:`ModelProvider.card`, a JSON-able description for callers and logs).
A provider that needs to do work while the app runs (download, poll for a new
champion) also implements :class:`ManagedModelProvider`; the app starts and stops it
with its own lifespan. A provider that can price hands out the model as one
immutable :class:`ModelSnapshot` (:class:`ScoringModelProvider`): a request takes the
snapshot once and uses it throughout, so a reload in the middle of a request can
never mix two models in one quote.

:class:`RegistryModelProvider` is the real one. At start it resolves
``settings.champion_uri`` (``models:/site-risk@champion``) in the MLflow registry,
downloads that version into ``settings.model_cache``, smoke-tests it and serves it.
If the registry cannot be reached (or its champion fails the smoke test) it serves
the last good model from the cache and says so in readiness and in the model card.
``reload()`` resolves the alias again and swaps only a model that passed its smoke
test; with ``model_poll_seconds`` > 0 it does so by itself when the alias moves.

The cache holds ``models/<name>/<version>/`` (only versions that passed the smoke test)
and, per requested URI, a pointer to the version last served. It is keyed by model
name and version, not by registry: point two registries with the same model names at
two cache folders.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import anyio
import anyio.to_thread

from service.model_smoke import ModelRejectedError, smoke_test

if TYPE_CHECKING:
    from models.bundle import ModelBundle
    from models.settings import Settings

log = logging.getLogger(__name__)

Source = Literal["registry", "cache", "memory"]
# MLflow retries an unreachable server for minutes by default; start-up waits this long
# and then serves from the cache (set MLFLOW_HTTP_REQUEST_MAX_RETRIES to fail faster).
DEFAULT_START_TIMEOUT = 60.0
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_META_FILE = "siterisk-model.json"

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "ManagedModelProvider",
    "ModelProvider",
    "ModelRejectedError",
    "ModelSnapshot",
    "NoModelProvider",
    "RegistryError",
    "RegistryModelProvider",
    "ReloadOutcome",
    "ScoringModelProvider",
    "StaticModelProvider",
]


@runtime_checkable
class ModelProvider(Protocol):
    def ready(self) -> tuple[bool, str]:
        """``(True, detail)`` once a model can price; otherwise ``(False, why not)``."""
        ...

    def card(self) -> dict[str, Any]:
        """What is loaded: name, version, URI, trained-on dates…; ``{}`` when nothing is."""
        ...


@runtime_checkable
class ManagedModelProvider(ModelProvider, Protocol):
    async def start(self) -> None:
        """Called once at application start-up; may load the model or start polling."""
        ...

    async def stop(self) -> None:
        """Called once at shutdown; stop background work and release resources."""
        ...


class NoModelProvider:
    """The placeholder until a real provider is plugged in: never ready."""

    def __init__(self, reason: str = "no model loaded") -> None:
        self.reason = reason

    def ready(self) -> tuple[bool, str]:
        return False, self.reason

    def card(self) -> dict[str, Any]:
        return {}


# --- snapshots ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelSnapshot:
    """One loaded model and where it came from; never changed, only replaced."""

    bundle: ModelBundle
    name: str
    version: str
    uri: str  # pinned: models:/<name>/<version>
    requested_uri: str  # what the settings asked for: models:/<name>@champion
    source: Source
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str | None = None
    note: str | None = None  # why it is served from the cache, when it is

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def card(self) -> dict[str, Any]:
        meta = self.bundle.meta
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "requested_uri": self.requested_uri,
            "run_id": self.run_id,
            "source": self.source,
            "served_from_cache": self.source == "cache",
            "note": self.note,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "trained_at": meta.trained_at,
            "feature_set_version": meta.feature_set_version,
            "features": len(meta.feature_names),
            "structure": meta.structure,
            "tweedie_power": meta.tweedie_power,
            "rating": dict(meta.rating),
            "peers": len(meta.peer_rates),
            "data": dict(meta.data_fingerprint),
            "metrics": dict(meta.metrics),
        }


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    status: Literal["swapped", "unchanged"]
    previous: ModelSnapshot | None
    current: ModelSnapshot


class RegistryError(Exception):
    """The registry could not be asked, or has no such model, alias or version."""


@runtime_checkable
class ScoringModelProvider(ModelProvider, Protocol):
    def current(self) -> ModelSnapshot | None:
        """The model to price with now; take it once per request."""
        ...

    async def reload(self) -> ReloadOutcome:
        """Look for a new model and swap it in if it passes its smoke test; raise
        :class:`RegistryError` or :class:`ModelRejectedError` and keep the old one
        otherwise."""
        ...


class StaticModelProvider:
    """A bundle already in memory (tests, notebooks, an embedded service)."""

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        name: str = "in-memory",
        version: str = "0",
        smoke: Callable[[ModelBundle], None] = smoke_test,
    ) -> None:
        smoke(bundle)
        uri = f"memory:{name}/{version}"
        self._snapshot = ModelSnapshot(bundle, name, version, uri, uri, "memory")

    def ready(self) -> tuple[bool, str]:
        return True, f"model {self._snapshot.label} loaded from memory"

    def card(self) -> dict[str, Any]:
        return self._snapshot.card()

    def current(self) -> ModelSnapshot | None:
        return self._snapshot

    async def reload(self) -> ReloadOutcome:
        return ReloadOutcome("unchanged", self._snapshot, self._snapshot)


# --- the registry provider ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolved:
    name: str
    version: str
    run_id: str | None
    pinned_uri: str  # models:/<name>/<version>
    # Where the files are, asked of our client: MLflow resolves a models:/ URI through
    # its process-wide registry setting, which this provider never relies on.
    download_uri: str


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", part)[:100] or "_"


def _identity(snapshot: ModelSnapshot) -> tuple[str, str]:
    return snapshot.name, snapshot.version


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write whole or not at all: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(payload, out, indent=1, sort_keys=True)
    os.replace(tmp, path)


class RegistryModelProvider:
    """Serves ``settings.champion_uri`` from the MLflow registry, cached on disk."""

    def __init__(
        self,
        settings: Settings,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        smoke: Callable[[ModelBundle], None] = smoke_test,
    ) -> None:
        self.requested_uri = settings.champion_uri
        self.tracking_uri = settings.tracking_uri
        self.cache_root = settings.model_cache
        self.poll_seconds = settings.model_poll_seconds
        self.start_timeout = start_timeout
        self._smoke = smoke
        self._current: ModelSnapshot | None = None
        self._problem = "the model is loading"
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._refused: set[tuple[str, str]] = set()

    # -- what the app asks -------------------------------------------------------------
    def current(self) -> ModelSnapshot | None:
        return self._current

    def ready(self) -> tuple[bool, str]:
        snapshot = self._current
        if snapshot is None:
            return False, self._problem
        if snapshot.source == "cache":
            return True, f"model {snapshot.label} served from the local cache: {snapshot.note}"
        return True, f"model {snapshot.label} loaded from the registry"

    def card(self) -> dict[str, Any]:
        snapshot = self._current
        return {} if snapshot is None else snapshot.card()

    # -- lifespan ---------------------------------------------------------------------
    async def start(self) -> None:
        snapshot: ModelSnapshot | None = None
        reason = ""
        try:
            with anyio.fail_after(self.start_timeout):
                snapshot = await anyio.to_thread.run_sync(
                    self._load_from_registry, abandon_on_cancel=True
                )
        except TimeoutError:
            log.error("the model registry did not answer within %.0f s", self.start_timeout)
            reason = "the model registry did not answer at start"
        except RegistryError as exc:
            log.error("cannot load %s from the registry: %s", self.requested_uri, exc)
            reason = "the model registry was unreachable at start"
        except ModelRejectedError as exc:
            log.error("the registry's %s failed its smoke test: %s", self.requested_uri, exc)
            reason = "the registry's model failed its smoke test at start"
        except Exception:  # a full disk or a broken cache must not stop the service
            log.exception("cannot load %s", self.requested_uri)
            reason = "the model could not be loaded from the registry at start"
        if snapshot is None:
            try:
                snapshot = await anyio.to_thread.run_sync(self._load_from_cache, reason)
            except (OSError, ValueError, KeyError, ModelRejectedError) as exc:
                log.error("no usable cached model for %s: %s", self.requested_uri, exc)
                self._problem = f"no model loaded: {reason} and no cached model was usable"
        if snapshot is not None:
            self._current = snapshot
            log.info("serving %s (%s)", snapshot.label, snapshot.source)
        if self.poll_seconds > 0:
            self._poller = asyncio.create_task(self._poll(), name="model-poller")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    # -- reloading -----------------------------------------------------------------------
    async def reload(self) -> ReloadOutcome:
        async with self._lock:
            previous = self._current
            fresh = await anyio.to_thread.run_sync(self._reload_sync, previous)
            if fresh is None:
                assert previous is not None
                return ReloadOutcome("unchanged", previous, previous)
            self._current = fresh
            self._refused.discard((fresh.name, fresh.version))
            log.info("model swapped: %s -> %s", previous.label if previous else "none", fresh.label)
            return ReloadOutcome("swapped", previous, fresh)

    def _reload_sync(self, previous: ModelSnapshot | None) -> ModelSnapshot | None:
        resolved = self._resolve()
        if (
            previous is not None
            and previous.source == "registry"
            and _identity(previous) == (resolved.name, resolved.version)
        ):
            return None
        try:
            return self._load(resolved)
        except ModelRejectedError:
            self._refused.add((resolved.name, resolved.version))
            raise

    @property
    def polling(self) -> bool:
        """Whether the background poll for a new champion is running."""
        return self._poller is not None and not self._poller.done()

    async def poll_once(self) -> ReloadOutcome | None:
        """One poll: ask the registry which version the URI names now (one cheap call)
        and reload only if that is not the version serving; ``None`` when nothing moved
        or the version is one already refused (an admin reload still retries it)."""
        resolved = await anyio.to_thread.run_sync(lambda: self._resolve(locate=False))
        current = self._current
        key = (resolved.name, resolved.version)
        moved = current is None or current.source != "registry" or _identity(current) != key
        if not moved or key in self._refused:
            return None
        return await self.reload()

    async def _poll(self) -> None:
        while True:
            await anyio.sleep(self.poll_seconds)
            try:
                await self.poll_once()
            except (RegistryError, ModelRejectedError) as exc:
                log.warning("model poll: %s", exc)
            except Exception:  # the poller must outlive any one failure
                log.exception("model poll failed")

    # -- the blocking work (in worker threads) ---------------------------------------------
    def _client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _resolve(self, *, locate: bool = True) -> _Resolved:
        """The version the requested URI names now; with ``locate`` also where its files
        are (a second registry call, skipped by polls that find nothing new)."""
        match = _MODELS_URI.fullmatch(self.requested_uri)
        if match is None:
            # A run or file URI: no versions to follow, the URI is the identity.
            uri = self.requested_uri
            return _Resolved(uri, "unversioned", None, uri, uri)
        name = match["name"]
        try:
            client = self._client()
            if match["alias"] is not None:
                found = client.get_model_version_by_alias(name, match["alias"])
            else:
                found = client.get_model_version(name, match["version"])
            version = str(found.version)
            location = str(client.get_model_version_download_uri(name, version)) if locate else ""
        except Exception as exc:  # whatever MLflow raises: network, store, missing alias
            raise RegistryError(f"cannot resolve {self.requested_uri}: {exc}") from exc
        return _Resolved(name, version, found.run_id, f"models:/{name}/{version}", location)

    def _load_from_registry(self) -> ModelSnapshot:
        return self._load(self._resolve())

    def _version_dir(self, resolved: _Resolved) -> Path:
        return self.cache_root / "models" / _safe(resolved.name) / _safe(resolved.version)

    def _pointer(self) -> Path:
        digest = hashlib.sha256(self.requested_uri.encode()).hexdigest()[:16]
        return self.cache_root / "pointers" / f"{digest}.json"

    def _load(self, resolved: _Resolved) -> ModelSnapshot:
        """The version in the cache (downloading it first if needed), smoke-tested."""
        target = self._version_dir(resolved)
        if resolved.version == "unversioned" or not (target / _META_FILE).is_file():
            self._download(resolved, target)
        bundle = self._open(target)
        try:
            _write_json(
                self._pointer(),
                {
                    "requested_uri": self.requested_uri,
                    "name": resolved.name,
                    "version": resolved.version,
                    "run_id": resolved.run_id,
                    "dir": str(target.relative_to(self.cache_root)),
                    "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
        except OSError as exc:  # only the fallback needs the pointer; serving does not
            log.warning("cannot record %s in the model cache: %s", resolved.pinned_uri, exc)
        return ModelSnapshot(
            bundle=bundle,
            name=resolved.name,
            version=resolved.version,
            uri=resolved.pinned_uri,
            requested_uri=self.requested_uri,
            source="registry",
            run_id=resolved.run_id,
        )

    def _download(self, resolved: _Resolved, target: Path) -> None:
        from mlflow.artifacts import download_artifacts

        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".download-"))
        except OSError as exc:
            raise RegistryError(
                f"cannot write to the model cache {self.cache_root}: {exc}"
            ) from exc
        try:
            try:
                local = download_artifacts(
                    artifact_uri=resolved.download_uri,
                    dst_path=str(staging),
                    tracking_uri=self.tracking_uri,
                    registry_uri=self.tracking_uri,
                )
            except Exception as exc:
                raise RegistryError(f"cannot download {resolved.download_uri}: {exc}") from exc
            model_path = Path(local).resolve().relative_to(staging.resolve())
            # Only a model that loads and passes its smoke test enters the cache.
            self._smoke_at(staging / model_path)
            _write_json(
                staging / _META_FILE,
                {
                    "name": resolved.name,
                    "version": resolved.version,
                    "run_id": resolved.run_id,
                    "uri": resolved.pinned_uri,
                    "model_path": str(model_path),
                    "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
            try:
                os.rename(staging, target)
            except OSError:
                # Another worker finished the same version first: use its copy.
                if not (target / _META_FILE).is_file():
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _smoke_at(self, path: Path) -> ModelBundle:
        from models.mlflow_model import load_bundle

        try:
            bundle = load_bundle(str(path))
        except Exception as exc:
            raise ModelRejectedError(f"the model does not load: {exc!r}") from exc
        self._smoke(bundle)
        return bundle

    def _open(self, target: Path) -> ModelBundle:
        meta = json.loads((target / _META_FILE).read_text(encoding="utf-8"))
        return self._smoke_at(target / meta["model_path"])

    def _load_from_cache(self, reason: str) -> ModelSnapshot:
        pointer = json.loads(self._pointer().read_text(encoding="utf-8"))
        target = self.cache_root / pointer["dir"]
        bundle = self._open(target)
        name, version = str(pointer["name"]), str(pointer["version"])
        log.warning("serving %s v%s from the local cache: %s", name, version, reason)
        return ModelSnapshot(
            bundle=bundle,
            name=name,
            version=version,
            uri=f"models:/{name}/{version}" if version != "unversioned" else name,
            requested_uri=self.requested_uri,
            source="cache",
            run_id=pointer.get("run_id"),
            note=reason,
        )
