"""Impact before activation and the book's own off-balance factor (docs/rate-books.md):
the insurer's stored quotes of the last 12 months re-priced with a rate book.

Each stored request goes through the quote pricer exactly as a quote or a replay does
(``QuotePricer.price`` with the book as the insurer's book in force), with the model in
service now; there is no other pricing path. What that gives per quote — base premium,
risk factor, gate, floating factor — is all the plan's last layers read, so the book's
revenue-neutral factor f is found over them (``models.pricing.impact``) and each new
premium is the plan's own ``plan_premium`` with that f: to the cent what the pricer says
once the book carries f (the tests re-price quote by quote to check it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

import msgspec
from sqlalchemy import func
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from models.pricing import plan_premium, round_cent
from models.pricing.impact import (
    ImpactSummary,
    QuoteImpact,
    revenue_neutral_factor,
    summarise,
)
from models.pricing.ratebook import OffBalance, RateBook
from service.db.tables import Quote, utcnow
from service.errors import ServiceError
from service.model_provider import ModelSnapshot
from service.quotes.intake import read_item
from service.quotes.pricing_service import FailedQuote, PricedQuote, PricingRules, QuotePricer

LOOKBACK_MONTHS: Final = 12
# Fewer re-priced quotes than this and the book keeps the model's off-balance factor (found
# at training over the whole book of sites): a handful of quotes cannot balance a book.
MIN_QUOTES_FOR_OFF_BALANCE: Final = 30
CHUNK: Final = 256  # stored quotes read and priced at once
_READ: Final = ("id", "created_at", "request", "final_premium", "model_uri")

OffBalanceMethod = Literal["insurer_quotes", "model"]


def since(now: dt.datetime, months: int = LOOKBACK_MONTHS) -> dt.datetime:
    """The same instant ``months`` calendar months before ``now`` (day clipped to the
    month's last: 29 February goes to 28 February)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return now.replace(year=year, month=month, day=min(now.day, last))


@dataclass(frozen=True, slots=True)
class Repriced:
    """One stored quote priced again with the book: what the plan's last layers read."""

    quote_id: str
    old_premium: Decimal  # as stored: what was offered
    base: Decimal
    risk_factor: float
    discount_allowed: bool
    floating: float | None
    expected_loss: Decimal
    loss_rate: float  # the model's, per 10,000 worker-hours
    model_uri: str  # the model that priced the stored quote


@dataclass(frozen=True, slots=True)
class Refused:
    quote_id: str
    message: str


def _quotes(session: Session, insurer_id: str, start: dt.datetime) -> Iterator[list[Quote]]:
    """The insurer's stored quotes created from ``start`` on, oldest first, in chunks."""
    query = (
        select(Quote)
        # the stored answers are not read: only what re-pricing needs
        .options(load_only(*(getattr(Quote, name) for name in _READ)))
        .where(Quote.insurer_id == insurer_id, col(Quote.created_at) >= start)
        .order_by(col(Quote.created_at), col(Quote.id))
    )
    chunk: list[Quote] = []
    for row in session.exec(query):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def count_quotes(session: Session, insurer_id: str, start: dt.datetime) -> int:
    query = select(func.count()).where(Quote.insurer_id == insurer_id, Quote.created_at >= start)
    return int(session.exec(query).one())


def reprice_rows(
    rows: Sequence[Quote], book: RateBook, snapshot: ModelSnapshot
) -> tuple[list[Repriced], list[Refused]]:
    """Each stored request priced with ``book`` as the insurer's book in force. The
    request's checks read the month it was quoted in (as a replay does), so the quotes
    of one calendar month are priced in one call."""
    pricer = QuotePricer(PricingRules.shipped())
    priced: list[Repriced] = []
    refused: list[Refused] = []
    by_month: dict[tuple[int, int], list[Quote]] = {}
    for row in rows:
        by_month.setdefault((row.created_at.year, row.created_at.month), []).append(row)
    for group in by_month.values():
        readable: list[Quote] = []
        items = []
        for row in group:
            try:
                items.append(read_item(row.request))
                readable.append(row)
            except ServiceError as exc:
                why = f"the stored request no longer reads: {exc.message}"
                refused.append(Refused(row.id, why))
        if not items:
            continue
        outcomes = pricer.price(items, snapshot, now=group[0].created_at, books=lambda _day: book)
        for row, outcome in zip(readable, outcomes, strict=True):
            if isinstance(outcome, FailedQuote):
                refused.append(Refused(row.id, outcome.error.message))
            else:
                priced.append(_repriced(row, outcome))
    return priced, refused


def _repriced(row: Quote, outcome: PricedQuote) -> Repriced:
    response = outcome.response
    pricing, risk = response.pricing, response.risk
    assert pricing.risk_factor is not None  # every quote priced now has the layered plan
    return Repriced(
        quote_id=row.id,
        old_premium=round_cent(Decimal(repr(float(row.final_premium)))),
        base=outcome.base_premium,
        risk_factor=pricing.risk_factor,
        discount_allowed=response.data_quality.discount_allowed,
        floating=None if pricing.floating is None else pricing.floating.factor,
        expected_loss=round_cent(Decimal(repr(float(risk.expected_loss_cny)))),
        loss_rate=risk.loss_rate_per_10k_worker_hours,
        model_uri=row.model_uri,
    )


# ------------------------------------------------------------------------ the report


class OffBalanceOut(msgspec.Struct, frozen=True, kw_only=True):
    """The book's off-balance factor and how it was found."""

    factor: float  # what the book's quotes use (the plan's fixed factor, if it has one)
    method: OffBalanceMethod  # insurer_quotes: found here; model: the model's, from training
    quotes: int  # re-priced quotes it was found over (0 for the model's)
    model_uri: str


class BandOut(msgspec.Struct, frozen=True, kw_only=True):
    direction: str
    band: str
    label: str
    count: int
    share: float


class DecileOut(msgspec.Struct, frozen=True, kw_only=True):
    decile: int
    quotes: int
    loss_rate_per_10k_worker_hours_from: float
    loss_rate_per_10k_worker_hours_to: float
    expected_loss_cny: float
    old_premium_cny: float
    new_premium_cny: float
    old_loss_ratio: float | None
    new_loss_ratio: float | None


class RefusedOut(msgspec.Struct, frozen=True, kw_only=True):
    quote_id: str
    message: str


class ImpactReport(msgspec.Struct, frozen=True, kw_only=True):
    """A candidate book against the insurer's stored quotes of the last 12 months."""

    insurer_id: str
    version: str
    since: dt.datetime
    until: dt.datetime
    model_uri: str
    # quotes the stored model did not price: their change mixes the model's with the book's
    quotes_by_other_models: int
    quotes: int
    refused: list[RefusedOut]
    off_balance: OffBalanceOut
    old_premium_cny: float
    new_premium_cny: float
    change_cny: float
    change_pct: float | None
    expected_loss_cny: float
    old_loss_ratio: float | None
    new_loss_ratio: float | None
    dislocation: list[BandOut]
    deciles: list[DecileOut]


@dataclass(frozen=True, slots=True)
class Impact:
    report: ImpactReport | None  # None: no quote to re-price
    off_balance: OffBalance  # as the book's activation records it
    priced: list[Repriced]


def _money(value: Decimal) -> float:
    return float(value)


def found_off_balance(book: RateBook, priced: Sequence[Repriced], model_uri: str) -> OffBalance:
    """The book's off-balance factor as its activation records it: the one recorded
    already, if the book is active; else found over the re-priced quotes when there are
    enough of them; else the model's own (factor None)."""
    if book.off_balance is not None:
        return book.off_balance
    if len(priced) < MIN_QUOTES_FOR_OFF_BALANCE:
        # the model's own: whichever model prices, so no model is recorded
        return OffBalance(None, "model", 0, None)
    found = revenue_neutral_factor(
        [float(q.base) for q in priced],
        [q.risk_factor for q in priced],
        [q.discount_allowed for q in priced],
        book.band,
        [q.floating for q in priced],
    )
    return OffBalance(found, "insurer_quotes", len(priced), model_uri)


def used_off_balance(found: OffBalance, snapshot: ModelSnapshot) -> OffBalanceOut:
    """The factor quotes priced by the book use, as the pricer takes it: the book's, or
    the model's when it has none; a plan with a fixed factor keeps its own."""
    plan = PricingRules.shipped().plan
    model = float(snapshot.bundle.meta.rating["off_balance_factor"])
    return OffBalanceOut(
        factor=plan.off_balance_factor(found.factor or model),
        method="insurer_quotes" if found.factor else "model",
        quotes=found.quotes,
        model_uri=found.model_uri or snapshot.uri,
    )


def impact(
    session: Session,
    book: RateBook,
    snapshot: ModelSnapshot,
    *,
    now: dt.datetime | None = None,
) -> Impact:
    """Re-price the book's insurer's stored quotes of the last 12 months with it."""
    until = now or utcnow()
    start = since(until)
    priced: list[Repriced] = []
    refused: list[Refused] = []
    for rows in _quotes(session, book.insurer_id, start):
        got, lost = reprice_rows(rows, book, snapshot)
        priced += got
        refused += lost
    found = found_off_balance(book, priced, snapshot.uri)
    if not priced:
        return Impact(None, found, priced)
    off_balance = used_off_balance(found, snapshot)
    f, band = off_balance.factor, book.band
    quotes = [
        QuoteImpact(
            quote_id=q.quote_id,
            old_premium=q.old_premium,
            new_premium=plan_premium(
                q.base, q.risk_factor, f, band, q.discount_allowed, q.floating
            ),
            expected_loss=q.expected_loss,
            loss_rate=q.loss_rate,
        )
        for q in priced
    ]
    summary = summarise(quotes)
    report = _report(book, summary, off_balance, refused, start, until, snapshot)
    report = msgspec.structs.replace(
        report, quotes_by_other_models=sum(q.model_uri != snapshot.uri for q in priced)
    )
    return Impact(report, found, priced)


def off_balance_finder(
    session: Session, snapshot: Callable[[], ModelSnapshot]
) -> Callable[[RateBook], OffBalance]:
    """What :meth:`RateBookStore.activate` records: the book's factor over the insurer's
    quotes of the last 12 months. The model is loaded (``snapshot``) only when there
    are enough quotes to balance; with fewer, the book keeps the model's own."""

    def find(book: RateBook) -> OffBalance:
        if count_quotes(session, book.insurer_id, since(utcnow())) < MIN_QUOTES_FOR_OFF_BALANCE:
            return OffBalance(None, "model", 0, None)
        return impact(session, book, snapshot()).off_balance

    return find


def _report(
    book: RateBook,
    s: ImpactSummary,
    off_balance: OffBalanceOut,
    refused: Sequence[Refused],
    start: dt.datetime,
    until: dt.datetime,
    snapshot: ModelSnapshot,
) -> ImpactReport:
    return ImpactReport(
        insurer_id=book.insurer_id,
        version=book.version,
        since=start,
        until=until,
        model_uri=snapshot.uri,
        quotes_by_other_models=0,
        quotes=s.quotes,
        refused=[RefusedOut(quote_id=r.quote_id, message=r.message) for r in refused],
        off_balance=off_balance,
        old_premium_cny=_money(s.old_premium),
        new_premium_cny=_money(s.new_premium),
        change_cny=_money(s.change),
        change_pct=s.change_pct,
        expected_loss_cny=_money(s.expected_loss),
        old_loss_ratio=s.old_loss_ratio,
        new_loss_ratio=s.new_loss_ratio,
        dislocation=[BandOut(**dataclasses.asdict(b)) for b in s.dislocation],
        deciles=[
            DecileOut(
                decile=d.decile,
                quotes=d.quotes,
                loss_rate_per_10k_worker_hours_from=d.loss_rate_from,
                loss_rate_per_10k_worker_hours_to=d.loss_rate_to,
                expected_loss_cny=_money(d.expected_loss),
                old_premium_cny=_money(d.old_premium),
                new_premium_cny=_money(d.new_premium),
                old_loss_ratio=d.old_loss_ratio,
                new_loss_ratio=d.new_loss_ratio,
            )
            for d in s.deciles
        ],
    )


# ------------------------------------------------------------------------ the table


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def table(report: ImpactReport) -> str:
    """The report as text for the terminal."""
    ob = report.off_balance
    lines = [
        f"Rate book {report.insurer_id}@{report.version}: impact on "
        f"{report.quotes} stored quote(s) of {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}",
        f"model {report.model_uri}"
        + (
            f" ({report.quotes_by_other_models} quote(s) were priced by another model)"
            if report.quotes_by_other_models
            else ""
        ),
        f"off-balance factor {ob.factor:.6f} ({ob.method}"
        + (f", over {ob.quotes} quotes)" if ob.method == "insurer_quotes" else ")"),
        "",
        f"{'total premium':<24}{'old':>16}{'new':>16}{'change':>16}",
        f"{'CNY':<24}{report.old_premium_cny:>16,.2f}{report.new_premium_cny:>16,.2f}"
        f"{report.change_cny:>+16,.2f}"
        + ("" if report.change_pct is None else f"  ({report.change_pct:+.2f}%)"),
        f"{'loss ratio':<24}{_pct(report.old_loss_ratio):>16}{_pct(report.new_loss_ratio):>16}",
        "",
        "Dislocation (new / old premium)",
    ]
    lines += [f"  {b.label:<16}{b.count:>8}{b.share:>9.1%}" for b in report.dislocation]
    lines += [
        "",
        "Loss ratio by risk decile (the model's expected loss ÷ premium)",
        f"  {'decile':<8}{'quotes':>7}{'loss rate /10k h':>22}{'old premium':>16}"
        f"{'new premium':>16}{'old LR':>9}{'new LR':>9}",
    ]
    for d in report.deciles:
        rates = (
            f"{d.loss_rate_per_10k_worker_hours_from:.3f}–{d.loss_rate_per_10k_worker_hours_to:.3f}"
        )
        lines.append(
            f"  {d.decile:<8}{d.quotes:>7}{rates:>22}{d.old_premium_cny:>16,.2f}"
            f"{d.new_premium_cny:>16,.2f}{_pct(d.old_loss_ratio):>9}{_pct(d.new_loss_ratio):>9}"
        )
    if report.refused:
        lines += ["", f"{len(report.refused)} quote(s) could not be re-priced:"]
        lines += [f"  {r.quote_id}: {r.message}" for r in report.refused[:20]]
    return "\n".join(lines)


def as_json(report: ImpactReport) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(report)
    return out
