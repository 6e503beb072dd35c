"""The service side of the ``siterisk`` command: ``serve``, ``keys …``, ``db …``,
``quotes …``, ``ratebook …``, ``agreements …`` and ``data push`` / ``data export``. It
imports ``models`` and ``service`` only, never ``training``; the entry package
``siterisk`` joins it with the training commands (:mod:`training.cli`). Each
sub-command keeps its imports inside the command, so ``--help`` is quick."""

from __future__ import annotations

import typer

from service.cli import agreements, data, prevention, quotes, ratebook, server
from service.release import service_version

__all__ = ["app", "service_version"]  # the release, for the entry package's --version

app = typer.Typer(
    help="Site-risk pricing: the pricing service, its keys, database, quotes and feed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(server.keys_app, name="keys")
app.add_typer(server.db_app, name="db")
app.add_typer(quotes.app, name="quotes")
app.add_typer(ratebook.app, name="ratebook")
app.add_typer(prevention.app, name="prevention")
app.add_typer(agreements.app, name="agreements")
app.command()(server.serve)
