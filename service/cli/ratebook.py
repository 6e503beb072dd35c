"""``siterisk ratebook …``: validate, import, diff, impact, activate and list insurers'
rate books (docs/rate-books.md). ``validate`` reads a file only; the others use the
service database, which they name on stderr; ``impact``, and ``activate`` when the
insurer has quotes to balance its book over, load the champion model too."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli.stores import connect_database
from service.cli.stores import fail as _fail

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from contextlib import AbstractContextManager

    from sqlmodel import Session

    from models.pricing.ratebook import RateBook
    from service.db.tables import RateBookRow
    from service.model_provider import ModelSnapshot

app = typer.Typer(
    help="Insurers' rate books: validate, import, diff, impact, activate and list.",
    no_args_is_help=True,
)

File = Annotated[
    Path, typer.Argument(help="A rate book, YAML or JSON.", dir_okay=False, exists=True)
]
By = Annotated[
    str | None,
    typer.Option("--by", help="Who does it, as recorded (default: cli:<login name>)."),
]


def _by(given: str | None) -> str:
    if given:
        return given
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a container
        return "cli"


def _read(path: Path) -> RateBook:
    from models.pricing.ratebook import RateBookError, load_ratebook
    from models.pricing.rulesets import RuleError

    try:
        return load_ratebook(path=path)
    except RateBookError as exc:
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        _fail(f"{path}: {len(exc.problems)} problem(s); the rate book is refused", code=2)
    except RuleError as exc:
        _fail(str(exc), code=2)


def _session() -> AbstractContextManager[Session]:
    from contextlib import contextmanager

    from models.settings import get_settings

    settings = get_settings()
    database = connect_database(settings)

    @contextmanager
    def opened() -> Iterator[Session]:
        try:
            with database.session() as session:
                yield session
        finally:
            database.dispose()

    return opened()


def _champion() -> ModelSnapshot:
    """The model in service (the registry's champion, or its local cache)."""
    from models.settings import get_settings
    from service.quotes.replay import ReplayError, load_model

    settings = get_settings()
    try:
        return load_model(settings, settings.champion_uri)
    except ReplayError as exc:
        _fail(f"no model to re-price the insurer's quotes with: {exc}")


def _activate(session: Session, insurer_id: str, version: str, who: str) -> RateBookRow:
    from service.ratebooks.impact import off_balance_finder
    from service.ratebooks.store import RateBookStore

    finder = off_balance_finder(session, _champion)
    return RateBookStore(session).activate(insurer_id, version, by=who, off_balance=finder)


def _describe(row: RateBookRow) -> str:
    until = f"{row.effective_to}" if row.effective_to else "open"
    state = (
        f"active since {row.activated_at:%Y-%m-%d %H:%M} UTC by {row.activated_by}"
        if row.activated_at
        else "not active"
    )
    if row.off_balance_method == "insurer_quotes":
        state += (
            f", off-balance factor {row.off_balance_factor:.6f} over "
            f"{row.off_balance_quotes} quote(s)"
        )
    elif row.off_balance_method == "model":
        state += ", the model's off-balance factor"
    return f"{row.insurer_id}@{row.version} ({row.effective_from} to {until}, {state})"


@app.command("validate")
def validate(path: File) -> None:
    """Check a book against its schema; every problem is named at its JSON path."""
    book = _read(path)
    typer.echo(
        f"{path}: rate book {book.insurer_id}@{book.version} is valid "
        f"({book.exposure_base}, effective {book.effective_from})"
    )


@app.command("import")
def import_(
    path: File,
    by: By = None,
    activate: Annotated[bool, typer.Option("--activate", help="Activate it as well.")] = False,
) -> None:
    """Validate a book and store it (not yet active unless --activate)."""
    from service.errors import ServiceError
    from service.ratebooks.store import RateBookStore

    book = _read(path)
    who = _by(by)
    with _session() as session:
        store = RateBookStore(session)
        try:
            done = store.import_book(book, by=who)
            row = _activate(session, book.insurer_id, book.version, who) if activate else done.row
        except ServiceError as exc:
            for field in exc.fields:
                typer.echo(f"  {field.field}: {field.message}", err=True)
            _fail(exc.message)
        said = "imported" if done.created else "already stored, unchanged:"
        typer.echo(f"{said} {_describe(row)}")


@app.command("activate")
def activate(
    insurer_id: Annotated[str, typer.Argument(help="The insurer.")],
    version: Annotated[str, typer.Argument(help="The book's version.")],
    by: By = None,
) -> None:
    """Let a stored book price quotes from its effective date on; records who and when,
    and the book's own off-balance factor (found over the insurer's quotes of the last
    12 months, re-priced with the book and the champion model)."""
    from service.errors import ServiceError

    with _session() as session:
        try:
            row = _activate(session, insurer_id, version, _by(by))
        except ServiceError as exc:
            for field in exc.fields:
                typer.echo(f"  {field.field}: {field.message}", err=True)
            _fail(exc.message)
        typer.echo(_describe(row))


def _book(ref: str, session: Session) -> RateBook:
    """A file, or a stored book as INSURER@VERSION."""
    from service.errors import NotFoundError
    from service.ratebooks.store import RateBookStore, book_of

    if Path(ref).is_file():
        return _read(Path(ref))
    insurer, at, version = ref.partition("@")
    if not at:
        _fail(f"{ref}: neither a file nor INSURER@VERSION", code=2)
    try:
        return book_of(RateBookStore(session).get(insurer, version))
    except NotFoundError as exc:
        _fail(exc.message)


@app.command("diff")
def diff(
    old: Annotated[str, typer.Argument(help="A file, or a stored book as INSURER@VERSION.")],
    new: Annotated[str, typer.Argument(help="A file, or a stored book as INSURER@VERSION.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """Every value that differs between two books, at its JSON path."""
    from models.pricing.ratebook import diff_ratebooks

    if Path(old).is_file() and Path(new).is_file():
        changes = diff_ratebooks(_read(Path(old)), _read(Path(new)))
    else:
        with _session() as session:
            changes = diff_ratebooks(_book(old, session), _book(new, session))
    if as_json:
        payload = [{"path": p, "old": a, "new": b} for p, a, b in changes]
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for path, a, b in changes:
        typer.echo(
            f"{path}: {json.dumps(a, ensure_ascii=False)} -> {json.dumps(b, ensure_ascii=False)}"
        )
    typer.echo(f"{len(changes)} difference(s)", err=True)


@app.command("impact")
def impact(
    insurer_id: Annotated[str, typer.Argument(help="The insurer.")],
    version: Annotated[str, typer.Argument(help="The stored book's version.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Before activating: the insurer's stored quotes of the last 12 months re-priced
    with the book; the dislocation of premiums, the change in total premium and the
    loss ratio by risk decile."""
    from service.errors import NotFoundError
    from service.ratebooks import impact as found
    from service.ratebooks.store import RateBookStore, book_of

    with _session() as session:
        try:
            book = book_of(RateBookStore(session).get(insurer_id, version))
        except NotFoundError as exc:
            _fail(exc.message)
        result = found.impact(session, book, _champion())
    if result.report is None:
        _fail(f"insurer {insurer_id!r} has no stored quote of the last 12 months to re-price")
    if as_json:
        typer.echo(json.dumps(found.as_json(result.report), ensure_ascii=False, indent=2))
        return
    typer.echo(found.table(result.report))


@app.command("list")
def list_(
    insurer_id: Annotated[
        str | None, typer.Option("--insurer-id", help="One insurer's books only.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """Stored books, by insurer and effective date, with who activated them and when."""
    from service.ratebooks.store import RateBookStore

    with _session() as session:
        rows = RateBookStore(session).books(insurer_id)
    if as_json:
        typer.echo(json.dumps(_rows_json(rows), ensure_ascii=False, indent=2))
        return
    for row in rows:
        typer.echo(_describe(row))
    typer.echo(f"{len(rows)} rate book(s)", err=True)


def _rows_json(rows: Sequence[RateBookRow]) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json", exclude={"document"}) for row in rows]
