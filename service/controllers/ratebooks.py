"""Rate books over HTTP (docs/rate-books.md): ``/v1/admin/ratebooks`` for admins (the
same operations as ``siterisk ratebook …``: validate, import, diff, impact, activate,
list) and ``/v1/ratebooks`` for an insurer's own books — read, impact and activate —
which reaches no other insurer's: another's book answers the same 404 as a missing one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlmodel import Session

from models.pricing.ratebook import ID_PATTERN, VERSION_PATTERN, RateBookError, parse_ratebook
from service.auth.guards import requires
from service.auth.principal import Principal, Role
from service.controllers.quotes import current_snapshot
from service.db.tables import RateBookRow
from service.errors import NotFoundError, error_responses
from service.model_provider import ModelProvider
from service.ratebooks.impact import ImpactReport, off_balance_finder
from service.ratebooks.impact import impact as reprice_quotes
from service.ratebooks.store import RateBookStore, book_of, parse_or_422

InsurerId = Annotated[
    str, PathParameter(pattern=ID_PATTERN, max_length=64, description="The insurer's id.")
]
Version = Annotated[
    str, PathParameter(pattern=VERSION_PATTERN, max_length=32, description="The book's version.")
]


class RateBookInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A stored book without its document."""

    insurer_id: str
    version: str
    label: str
    exposure_base: str
    effective_from: dt.date
    effective_to: dt.date | None
    imported_at: dt.datetime
    imported_by: str
    activated_at: dt.datetime | None
    activated_by: str | None
    # the book's own off-balance factor, found at activation: None with method "model"
    # (the model's own is used), or found over that many of the insurer's quotes
    off_balance_factor: float | None = None
    off_balance_method: str | None = None
    off_balance_quotes: int | None = None
    off_balance_model: str | None = None


class RateBookOut(msgspec.Struct, frozen=True, kw_only=True):
    info: RateBookInfo
    document: dict[str, Any]


class Imported(msgspec.Struct, frozen=True, kw_only=True):
    created: bool  # false: the same document was stored already
    info: RateBookInfo


class ProblemOut(msgspec.Struct, frozen=True, kw_only=True):
    path: str  # a JSON path: $.tariff.bands[2].rate_per_mille
    message: str


class Check(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    problems: list[ProblemOut]


class Change(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    old: Any
    new: Any


def _info(row: RateBookRow) -> RateBookInfo:
    book = book_of(row)
    return RateBookInfo(
        insurer_id=row.insurer_id,
        version=row.version,
        label=book.label,
        exposure_base=book.exposure_base,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        imported_at=row.imported_at,
        imported_by=row.imported_by,
        activated_at=row.activated_at,
        activated_by=row.activated_by,
        off_balance_factor=row.off_balance_factor,
        off_balance_method=row.off_balance_method,
        off_balance_quotes=row.off_balance_quotes,
        off_balance_model=row.off_balance_model,
    )


def _activate(
    insurer_id: str, version: str, principal: Principal, session: Session, provider: ModelProvider
) -> RateBookRow:
    finder = off_balance_finder(session, lambda: current_snapshot(provider))
    return RateBookStore(session).activate(
        insurer_id, version, by=_who(principal), off_balance=finder
    )


def _impact(
    insurer_id: str, version: str, session: Session, provider: ModelProvider
) -> ImpactReport:
    book = book_of(RateBookStore(session).get(insurer_id, version))
    found = reprice_quotes(session, book, current_snapshot(provider))
    if found.report is None:
        raise NotFoundError(f"no stored quote of insurer {insurer_id!r} in the last 12 months")
    return found.report


def _own(version: str) -> NotFoundError:
    return NotFoundError(f"no rate book {version!r}")


def _who(principal: Principal) -> str:
    label = f" ({principal.label})" if principal.label else ""
    return f"key {principal.key_id}{label}"[:200]


class AdminRateBookController(Controller):
    path = "/v1/admin/ratebooks"
    tags = ["admin"]  # noqa: RUF012
    guards = [requires(Role.admin)]  # noqa: RUF012

    @post(
        "/validate",
        status_code=200,
        sync_to_thread=True,
        summary="Check a rate book: every problem at its JSON path; nothing is stored",
        responses=error_responses(400, 401, 403, 413, 415, 429),
    )
    def validate(self, data: JSONBody[dict[str, Any]]) -> Check:
        try:
            parse_ratebook(data)
        except RateBookError as exc:
            problems = [ProblemOut(path=p.path, message=p.message) for p in exc.problems]
            return Check(valid=False, problems=problems)
        return Check(valid=True, problems=[])

    @post(
        "/",
        status_code=201,
        sync_to_thread=True,
        summary="Import a rate book (validated; not active until activated)",
        responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429),
    )
    def import_book(
        self,
        data: JSONBody[dict[str, Any]],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> Imported:
        """A refused book is a 422 whose ``fields`` name every problem by its JSON
        path. The same document again answers ``created: false``; another document
        under a stored insurer and version is a 409 (a change is a new version)."""
        done = RateBookStore(db_session).import_book(parse_or_422(data), by=_who(principal))
        return Imported(created=done.created, info=_info(done.row))

    @get(
        "/",
        sync_to_thread=True,
        summary="Stored rate books, by insurer and effective date",
        responses=error_responses(400, 401, 403, 429),
    )
    def list_books(
        self,
        db_session: NamedDependency[Session],
        insurer_id: Annotated[
            str | None,
            QueryParameter(pattern=ID_PATTERN, max_length=64, description="One insurer's only."),
        ] = None,
    ) -> list[RateBookInfo]:
        return [_info(r) for r in RateBookStore(db_session).books(insurer_id)]

    @get(
        "/{insurer_id:str}/{version:str}",
        sync_to_thread=True,
        summary="One stored rate book with its document",
        responses=error_responses(400, 401, 403, 404, 429),
    )
    def read_book(
        self, insurer_id: InsurerId, version: Version, db_session: NamedDependency[Session]
    ) -> RateBookOut:
        row = RateBookStore(db_session).get(insurer_id, version)
        return RateBookOut(info=_info(row), document=dict(row.document))

    @get(
        "/{insurer_id:str}/{version:str}/diff",
        sync_to_thread=True,
        summary="Every value that differs from another stored book of the insurer",
        responses=error_responses(400, 401, 403, 404, 429),
    )
    def diff(
        self,
        insurer_id: InsurerId,
        version: Version,
        against: Annotated[
            str,
            QueryParameter(
                pattern=VERSION_PATTERN, max_length=32, description="The version to compare with."
            ),
        ],
        db_session: NamedDependency[Session],
    ) -> list[Change]:
        changes = RateBookStore(db_session).diff(insurer_id, version, against)
        return [Change(path=p, old=a, new=b) for p, a, b in changes]

    @post(
        "/{insurer_id:str}/{version:str}/activate",
        status_code=200,
        sync_to_thread=True,
        summary="Activate a book: it prices quotes from its effective date; who and when kept",
        responses=error_responses(400, 401, 403, 404, 422, 429),
    )
    def activate(
        self,
        insurer_id: InsurerId,
        version: Version,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        model_provider: NamedDependency[ModelProvider],
    ) -> RateBookInfo:
        """Records the book's own off-balance factor too: found over the insurer's
        quotes of the last 12 months re-priced with the book (503 if there are enough
        of them and no model is loaded), else the model's."""
        return _info(_activate(insurer_id, version, principal, db_session, model_provider))

    @get(
        "/{insurer_id:str}/{version:str}/impact",
        sync_to_thread=True,
        summary="Re-price the insurer's quotes of the last 12 months with the book",
        responses=error_responses(400, 401, 403, 404, 429, 503),
    )
    def book_impact(
        self,
        insurer_id: InsurerId,
        version: Version,
        db_session: NamedDependency[Session],
        model_provider: NamedDependency[ModelProvider],
    ) -> ImpactReport:
        """The dislocation of premiums (new over old, in bands), the change in total
        premium and the loss ratio (the model's expected loss over premium) old and new
        by risk decile; 404 when the insurer has no stored quote to re-price."""
        return _impact(insurer_id, version, db_session, model_provider)


class RateBookController(Controller):
    path = "/v1/ratebooks"
    tags = ["ratebooks"]  # noqa: RUF012
    guards = [requires(Role.insurer)]  # noqa: RUF012

    @get(
        "/",
        sync_to_thread=True,
        summary="The calling insurer's stored rate books",
        responses=error_responses(401, 403, 429),
    )
    def own_books(
        self, principal: NamedDependency[Principal], db_session: NamedDependency[Session]
    ) -> list[RateBookInfo]:
        assert principal.insurer_id is not None  # an insurer key carries it
        return [_info(r) for r in RateBookStore(db_session).books(principal.insurer_id)]

    @get(
        "/{version:str}",
        sync_to_thread=True,
        summary="One of the calling insurer's rate books, with its document",
        responses=error_responses(400, 401, 403, 404, 429),
    )
    def own_book(
        self,
        version: Version,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> RateBookOut:
        assert principal.insurer_id is not None
        try:
            row = RateBookStore(db_session).get(principal.insurer_id, version)
        except NotFoundError:
            raise _own(version) from None
        return RateBookOut(info=_info(row), document=dict(row.document))

    @post(
        "/{version:str}/activate",
        status_code=200,
        sync_to_thread=True,
        summary="Activate one of the calling insurer's books; who and when are kept",
        responses=error_responses(400, 401, 403, 404, 422, 429, 503),
    )
    def activate_own(
        self,
        version: Version,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        model_provider: NamedDependency[ModelProvider],
    ) -> RateBookInfo:
        """As the admin's activation, for the key's own insurer only."""
        assert principal.insurer_id is not None
        try:
            row = _activate(principal.insurer_id, version, principal, db_session, model_provider)
        except NotFoundError:
            raise _own(version) from None
        return _info(row)

    @get(
        "/{version:str}/impact",
        sync_to_thread=True,
        summary="Re-price the calling insurer's quotes of the last 12 months with its book",
        responses=error_responses(400, 401, 403, 404, 429, 503),
    )
    def own_impact(
        self,
        version: Version,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        model_provider: NamedDependency[ModelProvider],
    ) -> ImpactReport:
        assert principal.insurer_id is not None
        try:
            RateBookStore(db_session).get(principal.insurer_id, version)
        except NotFoundError:
            raise _own(version) from None
        return _impact(principal.insurer_id, version, db_session, model_provider)
