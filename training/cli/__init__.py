"""The training side of the ``siterisk`` command: ``train``, ``score``, ``model …`` and
``data validate`` / ``data generate``. It imports ``models`` and ``training`` only; the
entry package ``siterisk`` joins it with the service's commands (:mod:`service.cli`).
Each sub-command keeps its imports inside the command, so ``--help`` is quick."""

from __future__ import annotations

import typer

from training.cli import data, model

app = typer.Typer(
    help="Site-risk pricing: data, training and models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")
app.command()(model.train)
app.command()(model.score)
