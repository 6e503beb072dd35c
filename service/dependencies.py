"""Dependencies every handler may ask for by parameter name, marked
``NamedDependency[...]`` (Litestar 2.23+ warns about unmarked ones).

=================  ============================================================
``principal``      the caller (:class:`service.auth.Principal`)
``db_session``     a :class:`sqlmodel.Session`, closed after the request; commit
                   explicitly. Use it from ``sync_to_thread=True`` handlers (the
                   database driver blocks).
``settings``       the :class:`models.settings.Settings` of the app
``model_provider`` the app's :class:`service.model_provider.ModelProvider`
``deadline``       when the request's work must be done
                   (:class:`service.limits.Deadline`, ``request_timeout_seconds``)
=================  ============================================================
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from sqlmodel import Session

from models.settings import Settings
from service.auth.guards import principal_from
from service.auth.principal import Principal
from service.limits import Deadline
from service.model_provider import ModelProvider
from service.runtime import runtime_of


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return principal_from(request)


async def provide_db_session(state: State) -> AsyncGenerator[Session, None]:
    database = runtime_of(state).database
    session = database.session()
    try:
        yield session
    finally:
        if session.in_transaction() and database.engine.dialect.name != "sqlite":
            # Returning the connection rolls it back, a round trip to PostgreSQL: off the loop.
            await anyio.to_thread.run_sync(session.close)
        else:
            # No connection held, or SQLite's rollback, a call into the library: a trip to
            # a thread and back would cost more than the close (issue 21).
            session.close()


def provide_settings(state: State) -> Settings:
    return runtime_of(state).settings


def provide_model_provider(state: State) -> ModelProvider:
    return runtime_of(state).model_provider


def provide_deadline(state: State) -> Deadline:
    # Resolved on the event loop, before a sync handler waits for a worker thread.
    return Deadline.after(runtime_of(state).settings.request_timeout_seconds)


DEPENDENCIES: dict[str, Provide] = {
    "principal": Provide(provide_principal, sync_to_thread=False),
    "db_session": Provide(provide_db_session),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "model_provider": Provide(provide_model_provider, sync_to_thread=False),
    "deadline": Provide(provide_deadline, sync_to_thread=False),
}
