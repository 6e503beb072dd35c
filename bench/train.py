"""Training benchmark: time and peak memory to generate, train (with MLflow logging)
and score at 360k and 1M site-months, and to score a batch of 100k site-months with the
model trained on the 360k world. Prints figures; asserts nothing.

    make bench-train            # both sizes
    python -m bench.train --sites 10000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Sites start and finish inside the 36 months: about 15 active months a site.
SIZES = {"360k": 24_000, "1M": 66_000}
SCORED = 100_000  # site-months in the batch scoring step (from the first world)


def _child(step: str, sites: int, folder: Path, home: Path) -> dict[str, float]:
    code = f"""
import json, resource, time, sys
from pathlib import Path
t = time.perf_counter()
step, folder, sites, rows = {step!r}, Path({str(folder)!r}), {sites}, 0
if step == "generate":
    from training.synth import generate_world, write_world
    write_world(generate_world(sites, seed=11), folder, fmt="parquet")
elif step == "train":
    from models.settings import Settings
    from training.pipeline import run_training
    run_training(folder, Settings(home=Path({str(home)!r})))
elif step in ("score", "score-100k"):
    from models.contract import ContractData, load_folder
    from models.mlflow_model import load_bundle
    from models.settings import Settings
    from training import tracking
    from training.score import score_data
    s = Settings(home=Path({str(home)!r}))
    tracking.configure(s)
    bundle = load_bundle("models:/site-risk@challenger")
    if step == "score-100k":
        # a world of its own, a little over 100k site-months, not seen in training;
        # whole sites until 100k site-months, their claims with them
        from models.contract import validate_frames
        from training.synth import generate_world
        w = generate_world({SCORED} // 14, seed=12)
        data = validate_frames(w.sites, w.site_months, w.claims)
        counts = data.site_months.groupby("site_id", sort=False).size().cumsum()
        keep = set(counts[counts <= {SCORED}].index)
        sm = data.site_months[data.site_months["site_id"].isin(keep)].head({SCORED})
        data = ContractData(sites=data.sites[data.sites["site_id"].isin(keep)],
                            site_months=sm,
                            claims=data.claims[data.claims["site_id"].isin(keep)])
        t = time.perf_counter()  # the scoring alone: features, both boosters
    else:
        data = load_folder(folder)
    out = score_data(data, bundle)
    rows = len(out)
    assert rows > 0
print(json.dumps({{"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    env = {**os.environ, "SITERISK_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, action="append", help="sites per world")
    args = parser.parse_args()
    sizes = {f"{n} sites": n for n in args.sites} if args.sites else SIZES
    print(f"cores: {os.cpu_count()}  date: {time.strftime('%Y-%m-%d')}", flush=True)
    for n, (label, sites) in enumerate(sizes.items()):
        with tempfile.TemporaryDirectory() as tmp:
            folder, home = Path(tmp) / "world", Path(tmp) / "home"
            steps = ["generate", "train", "score"] + (["score-100k"] if n == 0 else [])
            for step in steps:
                r = _child(step, sites, folder, home)
                print(
                    f"{label:>12} {step:>10}: {r['seconds']:7.1f} s   "
                    f"peak RSS {r['peak_rss_mb']:7.0f} MB"
                    + (f"   {int(r['rows']):,} rows" if r.get("rows") else ""),
                    flush=True,
                )


if __name__ == "__main__":
    main()
