"""``siterisk``: the one command line of the project, composed of the training side's
commands (:mod:`training.cli`) and the service side's (:mod:`service.cli`). A group both
sides fill (``data``) is joined into one, with the first side's help."""

from __future__ import annotations

from typing import Annotated, Final

import typer
import typer.core
from typer.models import TyperInfo

from service.cli import app as service_app
from service.cli import service_version
from training.cli import app as training_app

# Help as prose: paragraphs of a docstring are joined and wrapped at the terminal's
# width (``TERMINAL_WIDTH`` overrides it), not broken where the source line ends.
MARKUP_MODE: Final = "markdown"


def _no_type_column() -> None:
    """Show no ``<bool>`` / ``<list[str]>`` type column in help: an option shows its
    ``metavar`` when it names one (``DIR``), an argument its name; ranges still show.
    typer has no setting for this, so its two display hooks are replaced here."""

    def option_type(self: typer.core.TyperOption, ctx: object) -> str | None:
        return self.metavar

    def argument_type(self: typer.core.TyperArgument, ctx: object) -> str | None:
        return None

    typer.core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]
    typer.core.TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign,assignment]


_no_type_column()


def compose(*parts: typer.Typer, help: str) -> typer.Typer:
    """One command line of several: their commands in order, then their groups, a group
    of the same name in two parts joined (commands of the first, then of the second)."""
    app = typer.Typer(
        name="siterisk",
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=MARKUP_MODE,
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
                    help=sub.info.help,
                    no_args_is_help=bool(sub.info.no_args_is_help),
                    rich_markup_mode=MARKUP_MODE,
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


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"siterisk {service_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the installed release and exit.",
        ),
    ] = False,
) -> None:
    """Site-risk pricing: data, training, models and the pricing service."""


def main() -> None:  # pragma: no cover - console entry
    app()
