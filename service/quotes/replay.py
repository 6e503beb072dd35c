"""Re-price a stored quote with the versions it recorded, and say whether the numbers
are the same (``siterisk quotes replay ID``).

A stored quote names its model version (``models:/site-risk/7``, never the alias) and
its tariff, band and incentive rule versions, or the insurer's rate book it was priced
with (``pricing.rate_book``; stored books never change). Replaying loads exactly those, runs the
stored request through the same pricing code, and compares the new answer with the
stored one field by field: money to the cent, other numbers to 1e-9 relative, text
exactly. Its own identity (id, time), where the model was loaded from (registry or
the local cache) and the provenance of by-reference rows are not compared.

A field the stored answer lacks but the replay has (added by a later release) is
listed apart and is not a mismatch; anything the stored answer said that the replay
does not reproduce is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import msgspec

from models.pricing import RuleError, load_band, load_incentives, load_plan, load_tariff
from models.pricing.ratebook import RateBook
from models.settings import Settings
from service.db.engine import Database
from service.db.tables import Quote
from service.errors import ServiceError
from service.model_provider import ModelSnapshot, RegistryModelProvider
from service.quotes.intake import read_item
from service.quotes.pricing_service import (
    TARIFF_BY_POLICY,
    FailedQuote,
    PricingRules,
    QuotePricer,
)
from service.quotes.schemas import LEGACY_PLAN, QuoteResponse
from service.quotes.stored import is_bilingual
from service.quotes.texts import BookLookup, render
from service.release import service_version

# A quote's identity, where its model was loaded from, which stored row versions a
# by-reference quote read (provenance: the rows themselves are in its stored request),
# and the release that priced it (reported beside the comparison: a new release that
# prices alike matches; one that does not shows in the numbers).
IGNORED: Final = frozenset(
    {("quote_id",), ("created_at",), ("model", "source"), ("inputs",), ("service_version",)}
)
# The pricer adds this warning when the model came from the local cache; whether it did
# at replay time says nothing about the quote.
CACHE_WARNING: Final = "priced with the locally cached model"
RELATIVE_TOLERANCE: Final = 1e-9
MODEL_START_TIMEOUT: Final = 120.0


class ReplayError(Exception):
    """The quote cannot be replayed (not found, model or rules unavailable)."""


@dataclass(frozen=True)
class Difference:
    path: str
    stored: Any
    replayed: Any


@dataclass(frozen=True)
class ReplayReport:
    quote_id: str
    model_uri: str
    model_source: str
    tariff_version: str
    band_version: str
    incentive_version: str
    # the rating plan the quote was priced with, and the one the replay used: they
    # differ for a quote priced before plan 2026.1 (LEGACY_PLAN), whose credibility
    # plan this release no longer has
    stored_plan_version: str
    replay_plan_version: str
    stored_final_premium_cny: float
    replayed_final_premium_cny: float | None
    # the release that priced the quote (None: stored before releases were recorded)
    # and the one replaying it
    stored_service_version: str | None = None
    replay_service_version: str = field(default_factory=service_version)
    differences: list[Difference] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # fields only the replay has

    @property
    def matched(self) -> bool:
        return not self.differences

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        out["matched"] = self.matched
        return out


# --- versions ------------------------------------------------------------------------


def recorded_plan(row: Quote) -> str:
    """The rating plan version the stored answer names (LEGACY_PLAN before there was one)."""
    pricing = row.response.get("pricing") if isinstance(row.response, dict) else None
    found = pricing.get("plan_version") if isinstance(pricing, dict) else None
    return found if isinstance(found, str) else LEGACY_PLAN


def recorded_book(row: Quote) -> tuple[str, str] | None:
    """(insurer, version) of the rate book the stored answer names, if any."""
    pricing = row.response.get("pricing") if isinstance(row.response, dict) else None
    ref = pricing.get("rate_book") if isinstance(pricing, dict) else None
    if not isinstance(ref, dict):
        return None
    insurer, version = ref.get("insurer_id"), ref.get("version")
    return (insurer, version) if isinstance(insurer, str) and isinstance(version, str) else None


def recorded_rules(row: Quote) -> PricingRules:
    """The tariff, band, incentive tiers and plan the quote recorded (shipped versions).
    A quote priced before the layered plan is replayed with the newest plan, and its
    report names both plan versions. A quote priced with an insurer's rate book gets
    its tariff and band from the book (:func:`replay_quote`'s ``book``): the shipped
    ones stand in here and are not read."""
    try:
        if recorded_book(row) is not None:
            plan = recorded_plan(row)
            return PricingRules(
                load_tariff(),
                load_band(),
                load_incentives(row.incentive_version),
                load_plan() if plan == LEGACY_PLAN else load_plan(plan),
            )
        # A policy-given base premium used no tariff: any will do, it is not read.
        tariff = load_tariff() if row.tariff_version == TARIFF_BY_POLICY else None
        plan = recorded_plan(row)
        return PricingRules(
            tariff or load_tariff(row.tariff_version),
            load_band(row.band_version),
            load_incentives(row.incentive_version),
            load_plan() if plan == LEGACY_PLAN else load_plan(plan),
        )
    except RuleError as exc:
        raise ReplayError(f"the quote's rules are not available in this release: {exc}") from exc


def load_model(settings: Settings, uri: str) -> ModelSnapshot:
    """Exactly the model version ``uri`` names, from the registry or, if it cannot be
    reached, from the local model cache (which holds only versions that passed their
    smoke test)."""
    if not uri.startswith("models:/"):
        raise ReplayError(f"the quote was priced by {uri!r}, which is not a registered model")
    pinned = settings.model_copy(update={"model_uri": uri, "model_poll_seconds": 0.0})
    provider = RegistryModelProvider(pinned, start_timeout=MODEL_START_TIMEOUT)
    anyio.run(provider.start)
    try:
        snapshot = provider.current()
    finally:
        anyio.run(provider.stop)
    if snapshot is None:
        _, why = provider.ready()
        raise ReplayError(f"cannot load {uri}: {why}")
    return snapshot


# --- replaying ---------------------------------------------------------------------------


def replay_quote(row: Quote, snapshot: ModelSnapshot, book: RateBook | None = None) -> ReplayReport:
    """Price the stored request again with ``snapshot`` and the recorded rules: the
    rate book the quote recorded must be given as ``book``."""
    rules = recorded_rules(row)
    wanted = recorded_book(row)
    if wanted is not None and (book is None or (book.insurer_id, book.version) != wanted):
        raise ReplayError(
            f"the quote was priced with rate book {wanted[0]}@{wanted[1]}, which is not given"
        )
    try:
        item = read_item(row.request)
    except ServiceError as exc:
        raise ReplayError(f"the stored request no longer reads: {exc.message}") from exc
    books = None if book is None else (lambda _day: book)
    (outcome,) = QuotePricer(rules).price([item], snapshot, now=row.created_at, books=books)
    if isinstance(outcome, FailedQuote):
        raise ReplayError(f"the stored request is refused now: {outcome.error.message}")
    if is_bilingual(row.response):
        # stored with its texts in both languages: the replay's facts are rendered in
        # both and compared with them, text by text
        replayed = bilingual(outcome.response, books=None if book is None else _named(book))
    else:
        replayed = msgspec.to_builtins(outcome.response)
    differences, added = compare(row.response, replayed)
    return ReplayReport(
        quote_id=row.id,
        model_uri=snapshot.uri,
        model_source=snapshot.source,
        tariff_version=row.tariff_version,
        band_version=row.band_version,
        incentive_version=row.incentive_version,
        stored_plan_version=recorded_plan(row),
        replay_plan_version=rules.plan.version,
        stored_final_premium_cny=row.final_premium,
        replayed_final_premium_cny=outcome.response.pricing.final_premium_cny,
        stored_service_version=_recorded_release(row.response),
        differences=differences,
        added=added,
    )


# Where a quote stored with both languages had a {zh, en} text (Incentives.label is
# the rule set's one label, not one of them).
TEXT_FIELDS: Final = frozenset(
    {"label", "text", "note", "reason", "group_label", "metric_label", "unit_label"}
)


def _named(book: RateBook) -> BookLookup:
    return lambda insurer, version: (
        book if (insurer, version) == (book.insurer_id, book.version) else None
    )


def bilingual(answer: QuoteResponse, books: BookLookup | None = None) -> Any:
    """The answer as quotes were stored before they were stored as facts: every label
    and sentence as ``{"zh": ..., "en": ...}``, each rendered from the facts."""
    zh = msgspec.to_builtins(render(answer, "zh", books))
    en = msgspec.to_builtins(render(answer, "en", books))

    def merge(a: Any, b: Any, path: tuple[str, ...]) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            out = {}
            for key, value in a.items():
                if key in ("language", "reason_code"):
                    continue
                if key in TEXT_FIELDS and isinstance(value, str) and path != ("incentives",):
                    out[key] = {"zh": value, "en": b[key]}
                else:
                    out[key] = merge(value, b[key], (*path, key))
            return out
        if isinstance(a, list) and isinstance(b, list):
            return [merge(x, y, path) for x, y in zip(a, b, strict=True)]
        return a

    return merge(zh, en, ())


MAX_MATCHES_SHOWN: Final = 5


def _by_prefix(session: Any, prefix: str) -> Quote:
    """The one stored quote whose id starts with ``prefix`` (as ``3f1c…`` is shown);
    none or several is an error naming them."""
    from sqlmodel import col, select

    stem = prefix.rstrip("…").rstrip(".")
    if not stem:
        raise ReplayError(f"no stored quote {prefix!r}")
    pattern = stem.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    ids = list(
        session.exec(
            select(Quote.id)
            .where(col(Quote.id).like(pattern, escape="\\"))
            .order_by(col(Quote.id))
            .limit(MAX_MATCHES_SHOWN + 1)
        )
    )
    if not ids:
        raise ReplayError(f"no stored quote {prefix!r} (no quote id starts with {stem!r})")
    if len(ids) > 1:
        shown = ", ".join(ids[:MAX_MATCHES_SHOWN]) + (", …" if len(ids) > MAX_MATCHES_SHOWN else "")
        raise ReplayError(f"{stem!r} is the start of several quote ids: {shown}; give more of it")
    row: Quote | None = session.get(Quote, ids[0])
    assert row is not None
    return row


def replay(settings: Settings, quote_id: str, *, model_uri: str | None = None) -> ReplayReport:
    """Replay the stored quote ``quote_id`` with its recorded model version (or with
    ``model_uri``, to see what another model would have said)."""
    from service.errors import NotFoundError
    from service.ratebooks.store import RateBookStore, book_of

    database = Database(settings.db_url)
    book = None
    try:
        with database.session() as session:
            row = session.get(Quote, quote_id) or _by_prefix(session, quote_id)
            if (wanted := recorded_book(row)) is not None:
                try:
                    book = book_of(RateBookStore(session).get(*wanted))
                except NotFoundError:
                    raise ReplayError(
                        f"the quote's rate book {wanted[0]}@{wanted[1]} is not stored"
                    ) from None
    finally:
        database.dispose()
    snapshot = load_model(settings, model_uri or row.model_uri)
    return replay_quote(row, snapshot, book)


def _recorded_release(response: Any) -> str | None:
    found = response.get("service_version") if isinstance(response, dict) else None
    return found if isinstance(found, str) else None


# --- comparing ---------------------------------------------------------------------------


def compare(stored: Any, replayed: Any) -> tuple[list[Difference], list[str]]:
    """(differences, fields only the replay has) between two answers as JSON values."""
    differences: list[Difference] = []
    added: list[str] = []
    for path, a, b in _walk(stored, replayed, ()):
        if a is _ABSENT:
            added.append(_label(path))
        elif not _same(path, a, b):
            differences.append(Difference(_label(path), a, None if b is _ABSENT else b))
    return differences, added


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Final = _Absent()
Path = tuple[str | int, ...]


def _walk(a: Any, b: Any, path: Path) -> Iterator[tuple[Path, Any, Any]]:
    if tuple(str(p) for p in path) in IGNORED:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _walk(a.get(key, _ABSENT), b.get(key, _ABSENT), (*path, key))
        return
    if path and path[-1] == "warnings" and isinstance(a, list) and isinstance(b, list):
        a, b = _without_cache_warning(a), _without_cache_warning(b)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _walk(x, y, (*path, i))
        return
    yield path, a, b


def _without_cache_warning(warnings: list[Any]) -> list[Any]:
    return [w for w in warnings if not (isinstance(w, str) and w.startswith(CACHE_WARNING))]


def _same(path: Path, a: Any, b: Any) -> bool:
    number = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, number) and isinstance(b, number):
        if str(path[-1]).endswith("_cny"):
            return round(float(a) * 100) == round(float(b) * 100)
        return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
    return bool(a == b)


def _label(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(the answer)"
