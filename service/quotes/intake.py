"""From a decoded JSON body to checked contract frames, naming every offending field.

Three layers, each naming fields the way the request spells them
(``months[3].worker_hours``, in a batch ``items[7].months[3].worker_hours``):

1. :func:`read_item`: strict decoding into :class:`QuoteRequest`. ``"7"`` for a number,
   ``1.5`` for a count, an unknown field or a value outside the contract's range is
   refused here (msgspec, with the contract's rules as metadata).
2. :func:`api_problems`: what the API adds to the contract: every month strictly before
   the policy start, every row about the request's site, no month or claim twice, no
   claim from after the start.
3. :func:`contract_problems`: what the contract checks beyond one column, on the
   decoded rows: its cross-column rules (``spec.CROSS_RULES``). Every single-column rule
   (range, choice, pattern, length, required) was already enforced by the decoding,
   built from the same spec, and the API's rules cover the keys and references, so no
   frame is built and no pandas runs for a quote.

:func:`validate_items` runs the contract itself (:func:`models.contract.validate_frames`)
over the items, problems mapped back to them: the reference the layers above are held
to. A property test feeds both arbitrary rows and requires the same rows refused with
the same fields named (``tests/service/quotes/test_intake_contract.py``).

Items are given internal ids (``q0``, ``c0``…) before the contract check, so items
of one batch never meet: two quotes for sites of one contractor must price as they
would alone, and a batch may hold the same site twice (two start months).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import numpy as np
import pandas as pd

from models.contract import ContractData, ContractError, Problem, spec, validate_frames
from models.contract.checks import fmt
from models.features.single import month_number
from models.pricing import QuoteLimits
from service.errors import FieldError, InvalidInputError, user_message
from service.quotes.schemas import QuoteRequest

_AT = re.compile(r"\s+-\s+at\s+`\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]+)`")
TABLE_FIELDS: Final = {"sites": "site", "site_months": "months", "claims": "claims"}
BODY: Final = "body"


@dataclass(frozen=True, slots=True)
class Item:
    """One request to price: its place in the body and the decoded request."""

    index: int  # position in the batch; 0 for a single quote
    where: str  # how field names are prefixed: "" or "items[7]."
    request: QuoteRequest
    # built from stored rows (a QuoteReference): its errors name the reference's fields
    by_reference: bool = False

    def body(self) -> dict[str, Any]:
        """The request as JSON builtins (what is stored)."""
        out: dict[str, Any] = msgspec.to_builtins(self.request)
        return out

    def hashes(self) -> tuple[str, str]:
        """(request hash, input hash): of the request as sent, and of its content with
        rows in a canonical order, so reordered months hash alike. Both are the SHA-256
        of the request's JSON (:meth:`body`) with keys sorted. Optional fields
        added to the API later (:data:`_LATER_FIELDS`) are left out while empty, so a
        request hashes as it did before they existed (an idempotent retry across a
        deploy still matches)."""
        req = self.request
        request_hash = hashlib.sha256(_hashed(req)).hexdigest()
        sent: list[Any] = req.months  # rows typed from the contract at run time
        months = sorted(sent, key=lambda m: str(m.month))
        claims = (
            sorted(own_claims(req), key=lambda c: str(c.claim_id))
            if claims_known(req)
            else msgspec.UNSET
        )
        if _same_rows(months, sent) and _same_rows(claims, req.claims):
            # rows sent in canonical order (as most are): the same JSON, the same hash
            return request_hash, request_hash
        canonical = msgspec.structs.replace(req, months=months, claims=claims)
        input_hash = hashlib.sha256(_hashed(canonical)).hexdigest()
        return request_hash, input_hash


def _same_rows(canonical: Any, sent: Any) -> bool:
    """Whether the canonical rows are the very rows sent, in the order sent (both UNSET
    when no claims were sent)."""
    if canonical is msgspec.UNSET or sent is msgspec.UNSET:
        return canonical is sent
    return len(canonical) == len(sent) and all(a is b for a, b in zip(canonical, sent, strict=True))


# (path, field) of optional fields added after requests were first stored and hashed.
_LATER_FIELDS: Final = (
    ((), "other_claims"),
    (("policy",), "safety_awards"),
    (("policy",), "planned_headcount"),
)


def claims_known(req: QuoteRequest) -> bool:
    """Whether the request states the site's claims: it sent ``claims``, even empty. A
    quote by reference always does (the feed's claims); an inline request that leaves
    ``claims`` out has no claims data, and claims criteria are not evaluable for it
    (docs/contract-incentives.md, Quotes)."""
    return req.claims is not msgspec.UNSET


def own_claims(req: QuoteRequest) -> list[Any]:
    """The request's ``claims`` rows; none when it did not send them."""
    return [] if req.claims is msgspec.UNSET else list(req.claims)


def _without_later_empties(req: QuoteRequest) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(req)
    # Left out, hashed as the empty list every request was before it could be left out,
    # so stored hashes keep matching. Sent empty it hashes alike although it says more
    # (claims known): an idempotent retry is matched on the raw body, which differs.
    data.setdefault("claims", [])
    for path, name in _LATER_FIELDS:
        holder = data
        for key in path:
            holder = holder[key]
        if not holder.get(name):
            holder.pop(name, None)
    return data


def _hashed(req: QuoteRequest) -> bytes:
    return msgspec.json.encode(_without_later_empties(req), order="sorted")


def field_error(exc: msgspec.ValidationError, where: str = "", root: Any = None) -> FieldError:
    """A msgspec validation error as the field it names, in the user's words
    (:func:`service.errors.user_message`; ``root`` is the type that was decoded)."""
    text = str(exc)
    path = ""
    if match := _AT.search(text):
        path, text = match["path"], text[: match.start()]
    for pattern, message in ((_MISSING, "required field is missing"), (_UNKNOWN, "unknown field")):
        if found := pattern.fullmatch(text):
            path = f"{path}.{found['name']}" if path else found["name"]
            text = message
    name = f"{where}{path}" if path else (where.rstrip(".") or BODY)
    return FieldError(name, user_message(text, path, root))


def read_item(data: Any, index: int = 0, where: str = "") -> Item:
    """Strictly decode one request (already parsed JSON) or raise naming the field."""
    try:
        request = msgspec.convert(data, QuoteRequest, strict=True)
    except msgspec.ValidationError as exc:
        error = field_error(exc, where, QuoteRequest)
        raise InvalidInputError(
            f"the request is not valid: {error.field}: {error.message}", fields=[error]
        ) from None
    return Item(index, where, request)


# --- rules the API adds to the contract ---------------------------------------------


def _month_of(day: dt.date) -> int:
    """The :func:`month_number` of the month a date falls in. Compared as month numbers,
    not as dates: ``0000-01`` is a valid month string but no ``datetime.date``."""
    return day.year * 12 + day.month - 1


# The float columns of each table: whole numbers, text and dates cannot be infinite.
_FLOATS: Final = {
    table: tuple(c.name for c in spec.columns(table) if c.kind == "float") for table in spec.TABLES
}


def _finite(row: msgspec.Struct, table: str, path: str) -> list[FieldError]:
    names = _FLOATS[table]
    values = [getattr(row, name) for name in names]
    if all(v is None or math.isfinite(v) for v in values):
        return []
    return [
        FieldError(f"{path}.{name}", "must be a finite number")
        for name, v in zip(names, values, strict=True)
        if v is not None and not math.isfinite(v)
    ]


def api_problems(item: Item) -> list[FieldError]:
    """The API's own rules on one decoded request."""
    req, w = item.request, item.where
    site: Any = req.site
    start_month = req.policy.start_month
    start = month_number(start_month)
    problems = _finite(req.site, "sites", f"{w}site")
    seen: dict[str, int] = {}
    for k, row in enumerate(req.months):
        m: Any = row
        path = f"{w}months[{k}]"
        problems += _finite(row, "site_months", path)
        if m.site_id != site.site_id:
            problems.append(
                FieldError(f"{path}.site_id", f"{m.site_id!r} is not site.site_id {site.site_id!r}")
            )
        if month_number(m.month) >= start:
            problems.append(
                FieldError(
                    f"{path}.month",
                    f"{m.month} is not before policy.start_month {start_month}: "
                    "a price may only use data from before its period",
                )
            )
        if m.month in seen:
            problems.append(
                FieldError(
                    f"{path}.month", f"{m.month} appears again (first at months[{seen[m.month]}])"
                )
            )
        seen.setdefault(m.month, k)
    record = req.contractor_record
    if record is not None:
        path = f"{w}contractor_record"
        if record.before_month != start_month:
            problems.append(
                FieldError(
                    f"{path}.before_month",
                    f"{record.before_month} is not policy.start_month {start_month}: the "
                    "record must cover the months before the policy starts",
                )
            )
        if not math.isfinite(record.worker_hours):
            problems.append(FieldError(f"{path}.worker_hours", "must be a finite number"))
        if record.serious_claims > record.claims:
            problems.append(
                FieldError(
                    f"{path}.serious_claims",
                    f"{record.serious_claims} is more than claims ({record.claims})",
                )
            )
    ids: dict[str, int] = {}
    for k, row in enumerate(own_claims(req)):
        c: Any = row
        path = f"{w}claims[{k}]"
        problems += _finite(row, "claims", path)
        if c.site_id != site.site_id:
            problems.append(
                FieldError(f"{path}.site_id", f"{c.site_id!r} is not site.site_id {site.site_id!r}")
            )
        if _month_of(c.incident_date) >= start:
            problems.append(
                FieldError(
                    f"{path}.incident_date",
                    f"{c.incident_date} is not before policy.start_month {start_month}",
                )
            )
        if c.claim_id in ids:
            problems.append(
                FieldError(
                    f"{path}.claim_id",
                    f"{c.claim_id!r} appears again (first at claims[{ids[c.claim_id]}])",
                )
            )
        ids.setdefault(c.claim_id, k)
    for k, row in enumerate(req.other_claims):
        o: Any = row
        if _month_of(o.incident_date) >= start:
            problems.append(
                FieldError(
                    f"{w}other_claims[{k}].incident_date",
                    f"{o.incident_date} is not before policy.start_month {start_month}",
                )
            )
    for k, award in enumerate(req.policy.safety_awards):
        if _month_of(award.awarded_on) >= start:
            problems.append(
                FieldError(
                    f"{w}policy.safety_awards[{k}].awarded_on",
                    f"{award.awarded_on} is not before policy.start_month {start_month}",
                )
            )
    return problems


def _label(month: int) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def policy_problems(item: Item, limits: QuoteLimits, now: dt.datetime) -> list[FieldError]:
    """Whether the data at hand can price this policy at all (the plan's quote limits):
    cover that starts too long after the latest month of data, after the planned end of
    a site that shows no recent work, or, before works start, too far from today."""
    req, w = item.request, item.where
    site: Any = req.site
    field = f"{w}policy.start_month"
    start_month = req.policy.start_month
    start = month_number(start_month)
    works = _month_of(site.start_date)
    planned_end = _month_of(site.planned_end_date)
    ahead = limits.max_months_ahead
    if not req.months:
        today = now.year * 12 + now.month - 1
        if start > works:
            return [
                FieldError(
                    field if item.by_reference else f"{w}months",
                    f"no months of smart-site data before {start_month}: a quote without data "
                    f"must start in or before the month works start ({_label(works)}); send the "
                    "site's months",
                )
            ]
        if start < works - ahead:
            return [
                FieldError(
                    field,
                    f"{start_month} is more than {ahead} months before works start "
                    f"({_label(works)}): a quote before works start covers the months "
                    "just before them",
                )
            ]
        if start > today + ahead:
            return [
                FieldError(
                    field,
                    f"{start_month} is more than {ahead} months after the current month "
                    f"({_label(today)}): too far ahead to price",
                )
            ]
        return []
    rows: list[Any] = list(req.months)
    latest = max(month_number(m.month) for m in rows)
    if start - latest > ahead:
        return [
            FieldError(
                field,
                f"{start_month} is {start - latest} months after the latest month of data "
                f"({_label(latest)}); the rating plan prices at most {ahead} months ahead",
            )
        ]
    if start > planned_end:
        recent = start - limits.overrun_recent_months
        working = [
            m for m in rows if month_number(m.month) >= recent and (m.worker_hours or 0.0) > 0.0
        ]
        if not working:
            return [
                FieldError(
                    field,
                    f"{start_month} is after the site's planned end ({_label(planned_end)}) "
                    f"and the data shows no work in the {limits.overrun_recent_months} months "
                    "before it: only an overrunning site still at work can be priced",
                )
            ]
    return []


# --- the contract -----------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A value as the contract's messages show it."""
    return value.isoformat() if isinstance(value, dt.date) else fmt(value)


_CROSS: Final = {
    table: tuple(
        (r.small, r.large, "is after" if spec.column(table, r.small).kind == "date" else
         "is greater than")
        for r in spec.CROSS_RULES
        if r.table == table
    )
    for table in spec.TABLES
}  # fmt: skip


def _cross(row: Any, table: str, path: str) -> list[FieldError]:
    out = []
    for small, large, verb in _CROSS[table]:
        a, b = getattr(row, small), getattr(row, large)
        if a is not None and b is not None and a > b:
            out.append(
                FieldError(
                    f"{path}.{small}",
                    f"{small} {_shown(a)} {verb} {large} {_shown(b)}",
                )
            )
    return out


def contract_problems(item: Item) -> list[FieldError]:
    """The contract's rules the decoding does not cover, on one decoded request that
    passed :func:`api_problems`: exactly the problems :func:`validate_items` finds."""
    req, w = item.request, item.where
    problems = _cross(req.site, "sites", f"{w}site")
    for k, row in enumerate(req.months):
        problems += _cross(row, "site_months", f"{w}months[{k}]")
    for k, row in enumerate(own_claims(req)):
        problems += _cross(row, "claims", f"{w}claims[{k}]")
    return problems


def internal_site(position: int) -> str:
    return f"q{position}"


@dataclass(frozen=True)
class _Frames:
    sites: pd.DataFrame
    site_months: pd.DataFrame
    claims: pd.DataFrame
    starts: dict[str, np.ndarray]  # table -> first row of each item


def _frames(items: Sequence[Item]) -> _Frames:
    columns = {table: [c.name for c in spec.columns(table)] for table in spec.TABLES}
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in spec.TABLES}
    counts: dict[str, list[int]] = {table: [] for table in spec.TABLES}
    at = {table: {n: i for i, n in enumerate(cols)} for table, cols in columns.items()}
    for pos, item in enumerate(items):
        sid, cid = internal_site(pos), f"c{pos}"
        site = list(msgspec.structs.astuple(item.request.site))
        site[at["sites"]["site_id"]] = sid
        site[at["sites"]["contractor_id"]] = cid
        rows["sites"].append(tuple(site))
        counts["sites"].append(1)
        for m in item.request.months:
            month = list(msgspec.structs.astuple(m))
            month[at["site_months"]["site_id"]] = sid
            rows["site_months"].append(tuple(month))
        counts["site_months"].append(len(item.request.months))
        claims = own_claims(item.request)
        for j, c in enumerate(claims):
            claim = list(msgspec.structs.astuple(c))
            claim[at["claims"]["site_id"]] = sid
            claim[at["claims"]["claim_id"]] = f"{sid}-{j}"
            rows["claims"].append(tuple(claim))
        counts["claims"].append(len(claims))
    frames = {
        table: pd.DataFrame.from_records(rows[table], columns=columns[table])
        for table in spec.TABLES
    }
    starts = {
        table: np.concatenate([[0], np.cumsum(counts[table])[:-1]]).astype(np.int64)
        for table in spec.TABLES
    }
    return _Frames(frames["sites"], frames["site_months"], frames["claims"], starts)


def frames_of(items: Sequence[Item]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The items' rows as unchecked frames (sites, site_months, claims) for
    :func:`models.features.build_features`, each item's site as :func:`internal_site` of
    its position and its own contractor: for items that passed the checks above."""
    frames = _frames(items)
    return frames.sites, frames.site_months, frames.claims


def _place(
    problem: Problem, frames: _Frames, items: Sequence[Item]
) -> list[tuple[int, FieldError]]:
    """Which item(s) a contract problem belongs to, and the field it names there."""
    table = next(t for t, name in TABLE_FIELDS.items() if name == problem.file)
    label = TABLE_FIELDS[table]
    if problem.row is None:  # a whole-table problem cannot be pinned on one item
        return [
            (pos, FieldError(f"{item.where}{label}", problem.message))
            for pos, item in enumerate(items)
        ]
    index = problem.row - 1
    starts = frames.starts[table]
    pos = int(np.searchsorted(starts, index, side="right")) - 1
    local = index - int(starts[pos])
    where = items[pos].where
    path = f"{where}site" if table == "sites" else f"{where}{label}[{local}]"
    column = problem.column
    if column is not None and "," not in column:
        path = f"{path}.{column}"
    return [(pos, FieldError(path, problem.message))]


def validate_items(
    items: Sequence[Item],
) -> tuple[ContractData | None, dict[int, list[FieldError]]]:
    """Check all items against the contract in one pass. Returns the frames (only when
    every item passed; ids are :func:`internal_site` of each position) and the problems
    per position of ``items``."""
    if not items:
        return None, {}
    frames = _frames(items)
    total_rows = len(frames.sites) + len(frames.site_months) + len(frames.claims)
    try:
        data = validate_frames(
            frames.sites,
            frames.site_months,
            frames.claims,
            names=TABLE_FIELDS,
            # Room for every problem of every cell: an item must never pass unseen.
            max_problems=max(50, 4 * total_rows * len(spec.SITE_MONTHS)),
        )
    except ContractError as err:
        found: dict[int, list[FieldError]] = {}
        for problem in err.report.problems:
            for pos, error in _place(problem, frames, items):
                found.setdefault(pos, []).append(error)
        if err.report.more or not found:  # pragma: no cover - the cap above prevents it
            for pos, item in enumerate(items):
                found.setdefault(pos, []).append(
                    FieldError(item.where.rstrip(".") or BODY, "breaks the data contract")
                )
        return None, found
    return data, {}
