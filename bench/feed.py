"""Feed benchmark: a city's worth of smart-site data through the bulk endpoint.

Builds a contract folder of ``--sites`` sites with ``--months`` months each (default
20,000 × 36 = 720,000 site-months) and their claims, starts the service with uvicorn
on SQLite (or ``--database-url``), and pushes the folder with ``siterisk data push``'s
client: the platform key sends sites and months, an insurer key its claims; then pushes
it all again (nothing changes) and times regulator profiles at that scale with a small
model trained on the spot. Prints the figures; asserts nothing.

    make bench-feed                      # 20,000 sites x 36 months
    python -m bench.feed --sites 2000    # a quick run

The synthetic world's sites are active about 15 of 36 months; to reach a full
36-month history per site the bench repeats each site's observed months over the
whole window (values stay within the contract, which is all storage cares about).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def city_folder(folder: Path, sites: int, months: int, seed: int = 5) -> dict[str, int]:
    """Write a contract folder (parquet) of ``sites`` sites with ``months`` months each."""
    from training.synth import generate_world

    world = generate_world(sites, seed=seed, months=months)
    labels = pd.period_range("2023-01", periods=months, freq="M").strftime("%Y-%m")
    observed = world.site_months.sort_values(["site_id", "month"]).reset_index(drop=True)
    ids = world.sites["site_id"].to_numpy()
    first = observed.groupby("site_id", sort=False).indices
    # Every site gets every month: the k-th month repeats its observed rows cyclically.
    take = np.empty(len(ids) * months, dtype=np.int64)
    for i, sid in enumerate(ids):
        rows = first.get(sid)
        if rows is None:  # a site never observed borrows the first site's rows
            rows = next(iter(first.values()))
        take[i * months : (i + 1) * months] = np.resize(np.sort(rows), months)
    full = observed.iloc[take].reset_index(drop=True)
    full["site_id"] = np.repeat(ids, months)
    full["month"] = np.tile(np.asarray(labels), len(ids))
    claims = world.claims
    folder.mkdir(parents=True, exist_ok=True)
    world.sites.to_parquet(folder / "sites.parquet", index=False)
    full.to_parquet(folder / "site_months.parquet", index=False)
    claims.to_parquet(folder / "claims.parquet", index=False)
    return {"sites": len(world.sites), "site_months": len(full), "claims": len(claims)}


def feed_app() -> Any:
    """The service without a model (the feed needs none), for ``uvicorn --factory``."""
    from models.settings import get_settings
    from service.app import create_app

    return create_app(get_settings())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(env: dict[str, str], port: int) -> Iterator[str]:
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.feed:feed_app",
        "--app-dir", str(Path(__file__).resolve().parents[1]),  # bench/ is not installed
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the service did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--chunk-rows", type=int, default=None)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument(
        "--no-again", dest="again", action="store_false", help="skip pushing it all again"
    )
    parser.add_argument(
        "--no-profiles", dest="profiles", action="store_false", help="skip regulator profiles"
    )
    args = parser.parse_args(argv)

    from service.auth.store import ApiKeyStore, KeySpec
    from service.cli.push import DEFAULT_CHUNK_ROWS, push_folder
    from service.db import migrate
    from service.db.engine import Database

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        folder = home / "city"
        began = time.perf_counter()
        counts = city_folder(folder, args.sites, args.months)
        print(
            f"folder: {counts['sites']:,} sites, {counts['site_months']:,} site-months, "
            f"{counts['claims']:,} claims ({time.perf_counter() - began:.1f} s to generate)"
        )
        url = args.database_url or f"sqlite:///{home / 'siterisk.db'}"
        migrate.upgrade(url)
        env = {**os.environ, "SITERISK_HOME": str(home), "DATABASE_URL": url}
        env.setdefault("SITERISK_KEY_PEPPER", "bench-pepper")
        database = Database(url)
        with database.session() as session:
            store = ApiKeyStore(session, env["SITERISK_KEY_PEPPER"])
            platform = store.create(KeySpec.parse("platform")).key
            insurer = store.create(KeySpec.parse("insurer", insurer_id="BENCH")).key
        database.dispose()
        chunk = args.chunk_rows or DEFAULT_CHUNK_ROWS
        with _server(env, _free_port()) as service:
            total = 0.0
            for role, key in (("platform", platform), ("insurer", insurer)):
                began = time.perf_counter()
                summary = push_folder(
                    folder, service, key, chunk_rows=chunk, state=home / f"{role}.json",
                    echo=lambda _line: None,
                )  # fmt: skip
                seconds = time.perf_counter() - began
                total += seconds
                sent = ", ".join(f"{t} {n:,}" for t, n in summary.rows.items())
                print(
                    f"{role:<8}: {sent} in {summary.chunks} chunks of up to {chunk:,} rows: "
                    f"{seconds:.1f} s (local validation {summary.validate_seconds:.1f} s)"
                )
            rows = counts["sites"] + counts["site_months"] + counts["claims"]
            print(
                f"total   : {rows:,} rows in {total:.1f} s ({rows / total:,.0f} rows/s) on "
                f"{os.cpu_count()} CPUs, "
                f"{'SQLite' if url.startswith('sqlite') else url.split(':')[0]}"
            )
            if args.again:
                began = time.perf_counter()
                summary = push_folder(
                    folder, service, platform, chunk_rows=chunk, state=home / "again.json",
                    echo=lambda _line: None,
                )  # fmt: skip
                print(
                    f"again   : the same sites and months pushed again: {summary.unchanged:,} "
                    f"unchanged, {summary.inserted + summary.updated} written, "
                    f"{time.perf_counter() - began:.1f} s"
                )
        if args.profiles:
            _profiles(url)


def _profiles(url: str) -> None:
    """Regulator profiles at city scale, in process: the largest district cold (features
    and grades), its 工地画像 groups (TreeSHAP), then warm; every district cold."""
    from models.contract import validate_frames
    from models.contract.spec import DISTRICTS
    from models.pricing import load_band
    from models.pricing.grades import load_grades
    from service.auth.principal import Principal, Role
    from service.db.engine import Database
    from service.feed import profiles
    from service.model_provider import StaticModelProvider
    from training.fit import FitConfig
    from training.pipeline import train_from_data
    from training.synth import generate_world

    began = time.perf_counter()
    world = generate_world(300, seed=8, months=36)
    data = validate_frames(world.sites, world.site_months, world.claims)
    bundle = train_from_data(data, cfg=FitConfig(max_rounds=300, threads=2)).bundle
    snapshot = StaticModelProvider(bundle).current()
    assert snapshot is not None
    trees = bundle.boosters["frequency"].num_trees()
    print(f"profiles: a model of {trees} frequency trees, {time.perf_counter() - began:.1f} s")
    database = Database(url)
    everyone = Principal(key_id=0, role=Role.regulator, districts=DISTRICTS)
    with database.session() as session:
        service = profiles.ProfileService(session, snapshot, load_grades(), load_band())
        sizes = {d: service.store.district_stamp(d)[0] for d in everyone.districts}
        biggest = max(sizes, key=lambda d: sizes[d])
        some = str(service.store.district_data(biggest)[0]["site_id"].iloc[0])
        for label in ("cold", "warm"):
            began = time.perf_counter()
            service.profile(some, everyone)
            seconds = time.perf_counter() - began
            where = f"{biggest} ({sizes[biggest]:,} sites)"
            print(f"profiles: a profile in {where}, {label}: {seconds:.2f} s")
        profiles._cache.clear()
        began = time.perf_counter()
        page = service.page(everyone, district=None, grade="E", limit=100, offset=0)
        seconds = time.perf_counter() - began
        print(
            f"profiles: the {page.total:,} sites graded E among all {sum(sizes.values()):,}, "
            f"cold: {seconds:.1f} s"
        )
        began = time.perf_counter()
        service.page(everyone, district=None, grade="E", limit=100, offset=0)
        print(f"profiles: the same, warm: {time.perf_counter() - began:.2f} s")
    database.dispose()


if __name__ == "__main__":
    main()
