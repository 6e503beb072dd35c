"""``siterisk``: the one command line of the project. Each sub-command lives in
its own module and keeps its imports inside the command, so ``--help`` is quick."""

from __future__ import annotations

import typer

from training.cli import data, model, quotes, service

app = typer.Typer(
    name="siterisk",
    help="Site-risk pricing: data, training, models and the pricing service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")
app.command()(model.train)
app.command()(model.score)
app.add_typer(service.keys_app, name="keys")
app.add_typer(service.db_app, name="db")
app.add_typer(quotes.app, name="quotes")
app.command()(service.serve)


def main() -> None:  # pragma: no cover - console entry
    app()
