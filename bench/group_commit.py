"""Storing quotes from concurrent requests: each committed alone, or grouped.

Worker processes of threads that each store quotes one request at a time, as
``POST /v1/quotes`` does (``QuoteStore.save``), into one SQLite file in WAL mode with
``synchronous=NORMAL`` (the service's settings), once with every save committing alone
and once through :class:`service.db.group_commit.GroupCommitter`. The quotes are priced
once beforehand and stored under new ids, so the figures are the storage path alone:
quotes stored per second, COMMITs sent per quote (the engine's own events), and the
wall time of one save. ``--price`` prices each quote in its thread before storing it,
as a request does, so that saves meet the way they do in the service.

    python -m bench.group_commit --processes 2 --threads 8 --saves 4000 --rounds 2
    python -m bench.group_commit --processes 2 --threads 4 --saves 1600 --price --rounds 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import event

from bench.model import ensure_champion
from bench.world import quote_requests
from models.settings import get_settings
from service.auth.principal import Principal, Role
from service.auth.store import ApiKeyStore, KeySpec
from service.db import migrate
from service.db.engine import Database
from service.db.group_commit import GroupCommitter
from service.model_provider import ModelSnapshot, StaticModelProvider
from service.quotes.intake import read_item
from service.quotes.pricing_service import PricedQuote, QuotePricer
from service.quotes.store import QuoteStore

# What forked workers inherit (set before they start).
_QUOTES: list[PricedQuote] = []
_BODIES: list[dict[str, Any]] = []
_SNAPSHOT: ModelSnapshot | None = None


def _renamed(quote: PricedQuote) -> PricedQuote:
    """The same quote under a new id, so one priced quote can be stored many times."""
    response = msgspec.structs.replace(quote.response, quote_id=str(uuid.uuid4()))
    return dataclasses.replace(quote, response=response)


def _worker(url: str, principal: Principal, threads: int, saves: int, grouped: bool, price: bool,
            out: Any) -> None:  # fmt: skip
    """One worker process: ``threads`` threads storing ``saves`` quotes between them."""
    database = Database(url)
    commits = [0]
    event.listen(database.engine, "commit", lambda _c: commits.__setitem__(0, commits[0] + 1))
    writer = GroupCommitter() if grouped else None
    pricer = QuotePricer()
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def run(t: int) -> None:
        mine = []
        start.wait()
        for i in range(t, saves, threads):
            if price:
                assert _SNAPSHOT is not None
                (quote,) = pricer.price([read_item(_BODIES[i % len(_BODIES)])], _SNAPSHOT)
                assert isinstance(quote, PricedQuote)
            else:
                quote = _renamed(_QUOTES[i % len(_QUOTES)])
            began = time.perf_counter()
            with database.session() as session:
                QuoteStore(session, writer).save([quote], principal)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - began
    if writer is not None:
        writer.close()
    database.dispose()
    out.put({"wall": wall, "commits": commits[0], "latencies": latencies})


def run(folder: Path, *, processes: int, threads: int, saves: int, grouped: bool,
        price: bool) -> dict[str, Any]:  # fmt: skip
    """One mode on a fresh database: quotes/s, COMMITs per quote, save wall times."""
    url = f"sqlite:///{folder / ('grouped.db' if grouped else 'alone.db')}"
    migrate.upgrade(url)
    database = Database(url)
    with database.session() as session:
        key = ApiKeyStore(session, "bench").create(KeySpec.parse("insurer", insurer_id="bench"))
    database.dispose()
    principal = Principal(key_id=key.row.id or 0, role=Role.insurer, insurer_id="bench")
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    each = saves // processes
    workers = [
        context.Process(target=_worker, args=(url, principal, threads, each, grouped, price, out))
        for _ in range(processes)
    ]
    began = time.perf_counter()
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    wall = time.perf_counter() - began
    latencies = [x for r in results for x in r["latencies"]]
    commits = sum(r["commits"] for r in results)
    stored = each * processes
    return {
        "mode": "grouped" if grouped else "alone",
        "quotes": stored,
        "quotes_per_s": stored / wall,
        "commits_per_quote": commits / stored,
        "save_ms": {
            "mean": 1e3 * float(np.mean(latencies)),
            "p50": 1e3 * float(np.percentile(latencies, 50)),
            "p99": 1e3 * float(np.percentile(latencies, 99)),
        },
    }


def main() -> None:
    global _SNAPSHOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--saves", type=int, default=4000, help="quotes stored in each mode")
    parser.add_argument("--price", action="store_true", help="price each quote in its thread")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode, alternated")
    args = parser.parse_args()
    _, bundle = ensure_champion(get_settings())
    _SNAPSHOT = StaticModelProvider(bundle, name="site-risk", version="bench").current()
    assert _SNAPSHOT is not None
    _BODIES.extend(quote_requests(200).bodies)
    outcomes = QuotePricer().price([read_item(b, i) for i, b in enumerate(_BODIES)], _SNAPSHOT)
    _QUOTES.extend(o for o in outcomes if isinstance(o, PricedQuote))
    figures = []
    # alternating which mode goes first, so a change of the machine's load between
    # rounds does not favour one
    for r in range(args.rounds):
        for grouped in (False, True) if r % 2 == 0 else (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                figures.append(
                    run(
                        Path(tmp),
                        processes=args.processes,
                        threads=args.threads,
                        saves=args.saves,
                        grouped=grouped,
                        price=args.price,
                    )
                )
    print(json.dumps({"args": vars(args), "figures": figures}, indent=1))
    for f in figures:
        print(
            f"{f['mode']:>7}: {f['quotes_per_s']:7.0f} quotes/s, "
            f"{f['commits_per_quote']:.3f} commits/quote, save mean {f['save_ms']['mean']:.2f} ms "
            f"p50 {f['save_ms']['p50']:.2f} ms "
            f"p99 {f['save_ms']['p99']:.2f} ms ({args.processes} processes x {args.threads} "
            f"threads, {f['quotes']} quotes{', priced in the threads' if args.price else ''})"
        )


if __name__ == "__main__":
    main()
