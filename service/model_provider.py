"""What the service needs from whatever supplies the pricing model.

The service asks two things, both cheap and never raising: is a model loaded
(:meth:`ModelProvider.ready`, used by ``/health/ready``) and what is it
(:meth:`ModelProvider.card`, a JSON-able description for callers and logs).
A provider that needs to do work while the app runs (download, poll for a new
champion) also implements :class:`ManagedModelProvider`; the app starts and stops it
with its own lifespan.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


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
