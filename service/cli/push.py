"""``siterisk data push``: send a contract folder to the service's feed in bounded
chunks, resumably.

The key decides what is sent (``/v1/whoami``): a platform key sends ``sites`` then
``site_months``, an insurer key its ``claims``. The folder is checked locally first
with the contract loader, then each table goes in chunks of ``chunk_rows`` rows as
Parquet to ``POST /v1/feed/bulk``; the service checks each chunk again (against the
sites it already stores) and stores it whole or not at all.

Every chunk the service confirmed is written to a state file (default under
``$SITERISK_HOME/push/``), keyed by the chunk's table, position and content hash. After
a failure the same command resumes after the last confirmed chunk; a chunk whose data
changed meanwhile is sent again. Sending a chunk twice is harmless anyway: the feed
stores a row again only when it differs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
import pandas as pd

from models.contract import ContractData, Problem, ProblemReport, load_files, load_folder, spec
from models.contract.load import FORMATS

DEFAULT_CHUNK_ROWS: Final = 50_000
FEEDS: Final[dict[str, tuple[str, ...]]] = {
    "platform": ("sites", "site_months"),
    "insurer": ("claims",),
}
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
PARQUET: Final = "application/vnd.apache.parquet"

Echo = Callable[[str], None]


class PushError(Exception):
    """The push stopped; the message says why and how to go on."""

    def __init__(self, message: str, report: ProblemReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class PushSummary:
    role: str
    rows: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    skipped: int = 0  # chunks confirmed by an earlier run
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    validate_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


def default_state(folder: Path, url: str, key: str) -> Path:
    from models.settings import get_settings

    tag = hashlib.sha256(f"{folder.resolve()}\n{url}\n{key}".encode()).hexdigest()[:16]
    return get_settings().home / "push" / f"{tag}.json"


def _read_state(path: Path) -> set[str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        raise PushError(f"cannot read the push state {path}: {exc}; use --restart") from None
    return {str(c) for c in raw.get("confirmed", [])}


def _write_state(path: Path, confirmed: set[str], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**meta, "confirmed": sorted(confirmed)}, indent=1))
    os.replace(tmp, path)  # a crash mid-write never leaves half a state


def _local_check(folder: Path, tables: tuple[str, ...]) -> ContractData:
    """The whole folder as ``siterisk data validate`` checks it when it holds every
    table; otherwise the tables this key sends (references are then the service's)."""
    present = {
        table: folder / f"{table}{ext}"
        for table in spec.TABLES
        for ext in FORMATS
        if (folder / f"{table}{ext}").is_file()
    }
    if len(present) == len(spec.TABLES):
        return load_folder(folder)
    mine = {t: p for t, p in present.items() if t in tables or t == "sites"}
    if not any(t in tables for t in mine):
        wanted = " or ".join(f"{t}.csv/.parquet" for t in tables)
        raise PushError(f"{folder} holds nothing this key may send: no {wanted}")
    return load_files(mine)


def _chunk_id(table: str, index: int, part: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(part, index=False).to_numpy(np.uint64)
    return f"{table}:{index}:{hashlib.sha256(hashed.tobytes()).hexdigest()[:16]}"


def _parquet(part: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    part.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _report(body: dict[str, Any], source: str, offset: int) -> ProblemReport | None:
    """The service's problem report, with rows counted in the source file."""
    raw = (body.get("error") or {}).get("report")
    if not isinstance(raw, dict):
        return None
    problems = tuple(
        Problem(
            source,
            None if p.get("row") is None else int(p["row"]) + offset,
            p.get("column"),
            str(p.get("rule", "")),
            str(p.get("message", "")),
        )
        for p in raw.get("problems", [])
    )
    return ProblemReport(problems, int(raw.get("total", len(problems))))


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


def _send(
    client: httpx.Client, table: str, payload: bytes, retries: int, echo: Echo
) -> httpx.Response:
    delay = 1.0
    for attempt in range(retries + 1):
        try:
            response = client.post(
                "/v1/feed/bulk", files={table: (f"{table}.parquet", payload, PARQUET)}
            )
        except httpx.TransportError as exc:
            if attempt == retries:
                raise PushError(f"the service did not answer: {exc}") from None
            echo(f"  no answer ({exc.__class__.__name__}); trying again in {delay:.0f} s")
        else:
            if response.status_code not in RETRY_STATUSES or attempt == retries:
                return response
            wait = response.headers.get("Retry-After", "")
            delay = max(delay, float(wait)) if wait.isdigit() else delay
            echo(f"  {response.status_code} {_message(response)}; trying again in {delay:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")  # pragma: no cover


def push_folder(
    folder: Path,
    url: str,
    key: str,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    state: Path | None = None,
    restart: bool = False,
    retries: int = 3,
    timeout: float = 600.0,
    echo: Echo = print,
    transport: httpx.BaseTransport | None = None,
) -> PushSummary:
    """Send the tables ``key`` may feed from ``folder``; raise :class:`PushError` (or
    :class:`~models.contract.ContractError` for a folder that breaks the contract)."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(
        base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
    ) as client:
        try:
            who = client.get("/v1/whoami")
        except httpx.TransportError as exc:
            raise PushError(f"cannot reach {url}: {exc}") from None
        if who.status_code != 200:
            raise PushError(f"{url} refused the key: {who.status_code} {_message(who)}")
        role = str(who.json().get("role"))
        tables = FEEDS.get(role)
        if tables is None:
            raise PushError(f"a {role} key feeds no data; use a platform or insurer key")
        summary = PushSummary(role=role)
        began = time.perf_counter()
        data = _local_check(Path(folder), tables)
        summary.validate_seconds = time.perf_counter() - began
        summary.warnings = list(data.warnings)
        took = f"{summary.validate_seconds:.1f} s"
        echo(f"✓ {folder} checked locally ({took}); sending {', '.join(tables)}")

        state = state or default_state(Path(folder), url, key)
        confirmed = set() if restart else _read_state(state)
        meta = {"folder": str(Path(folder).resolve()), "url": url, "role": role}
        plan = []
        for table in tables:
            frame: pd.DataFrame = getattr(data, table)
            source = data.sources[table].name if table in data.sources else table
            summary.rows[table] = len(frame)
            for index, start in enumerate(range(0, len(frame), chunk_rows)):
                plan.append((table, source, index, start, frame.iloc[start : start + chunk_rows]))
        if confirmed:
            echo(f"  resuming from {state}")
        for n, (table, source, index, start, part) in enumerate(plan, start=1):
            chunk = _chunk_id(table, index, part)
            where = f"[{n}/{len(plan)}] {table} rows {start + 1:,}–{start + len(part):,}"
            if chunk in confirmed:
                summary.skipped += 1
                echo(f"{where}: confirmed earlier, skipped")
                continue
            sent = time.perf_counter()
            resume = (
                f"{len(confirmed)} chunk(s) confirmed so far; the same command resumes from {state}"
            )
            try:
                response = _send(client, table, _parquet(part), retries, echo)
            except PushError as exc:
                raise PushError(f"{where}: {exc} ({resume})") from None
            if response.status_code != 200:
                report = None
                if response.status_code == 422:
                    report = _report(response.json(), source, start)
                raise PushError(
                    f"{where}: {response.status_code} {_message(response)} ({resume} "
                    "once it is fixed)",
                    report,
                )
            result = response.json()["tables"][table]
            summary.chunks += 1
            summary.inserted += int(result["inserted"])
            summary.updated += int(result["updated"])
            summary.unchanged += int(result["unchanged"])
            confirmed.add(chunk)
            _write_state(state, confirmed, meta)
            echo(
                f"{where}: {result['inserted']:,} new, {result['updated']:,} corrected, "
                f"{result['unchanged']:,} unchanged ({time.perf_counter() - sent:.1f} s)"
            )
    # Everything is confirmed: a later push of this folder starts afresh.
    state.unlink(missing_ok=True)
    return summary
