"""Pricing in-process, timed and profiled: what a quote costs besides HTTP.

A complete quote here is what the endpoint does between reading JSON and writing it:
strict decoding, every check, features, scoring, exact TreeSHAP, recommendations,
incentives, the answer's facts, storing them (SQLite, committed), and the answer's
texts in one language (zh) and encoding it. Its
CPU time is measured on the calling thread, and so is the model's own TreeSHAP
(``pred_contrib``) inside it: the difference is the service's overhead. A portfolio is
also priced once under tracemalloc for its Python memory: the peak while pricing and
what the answers keep.

    make bench-profile                  # timings and pyinstrument profiles
    python -m bench.profile --singles 300 --batch 1000
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from bench.model import ensure_champion
from bench.world import Requests, quote_requests
from models.bundle import ModelBundle
from models.settings import get_settings
from service.auth.principal import Principal, Role
from service.auth.store import ApiKeyStore, KeySpec
from service.db import migrate
from service.db.engine import Database
from service.model_provider import ModelSnapshot, StaticModelProvider
from service.quotes.intake import read_item
from service.quotes.pricing_service import PricedQuote, QuotePricer
from service.quotes.store import QuoteStore
from service.quotes.texts import render


@dataclass
class _Clock:
    """Thread CPU seconds spent in the model's TreeSHAP while it is installed."""

    spent: float = 0.0


@contextmanager
def _timed_contributions(bundle: ModelBundle, clock: _Clock) -> Iterator[None]:
    original = bundle.contributions

    def timed(x: np.ndarray, **kwargs: Any) -> np.ndarray:
        started = time.thread_time()
        try:
            return original(x, **kwargs)
        finally:
            clock.spent += time.thread_time() - started

    bundle.contributions = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        del bundle.contributions


@contextmanager
def _frozen_start_up() -> Iterator[None]:
    """What a server's worker does once started (service.app, freeze_after_start): what
    start-up made, the model included, out of the garbage collector's sight."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Pipeline:
    """Decode, price, store and encode, as ``POST /v1/quotes`` and ``/batch`` do."""

    def __init__(self, bundle: ModelBundle, folder: Path) -> None:
        provider = StaticModelProvider(bundle, name="site-risk", version="bench")
        snapshot = provider.current()
        assert snapshot is not None
        self.snapshot: ModelSnapshot = snapshot
        self.pricer = QuotePricer()
        url = f"sqlite:///{folder / 'bench.db'}"
        migrate.upgrade(url)
        self.db = Database(url)
        with self.db.session() as session:
            key = ApiKeyStore(session, "bench").create(KeySpec.parse("insurer", insurer_id="bench"))
        self.principal = Principal(key_id=key.row.id or 0, role=Role.insurer, insurer_id="bench")

    def quote(self, body: dict[str, Any]) -> bytes:
        (outcome,) = self.pricer.price([read_item(body)], self.snapshot)
        assert isinstance(outcome, PricedQuote), outcome
        with self.db.session() as session:
            QuoteStore(session).save([outcome], self.principal)
        return msgspec.json.encode(render(outcome.response, "zh"))

    def batch(self, body: dict[str, Any]) -> bytes:
        items = [read_item(raw, i, f"items[{i}].") for i, raw in enumerate(body["items"])]
        outcomes = self.pricer.price(items, self.snapshot)
        priced = [o for o in outcomes if isinstance(o, PricedQuote)]
        assert len(priced) == len(items)
        with self.db.session() as session:
            QuoteStore(session).save(priced, self.principal)
        return msgspec.json.encode([render(o.response, "zh") for o in priced])


def _ms(values: list[float], q: float) -> float:
    return 1e3 * float(np.percentile(values, q))


def measure(
    bundle: ModelBundle, requests: Requests, *, singles: int = 300, batch: int = 1000
) -> dict[str, Any]:
    """Per-quote thread CPU and wall time, TreeSHAP's share, and one batch."""
    with tempfile.TemporaryDirectory() as tmp:
        pipe = _Pipeline(bundle, Path(tmp))
        bodies = requests.bodies[:singles]
        for body in bodies[:20]:  # warm caches and lazy imports
            pipe.quote(body)
        cpu, wall, shap, overhead = [], [], [], []
        clock = _Clock()
        with _frozen_start_up(), _timed_contributions(bundle, clock):
            for body in bodies:
                clock.spent = 0.0
                started, started_cpu = time.perf_counter(), time.thread_time()
                pipe.quote(body)
                cpu.append(time.thread_time() - started_cpu)
                wall.append(time.perf_counter() - started)
                shap.append(clock.spent)
                overhead.append(cpu[-1] - clock.spent)
        portfolio = requests.batch(batch)
        with _frozen_start_up():
            started, started_cpu = time.perf_counter(), time.process_time()
            pipe.batch(portfolio)
            batch_wall = time.perf_counter() - started
            batch_cpu = time.process_time() - started_cpu
        pipe.db.dispose()
    return {
        "singles": len(bodies),
        "single_cpu_ms": {"median": _ms(cpu, 50), "p99": _ms(cpu, 99)},
        "single_wall_ms": {"median": _ms(wall, 50), "p99": _ms(wall, 99)},
        "treeshap_cpu_ms": {"median": _ms(shap, 50)},
        "overhead_cpu_ms": {"median": _ms(overhead, 50), "p99": _ms(overhead, 99)},
        "batch_sites": batch,
        "batch_wall_s": batch_wall,
        "batch_cpu_s": batch_cpu,
    }


def portfolio_memory(
    bundle: ModelBundle, requests: Requests, *, sites: int = 1000
) -> dict[str, float]:
    """Python memory (tracemalloc, MB) of pricing one portfolio: its peak while pricing
    and what the priced answers keep. Separate from the timings: tracing slows it."""
    import tracemalloc

    items = [
        read_item(raw, i, f"items[{i}].") for i, raw in enumerate(requests.batch(sites)["items"])
    ]
    with tempfile.TemporaryDirectory() as tmp:
        pipe = _Pipeline(bundle, Path(tmp))
        pipe.pricer.price(items[:20], pipe.snapshot)  # warm caches and lazy imports
        pipe.db.dispose()
    tracemalloc.start()
    try:
        outcomes = pipe.pricer.price(items, pipe.snapshot)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(outcomes) == sites
    return {"portfolio_sites": sites, "peak_mb": peak / 2**20, "answers_mb": kept / 2**20}


def profiles(
    bundle: ModelBundle, requests: Requests, out: Path, *, singles: int = 200
) -> dict[str, str]:
    """pyinstrument profiles of ``singles`` quotes and of one 1,000-site batch."""
    from pyinstrument import Profiler

    written = {}
    with tempfile.TemporaryDirectory() as tmp:
        pipe = _Pipeline(bundle, Path(tmp))
        for body in requests.bodies[:20]:
            pipe.quote(body)
        runs: dict[str, Callable[[], object]] = {
            "single": lambda: [pipe.quote(b) for b in requests.bodies[:singles]],
            "batch": lambda: pipe.batch(requests.batch(1000)),
        }
        for name, run in runs.items():
            profiler = Profiler(interval=0.0005)
            with _frozen_start_up():
                profiler.start()
                run()
                profiler.stop()
            path = out / f"profile-{time.strftime('%Y-%m-%d')}-{name}.txt"
            path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
            written[name] = str(path)
        pipe.db.dispose()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    settings = get_settings()
    out = settings.home / "bench"
    out.mkdir(parents=True, exist_ok=True)
    champion, bundle = ensure_champion(settings)
    print(f"model: {champion.describe()}")
    requests = quote_requests(max(args.singles, 200))
    figures = measure(bundle, requests, singles=args.singles, batch=args.batch)
    figures["memory"] = portfolio_memory(bundle, requests, sites=args.batch)
    print(json.dumps(figures, indent=1))
    if not args.no_profile:
        for name, path in profiles(bundle, requests, out).items():
            print(f"{name} profile: {path}")
    print(
        f"single quote: {figures['single_cpu_ms']['median']:.2f} ms CPU median, of which "
        f"TreeSHAP {figures['treeshap_cpu_ms']['median']:.2f} ms; overhead "
        f"{figures['overhead_cpu_ms']['median']:.2f} ms; batch of {args.batch}: "
        f"{figures['batch_wall_s']:.2f} s, Python memory at its peak "
        f"{figures['memory']['peak_mb']:.0f} MB (answers {figures['memory']['answers_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
