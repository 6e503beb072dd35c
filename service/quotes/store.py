"""Quotes in the database: written once with what produced them, read back by their
owner only.

The owner of a quote is the insurer of the key that priced it (so a rotated key keeps
its insurer's quotes); an admin's quotes belong to that admin key alone. Another
owner's quote reads as not found, never as forbidden. A contractor reads the latest
quote of a site whose request named its ``contractor_id``, and nothing else.

A request sent with an ``Idempotency-Key`` stores its answer's outline with its quotes
(:mod:`service.quotes.idempotency`); a retry is answered from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from service.auth.principal import Principal, Role
from service.db.group_commit import GroupCommitter, commit_alone
from service.db.prepared_insert import PreparedInsert
from service.db.tables import IdempotencyRecord, Quote, utcnow
from service.errors import ErrorDetail
from service.quotes.idempotency import AnsweredMeanwhile, IdempotentRequest, check_retry
from service.quotes.pricing_service import PricedQuote
from service.quotes.schemas import BatchItem, QuoteBatchResponse, QuoteResponse, QuoteSummary
from service.quotes.stored import stored_answer

_SUMMARY_COLUMNS = (
    "id",
    "created_at",
    "site_id",
    "district",
    "model_name",
    "model_version",
    "base_premium",
    "final_premium",
)


def owner_of(principal: Principal) -> str:
    """The ``insurer_id`` a caller's quotes are stored under. Non-insurer owners contain
    a ':', which no insurer id may (``ID_PATTERN``), so the two never collide."""
    if principal.role is Role.insurer and principal.insurer_id:
        return principal.insurer_id
    return f"{principal.role.value}:{principal.key_id}"


# rows of one INSERT: a chunk's JSON documents are all a portfolio holds at once
INSERT_CHUNK: Final = 64


_INSERT_QUOTES: Final = PreparedInsert(Quote.__table__)  # type: ignore[attr-defined]
_INSERT_RECORD: Final = PreparedInsert(IdempotencyRecord.__table__)  # type: ignore[attr-defined]


class QuoteStore:
    """Quotes of one request's session. ``writer`` commits what :meth:`save` stores:
    the app's :class:`~service.db.group_commit.GroupCommitter`, which commits concurrent
    requests' quotes together; by default each save commits alone in ``session``."""

    def __init__(self, session: Session, writer: GroupCommitter | None = None) -> None:
        self.session = session
        self.writer = writer

    def save(
        self,
        quotes: Sequence[PricedQuote],
        principal: Principal,
        *,
        idempotent: IdempotentRequest | None = None,
        batch: QuoteBatchResponse | None = None,
    ) -> None:
        """Store and commit every quote, or none of them; return once committed.

        With ``idempotent``, the answer's outline is stored with them, in the same
        transaction (``batch`` is the answer of a batch; without it the one quote is the
        answer). Raises :class:`AnsweredMeanwhile`, having stored nothing, when a
        concurrent request with the same key committed first."""
        owner = owner_of(principal)
        if not quotes:
            return

        def write(session: Session) -> None:
            # INSERTs compiled once, no ORM (quotes and records are never updated, so
            # its bookkeeping buys nothing, and its statement layer cost more than the
            # INSERT): a portfolio of a thousand quotes is a few executemany calls of
            # INSERT_CHUNK rows; chunks keep only that many rows' JSON in memory. Rows
            # are built anew on each call: a group commit may run this twice (grouped,
            # then alone). A duplicate idempotency key fails here, not at the commit.
            connection = session.connection()
            for lo in range(0, len(quotes), INSERT_CHUNK):
                rows = [self._row(q, principal, owner) for q in quotes[lo : lo + INSERT_CHUNK]]
                _INSERT_QUOTES.execute(connection, rows)
                del rows
            if idempotent is not None:
                row = _record(idempotent, principal, owner, quotes, batch)
                _INSERT_RECORD.execute(connection, [row])

        try:
            if self.writer is None:
                commit_alone(self.session, write)
            else:
                self.writer.commit(self.session, write)
        except IntegrityError:
            # Whoever committed first is visible now; this session may still hold an
            # older view: start afresh.
            self.session.rollback()
            if idempotent is not None and self._record(idempotent.key, owner) is not None:
                raise AnsweredMeanwhile() from None
            raise

    @staticmethod
    def _row(q: PricedQuote, principal: Principal, owner: str) -> dict[str, Any]:
        response = q.response
        site: Any = q.item.request.site
        request_hash, input_hash = q.item.hashes()
        return {
            "id": response.quote_id,
            "created_at": response.created_at,
            "api_key_id": principal.key_id,
            "insurer_id": owner,
            "site_id": site.site_id,
            "contractor_id": site.contractor_id,
            "district": site.district,
            "request_hash": request_hash,
            "input_hash": input_hash,
            # the structs themselves: the engine writes JSON columns with
            # msgspec (service.db.engine), the same document as their builtins
            "request": q.item.request,
            "response": response,
            "model_name": q.snapshot.name,
            "model_version": q.snapshot.version,
            "model_uri": q.snapshot.uri,
            "tariff_version": q.tariff_version,
            "band_version": q.band_version,
            "incentive_version": q.incentive_version,
            "predicted_frequency": q.expected_claims,
            "base_premium": float(q.base_premium),
            "final_premium": float(q.final_premium),
            "currency": response.currency,
        }

    # -- idempotent retries ------------------------------------------------------------
    def _record(self, key: str, owner: str) -> IdempotencyRecord | None:
        return self.session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.owner == owner, IdempotencyRecord.idempotency_key == key
            )
        ).first()

    def _answered(
        self, idempotent: IdempotentRequest, principal: Principal
    ) -> IdempotencyRecord | None:
        record = self._record(idempotent.key, owner_of(principal))
        if record is not None:
            check_retry(record.endpoint, record.request_hash, idempotent)
        return record

    def _responses(self, ids: Sequence[str]) -> dict[str, QuoteResponse]:
        rows = self.session.exec(
            select(Quote.id, Quote.response).where(col(Quote.id).in_(list(ids)))
        ).all()
        return {quote_id: stored_answer(body) for quote_id, body in rows}

    def previous_quote(
        self, idempotent: IdempotentRequest, principal: Principal
    ) -> QuoteResponse | None:
        """The stored answer to an earlier ``POST /v1/quotes`` with this key; None if
        there was none; a 409 when the key was used for another request."""
        record = self._answered(idempotent, principal)
        if record is None:
            return None
        quote_id = str(record.answer["quote_id"])
        return self._responses([quote_id])[quote_id]

    def previous_batch(
        self, idempotent: IdempotentRequest, principal: Principal
    ) -> QuoteBatchResponse | None:
        """As :meth:`previous_quote`, for ``POST /v1/quotes/batch``."""
        record = self._answered(idempotent, principal)
        if record is None:
            return None
        outline = record.answer
        quotes = self._responses([i["quote_id"] for i in outline["items"] if "quote_id" in i])
        items = [
            BatchItem(
                index=int(i["index"]),
                status=int(i["status"]),
                quote=quotes[i["quote_id"]] if "quote_id" in i else None,
                error=msgspec.convert(i["error"], ErrorDetail) if "error" in i else None,
            )
            for i in outline["items"]
        ]
        return QuoteBatchResponse(
            priced=int(outline["priced"]), failed=int(outline["failed"]), items=items
        )

    # -- a contractor's view -------------------------------------------------------------
    def latest_for_contractor(self, site_id: str, contractor_id: str) -> QuoteResponse | None:
        """The newest quote of ``site_id`` whose request named ``contractor_id`` as the
        site's contractor, whoever priced it."""
        body = self.session.exec(
            select(Quote.response)
            .where(Quote.contractor_id == contractor_id, Quote.site_id == site_id)
            .order_by(col(Quote.created_at).desc(), col(Quote.id).desc())
            .limit(1)
        ).first()
        return None if body is None else stored_answer(body)

    def get(self, quote_id: str, principal: Principal) -> QuoteResponse | None:
        row = self.session.get(Quote, quote_id)
        if row is None or row.insurer_id != owner_of(principal):
            return None
        return stored_answer(row.response)

    def page(
        self, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[QuoteSummary], int]:
        owner = owner_of(principal)
        mine = col(Quote.insurer_id) == owner
        total = self.session.exec(select(func.count()).select_from(Quote).where(mine)).one()
        # The request and response documents stay in the database: a page needs neither.
        summary = load_only(*(getattr(Quote, name) for name in _SUMMARY_COLUMNS))
        rows = self.session.exec(
            select(Quote)
            .options(summary)
            .where(mine)
            .order_by(col(Quote.created_at).desc(), col(Quote.id).desc())
            .limit(limit)
            .offset(offset)
        ).all()
        items = [
            QuoteSummary(
                quote_id=r.id,
                created_at=r.created_at,
                site_id=r.site_id,
                district=r.district,
                model_name=r.model_name,
                model_version=r.model_version,
                base_premium_cny=r.base_premium,
                final_premium_cny=r.final_premium,
            )
            for r in rows
        ]
        return items, int(total)


def _record(
    idempotent: IdempotentRequest,
    principal: Principal,
    owner: str,
    quotes: Sequence[PricedQuote],
    batch: QuoteBatchResponse | None,
) -> dict[str, Any]:
    answer: dict[str, Any]
    if batch is None:
        (only,) = quotes
        answer, status = {"quote_id": only.response.quote_id}, 201
    else:
        items: list[dict[str, Any]] = []
        for item in batch.items:
            outline: dict[str, Any] = {"index": item.index, "status": item.status}
            if item.quote is not None:
                outline["quote_id"] = item.quote.quote_id
            if item.error is not None:
                outline["error"] = msgspec.to_builtins(item.error)
            items.append(outline)
        answer, status = {"priced": batch.priced, "failed": batch.failed, "items": items}, 200
    return {
        "owner": owner,
        "idempotency_key": idempotent.key,
        "endpoint": idempotent.endpoint,
        "request_hash": idempotent.request_hash,
        "api_key_id": principal.key_id,
        "status_code": status,
        "answer": answer,
        "created_at": utcnow(),
    }
