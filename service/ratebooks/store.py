"""Rate books in the database: import (validated, never changed once stored), list,
read, diff and activate; and the activated book in force for an insurer on a day.

Ownership is a query filter, as for quotes: an insurer's read of another insurer's
book is the same 404 as a missing one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.pricing.ratebook import (
    DEFAULT_INSURER,
    OffBalance,
    Problem,
    RateBook,
    RateBookError,
    book_in_force,
    diff_ratebooks,
    parse_ratebook,
)
from service.auth.principal import Principal, Role
from service.db.tables import RateBookRow, utcnow
from service.errors import ConflictError, FieldError, InvalidInputError, NotFoundError

_CACHE_MAX: Final = 256
_cache: dict[str, RateBook] = {}
_cache_lock = threading.Lock()


def document_hash(document: Mapping[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Header(Protocol):
    """What a stored book's row says besides its document."""

    id: int | None
    insurer_id: str
    version: str
    document_hash: str
    off_balance_factor: float | None
    off_balance_method: str | None
    off_balance_quotes: int | None
    off_balance_model: str | None


def book_of(row: RateBookRow) -> RateBook:
    """The stored book, read once per document (it was valid when imported), with the
    off-balance factor its activation found."""
    return _recorded(_parsed(row, lambda: row.document), row)


def _parsed(row: _Header, document: Callable[[], Any]) -> RateBook:
    with _cache_lock:
        found = _cache.get(row.document_hash)
    if found is None:
        found = parse_ratebook(document(), source=f"rate book {row.insurer_id}@{row.version}")
        with _cache_lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[row.document_hash] = found
    return found


def _recorded(found: RateBook, row: _Header) -> RateBook:
    if row.off_balance_method is None:
        return found
    recorded = OffBalance(
        row.off_balance_factor,
        row.off_balance_method,
        row.off_balance_quotes or 0,
        row.off_balance_model,
    )
    return dataclasses.replace(found, off_balance=recorded)


# Every quote asks which book is in force. These statements are built once: building a
# select per quote cost three times what running it does (0.3 of 0.4 ms, SQLite). The
# documents are left out: each is parsed once per process (book_of's cache), so a row
# is read in full only when its document is not parsed yet.
_BOOKS = RateBookRow.__table__  # type: ignore[attr-defined]
_ACTIVE_HEADERS: Final = sa.select(*(c for c in _BOOKS.c if c.name != "document")).where(
    _BOOKS.c.insurer_id == sa.bindparam("insurer_id"),
    _BOOKS.c.activated_at.is_not(None),
    _BOOKS.c.effective_from <= sa.bindparam("day"),
)
_DOCUMENT: Final = sa.select(_BOOKS.c.document).where(_BOOKS.c.id == sa.bindparam("id"))


def _document_of(connection: sa.Connection, book_id: int) -> Any:
    return connection.execute(_DOCUMENT, {"id": book_id}).scalar_one()


def invalid(error: RateBookError) -> InvalidInputError:
    """A refused book as a 422: every problem a field named by its JSON path."""
    return InvalidInputError(
        f"the rate book is not valid: {len(error.problems)} problem(s)",
        fields=[FieldError(p.path, p.message) for p in error.problems],
    )


def parse_or_422(document: object) -> RateBook:
    try:
        return parse_ratebook(document)
    except RateBookError as exc:
        raise invalid(exc) from None


@dataclass(frozen=True)
class Imported:
    row: RateBookRow
    created: bool  # False: the same document was there already


class RateBookStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def import_book(self, book: RateBook, *, by: str) -> Imported:
        """Store a validated book. The same document again is no change; another
        document under a stored (insurer, version) is a 409: a change is a new version."""
        if book.insurer_id == DEFAULT_INSURER:
            raise invalid(
                RateBookError(
                    "rate book",
                    [Problem("$.insurer_id", f"{DEFAULT_INSURER!r} is the shipped default's")],
                )
            )
        digest = document_hash(book.document)
        existing = self.find(book.insurer_id, book.version)
        if existing is not None:
            return self._same(existing, digest)
        row = RateBookRow(
            insurer_id=book.insurer_id,
            version=book.version,
            effective_from=book.effective_from,
            effective_to=book.effective_to,
            document=dict(book.document),
            document_hash=digest,
            imported_by=by,
        )
        self.session.add(row)
        try:
            self.session.commit()
        except IntegrityError:
            # another import of the same insurer and version won the unique index
            self.session.rollback()
            winner = self.find(book.insurer_id, book.version)
            if winner is None:  # pragma: no cover - the index said it is there
                raise
            return self._same(winner, digest)
        self.session.refresh(row)
        return Imported(row, True)

    @staticmethod
    def _same(existing: RateBookRow, digest: str) -> Imported:
        if existing.document_hash == digest:
            return Imported(existing, False)
        raise ConflictError(
            f"rate book {existing.insurer_id}@{existing.version} is stored with other "
            "content; a changed book needs a new version"
        )

    def find(self, insurer_id: str, version: str) -> RateBookRow | None:
        query = select(RateBookRow).where(
            RateBookRow.insurer_id == insurer_id, RateBookRow.version == version
        )
        return self.session.exec(query).first()

    def get(self, insurer_id: str, version: str) -> RateBookRow:
        row = self.find(insurer_id, version)
        if row is None:
            raise NotFoundError(f"no rate book {version!r} of insurer {insurer_id!r}")
        return row

    def books(self, insurer_id: str | None = None) -> Sequence[RateBookRow]:
        query = select(RateBookRow).order_by(
            col(RateBookRow.insurer_id), col(RateBookRow.effective_from), col(RateBookRow.id)
        )
        if insurer_id is not None:
            query = query.where(RateBookRow.insurer_id == insurer_id)
        return self.session.exec(query).all()

    def activate(
        self,
        insurer_id: str,
        version: str,
        *,
        by: str,
        now: dt.datetime | None = None,
        off_balance: Callable[[RateBook], OffBalance] | None = None,
    ) -> RateBookRow:
        """Let the book price quotes from its effective date on; who and when are kept,
        and the book's own off-balance factor (``off_balance``, e.g.
        ``service.ratebooks.impact.off_balance_finder``; without it the book keeps the
        model's). Activating an active book changes nothing."""
        row = self.get(insurer_id, version)
        book = book_of(row)
        if row.activated_at is None:
            found = off_balance(book) if off_balance else OffBalance(None, "model", 0, None)
            row.activated_at = now or utcnow()
            row.activated_by = by
            row.off_balance_factor = found.factor
            row.off_balance_method = found.method
            row.off_balance_quotes = found.quotes
            row.off_balance_model = found.model_uri
            self.session.add(row)
            self.session.commit()
            self.session.refresh(row)
        return row

    def diff(self, insurer_id: str, version: str, against: str) -> list[tuple[str, object, object]]:
        old = book_of(self.get(insurer_id, against))
        return diff_ratebooks(old, book_of(self.get(insurer_id, version)))

    def in_force(self, insurer_id: str, day: dt.date) -> RateBook | None:
        """The insurer's activated book in force on ``day``, if any."""
        connection = self.session.connection()
        headers = connection.execute(_ACTIVE_HEADERS, {"insurer_id": insurer_id, "day": day})
        books = []
        for h in headers.all():
            document = functools.partial(_document_of, connection, h.id)
            books.append(_recorded(_parsed(h, document), h))
        return book_in_force(books, day)


@dataclass(frozen=True)
class InsurerBooks:
    """An insurer's activated books, as a function of the day (what prices its quotes)."""

    insurer_id: str
    store: RateBookStore = dataclasses.field(compare=False)

    def __call__(self, day: dt.date) -> RateBook | None:
        return self.store.in_force(self.insurer_id, day)


def books_for(principal: Principal, session: Session) -> InsurerBooks | None:
    """What prices an insurer's quotes: its activated book in force on a day. Other
    callers (an admin pricing for itself) use the shipped default rules."""
    insurer = principal.insurer_id
    if principal.role is not Role.insurer or insurer is None:
        return None
    return InsurerBooks(insurer, RateBookStore(session))


def book_lookup(session: Session) -> Callable[[str, str], RateBook | None]:
    """A stored book by (insurer, version), for the names a quote's texts take from
    the book that priced it (service.quotes.texts); None when it is not stored."""
    store = RateBookStore(session)

    def find(insurer_id: str, version: str) -> RateBook | None:
        row = store.find(insurer_id, version)
        return None if row is None else book_of(row)

    return find
