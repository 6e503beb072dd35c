"""``/v1/quotes``: price a site or a portfolio, and read back one's own quotes.

Bodies are decoded by Litestar only as far as JSON; every item is then read strictly
(:func:`service.quotes.intake.read_item`), so ``"7"`` for a number is a 422 naming the
field rather than a silent conversion, and a bad item of a batch fails alone. Pricing
and storing run in a worker thread; a quote is answered only after it is committed.
With an ``Idempotency-Key`` header a retry gets the first answer again
(:mod:`service.quotes.idempotency`), marked ``Idempotent-Replayed: true``.
A request (or batch item) may also name a stored site instead of sending its rows,
``{"site_id": ..., "policy": {...}}`` (:mod:`service.feed.reference`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, TypeVar

import msgspec
from litestar import Controller, MediaType, Response, get, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Operation, RequestBody
from litestar.params import (
    FromPath,
    HeaderParameter,
    JSONBody,
    QueryParameter,
    SkipValidation,
)
from litestar.response import Stream
from sqlmodel import Session

from models.pricing.ratebook import RateBook
from service.auth.guards import requires
from service.auth.principal import Principal, Role
from service.db.group_commit import GroupCommitter
from service.errors import (
    ErrorDetail,
    InvalidInputError,
    NotFoundError,
    ServiceError,
    UnavailableError,
    error_responses,
)
from service.feed.reference import read_request, with_inputs
from service.language import AcceptLanguage, LangQuery, choose, language_headers
from service.limits import Deadline
from service.model_provider import ModelProvider, ModelSnapshot, ScoringModelProvider
from service.quotes import idempotency
from service.quotes.batch_reply import batch_chunks
from service.quotes.example import documented_examples
from service.quotes.idempotency import AnsweredMeanwhile, IdempotentRequest
from service.quotes.intake import field_error
from service.quotes.price_groups import PriceGroups
from service.quotes.pricing_service import FailedQuote, PricedQuote, QuotePricer
from service.quotes.schemas import (
    MAX_BATCH,
    BatchEnvelope,
    BatchItem,
    QuoteBatchRequest,
    QuoteBatchResponse,
    QuoteInputs,
    QuotePage,
    QuoteReference,
    QuoteRequest,
    QuoteResponse,
)
from service.quotes.store import QuoteStore
from service.quotes.texts import Lang, render
from service.ratebooks.store import book_lookup, books_for
from service.runtime import runtime_of

# A full batch (1,000 sites × 36 months) is about 20 MB of JSON.
BATCH_MAX_BODY_BYTES: Final = 64 * 1024 * 1024
PAGE_LIMIT_MAX: Final = 200
PRICERS: Final = (Role.insurer, Role.admin)
T = TypeVar("T")

_pricer: QuotePricer | None = None


def provide_pricer() -> QuotePricer:
    """One pricer per process: the rule files are read once."""
    global _pricer
    if _pricer is None:
        _pricer = QuotePricer()
    return _pricer


_GROUPS_KEY: Final = "price_groups"
_groups_lock = threading.Lock()


def provide_price_groups(state: State) -> PriceGroups | None:
    """The app's grouped pricing (one per app, made at its first quote), or None when
    the settings turn it off."""
    if not runtime_of(state).settings.group_pricing:
        return None
    with _groups_lock:
        groups = state.get(_GROUPS_KEY)
        if groups is None:
            groups = state[_GROUPS_KEY] = PriceGroups(provide_pricer())
    assert isinstance(groups, PriceGroups)
    return groups


def provide_quote_writer(state: State) -> GroupCommitter | None:
    """The app's writer, which commits concurrent requests' quotes together."""
    return runtime_of(state).quote_writer


def current_snapshot(provider: ModelProvider) -> ModelSnapshot:
    snapshot = provider.current() if isinstance(provider, ScoringModelProvider) else None
    if snapshot is None:
        _, detail = provider.ready()
        raise UnavailableError(f"no model is loaded ({detail}); see /health/ready", retry_after=5)
    return snapshot


IdempotencyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=idempotency.HEADER,
        required=False,
        # Documented, not enforced here: the service checks it and names the header.
        schema_extra={
            "pattern": idempotency.PATTERN,
            "minLength": 1,
            "maxLength": idempotency.MAX_LENGTH,
        },
        description=(
            "Makes a retry safe: the same key with the same body answers the first "
            "quote(s) again and stores nothing new; the same key with another body is a "
            "409. Scoped to the caller's insurer; 1–255 visible ASCII characters."
        ),
    ),
]


LOCATION = ResponseHeader(
    name="Location",
    description="Where the stored quote is read back: /v1/quotes/{quote_id}.",
    documentation_only=True,  # set by the handler, from the quote's id
)


def _location(quote: QuoteResponse) -> dict[str, str]:
    return {"Location": f"{QuotesController.path}/{quote.quote_id}"}


def _replayed(answer: T, status: int, headers: dict[str, str] | None = None) -> Response[T]:
    replayed = {**(headers or {}), idempotency.REPLAYED_HEADER: "true"}
    return Response(answer, status_code=status, headers=replayed)


@dataclass
class _QuoteOperation(Operation):
    """POST /v1/quotes documented with a real request (the ``quotes example`` body),
    not one generated from the schema, which the service would refuse."""

    example_index: ClassVar[int] = 0

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            example = documented_examples()[self.example_index]
            for media in self.request_body.content.values():
                media.example = example


@dataclass
class _BatchOperation(_QuoteOperation):
    example_index: ClassVar[int] = 1


class _Texts:
    """One request's language and the rate books its quotes' texts name (read while
    the request's session is open)."""

    def __init__(self, lang: Lang, session: Session) -> None:
        self.lang = lang
        self.headers = language_headers(lang)
        self._find = book_lookup(session)
        self._books: dict[tuple[str, str], RateBook | None] = {}

    def book(self, insurer_id: str, version: str) -> RateBook | None:
        key = (insurer_id, version)
        if key not in self._books:
            self._books[key] = self._find(insurer_id, version)
        return self._books[key]

    def prime(self, answers: Iterable[QuoteResponse]) -> None:
        for answer in answers:
            ref = answer.pricing.rate_book
            if ref is not None and answer.prevention is not None:
                self.book(ref.insurer_id, ref.version)

    def __call__(self, answer: QuoteResponse) -> QuoteResponse:
        return render(answer, self.lang, self.book)

    def batch(self, answer: QuoteBatchResponse) -> QuoteBatchResponse:
        items = [
            i if i.quote is None else msgspec.structs.replace(i, quote=self(i.quote))
            for i in answer.items
        ]
        return msgspec.structs.replace(answer, items=items)


def _detail(error: ServiceError) -> ErrorDetail:
    return ErrorDetail(
        status=error.status, code=error.code, message=error.message, fields=error.fields
    )


class QuotesController(Controller):
    path = "/v1/quotes"
    tags = ["quotes"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {  # noqa: RUF012
        "pricer": Provide(provide_pricer, sync_to_thread=False),
        "quote_writer": Provide(provide_quote_writer, sync_to_thread=False),
        "price_groups": Provide(provide_price_groups, sync_to_thread=False),
    }

    @post(
        "/",
        status_code=201,
        sync_to_thread=True,
        guards=[requires(*PRICERS)],
        summary="Price one site",
        responses=error_responses(400, 401, 403, 409, 413, 422, 429, 503),
        response_headers=[LOCATION],
        operation_class=_QuoteOperation,
    )
    def create_quote(
        self,
        data: SkipValidation[JSONBody[QuoteRequest | QuoteReference]],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        model_provider: NamedDependency[ModelProvider],
        pricer: NamedDependency[QuotePricer],
        deadline: NamedDependency[Deadline],
        quote_writer: NamedDependency[GroupCommitter | None],
        price_groups: NamedDependency[PriceGroups | None],
        idempotency_key: IdempotencyHeader = None,
        lang: LangQuery = None,
        accept_language: AcceptLanguage = None,
    ) -> Response[QuoteResponse]:
        """The site's contract rows (``site``, 1–36 ``months`` before ``policy.start_month``,
        ``claims``) and the policy; answers the stored quote: risk, premium, explanation,
        recommendations, incentive eligibility and data quality.

        Money is a JSON number in CNY rounded to the cent; feature and group
        ``premium_effect_cny`` add up exactly to final minus base premium. Expected
        loss is the model's loss rate per worker-hour times the projected worker-hours:
        the mean of the latest three months' worker-hours times the term in months,
        capped by the months left to the planned completion, and at least one month.

        Or by reference, ``{"site_id": ..., "policy": {...}}``: a site the platform fed,
        priced from its latest 36 stored months before the start and the caller's own
        claims, exactly as if those rows had been sent; ``inputs`` names their versions."""
        store = QuoteStore(db_session, quote_writer)
        texts = _Texts(choose(lang, accept_language), db_session)
        retry = IdempotentRequest.of(idempotency_key, idempotency.QUOTE_ENDPOINT, data)
        if retry is not None and (earlier := store.previous_quote(retry, principal)):
            return _replayed(texts(earlier), 201, _location(earlier) | texts.headers)
        item, inputs = read_request(data, principal, db_session)
        snapshot = current_snapshot(model_provider)
        books = books_for(principal, db_session)
        if price_groups is None:
            (outcome,) = pricer.price([item], snapshot, deadline=deadline, books=books)
        else:
            outcome = price_groups.price(
                item,
                snapshot,
                deadline=deadline,
                books=books,
                books_key=None if books is None else books.insurer_id,
            )
        if isinstance(outcome, FailedQuote):
            raise outcome.error
        outcome = with_inputs(outcome, inputs)
        try:
            store.save([outcome], principal, idempotent=retry)
        except AnsweredMeanwhile:
            assert retry is not None
            winner = store.previous_quote(retry, principal)
            assert winner is not None
            return _replayed(texts(winner), 201, _location(winner) | texts.headers)
        return Response(
            texts(outcome.response),
            status_code=201,
            headers=_location(outcome.response) | texts.headers,
        )

    @post(
        "/batch",
        status_code=200,
        sync_to_thread=True,
        guards=[requires(*PRICERS)],
        request_max_body_size=BATCH_MAX_BODY_BYTES,
        summary=f"Price a portfolio of up to {MAX_BATCH} sites",
        # the answer is streamed (a Stream documents nothing): its schema is given here
        responses={
            200: ResponseSpec(
                data_container=QuoteBatchResponse,
                description="Each item priced and stored, or its error",
                generate_examples=False,
            ),
            **error_responses(400, 401, 403, 409, 413, 422, 429, 503),
        },
        operation_class=_BatchOperation,
    )
    def create_batch(
        self,
        data: SkipValidation[JSONBody[QuoteBatchRequest]],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        model_provider: NamedDependency[ModelProvider],
        pricer: NamedDependency[QuotePricer],
        deadline: NamedDependency[Deadline],
        quote_writer: NamedDependency[GroupCommitter | None],
        idempotency_key: IdempotencyHeader = None,
        lang: LangQuery = None,
        accept_language: AcceptLanguage = None,
    ) -> Response[Any]:
        """Each item is a quote request; each answer item has the ``status`` that item
        alone would have got (201 priced and stored, or 422 with its fields named
        ``items[i]…``). Items are priced together in one pass."""
        store = QuoteStore(db_session, quote_writer)
        texts = _Texts(choose(lang, accept_language), db_session)
        retry = IdempotentRequest.of(idempotency_key, idempotency.BATCH_ENDPOINT, data)
        if retry is not None and (earlier := store.previous_batch(retry, principal)):
            return _replayed(texts.batch(earlier), 200, texts.headers)
        try:
            envelope = msgspec.convert(data, BatchEnvelope, strict=True)
        except msgspec.ValidationError as exc:
            error = field_error(exc, root=BatchEnvelope)
            raise InvalidInputError(
                f"the request is not valid: {error.field}: {error.message}", fields=[error]
            ) from None
        snapshot = current_snapshot(model_provider)
        answers: dict[int, BatchItem] = {}
        items = []
        inputs: dict[int, QuoteInputs | None] = {}
        for i, raw in enumerate(envelope.items):
            try:
                item, inputs[i] = read_request(raw, principal, db_session, i, f"items[{i}].")
                items.append(item)
            except ServiceError as exc:
                answers[i] = BatchItem(index=i, status=exc.status, error=_detail(exc))
        books = books_for(principal, db_session)
        outcomes = pricer.price(items, snapshot, deadline=deadline, books=books)
        priced: list[PricedQuote] = []
        for outcome in outcomes:
            if isinstance(outcome, FailedQuote):
                answers[outcome.item_index] = BatchItem(
                    index=outcome.item_index,
                    status=outcome.error.status,
                    error=_detail(outcome.error),
                )
            else:
                outcome = with_inputs(outcome, inputs.get(outcome.item.index))
                priced.append(outcome)
                answers[outcome.item.index] = BatchItem(
                    index=outcome.item.index, status=201, quote=outcome.response
                )
        ordered = [answers[i] for i in range(len(envelope.items))]
        answer = QuoteBatchResponse(
            priced=len(priced), failed=len(ordered) - len(priced), items=ordered
        )
        try:
            store.save(priced, principal, idempotent=retry, batch=answer)
        except AnsweredMeanwhile:
            assert retry is not None
            winner = store.previous_batch(retry, principal)
            assert winner is not None
            return _replayed(texts.batch(winner), 200, texts.headers)
        texts.prime(p.response for p in priced)  # the stream runs after the session closes
        del priced, outcomes, answers, ordered  # the stream lets go of each item once written
        return Stream(
            batch_chunks(answer, render=texts),
            status_code=200,
            media_type=MediaType.JSON,
            headers=texts.headers,
        )

    @get(
        "/{quote_id:str}",
        sync_to_thread=True,
        guards=[requires(*PRICERS)],
        summary="One of the caller's quotes, as it was answered",
        responses=error_responses(401, 403, 404, 429),
    )
    def get_quote(
        self,
        quote_id: FromPath[str],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        lang: LangQuery = None,
        accept_language: AcceptLanguage = None,
    ) -> Response[QuoteResponse]:
        """The stored quote's numbers as they were answered, its texts written in the
        language asked for now."""
        found = QuoteStore(db_session).get(quote_id, principal)
        if found is None:
            raise NotFoundError(f"no quote {quote_id!r}")
        texts = _Texts(choose(lang, accept_language), db_session)
        return Response(texts(found), headers=texts.headers)

    @get(
        "/",
        sync_to_thread=True,
        guards=[requires(*PRICERS)],
        summary="The caller's quotes, newest first",
        responses=error_responses(401, 403, 422, 429),
    )
    def list_quotes(
        self,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
        limit: Annotated[int, QueryParameter(ge=1, le=PAGE_LIMIT_MAX)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=10**9)] = 0,
    ) -> QuotePage:
        items, total = QuoteStore(db_session).page(principal, limit=limit, offset=offset)
        return QuotePage(items=items, total=total, limit=limit, offset=offset)
