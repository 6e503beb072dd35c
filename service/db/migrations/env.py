"""Alembic environment: the SQLModel tables are the target; the URL comes from the
caller (``service.db.migrate``) or else from the settings."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import service.db.tables  # noqa: F401  (registers the tables on the metadata)
from models.settings import get_settings
from service.db.engine import make_engine, normalise_url

config = context.config
url = normalise_url(config.attributes.get("url") or get_settings().db_url)
target_metadata = SQLModel.metadata


def run_offline() -> None:
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things; batch mode copies the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
