"""``siterisk``: the one command line of the project, composed of the training side's
commands (:mod:`training.cli`) and the service side's (:mod:`service.cli`). A group both
sides fill (``data``) is joined into one, with the first side's help."""

from __future__ import annotations

import typer
from typer.models import TyperInfo

from service.cli import app as service_app
from training.cli import app as training_app


def compose(*parts: typer.Typer, help: str) -> typer.Typer:
    """One command line of several: their commands in order, then their groups, a group
    of the same name in two parts joined (commands of the first, then of the second)."""
    app = typer.Typer(
        name="siterisk",
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    groups: dict[str, typer.Typer] = {}
    for part in parts:
        app.registered_commands.extend(part.registered_commands)
        for group in part.registered_groups:
            name, sub = group.name, group.typer_instance
            if not isinstance(name, str) or sub is None:
                raise TypeError(f"a group needs a name and commands: {group!r}")
            if name not in groups:
                groups[name] = typer.Typer(
                    help=sub.info.help, no_args_is_help=bool(sub.info.no_args_is_help)
                )
                app.registered_groups.append(TyperInfo(groups[name], name=name))
            joined = groups[name]
            joined.registered_commands.extend(sub.registered_commands)
            joined.registered_groups.extend(sub.registered_groups)
    return app


app = compose(
    training_app,
    service_app,
    help="Site-risk pricing: data, training, models and the pricing service.",
)


def main() -> None:  # pragma: no cover - console entry
    app()
