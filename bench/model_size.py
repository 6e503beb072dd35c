"""Model size against accuracy and explanation cost: the default training configuration
and issue 9's reference size (300 trees × 31 leaves, fixed rounds) trained on the same
synthetic world, with the test months' Gini, the share of the oracle's Gini, and
TreeSHAP CPU time a row. Prints one JSON line a configuration; asserts nothing.

    python -m bench.model_size --sites 6000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.model import REFERENCE_FIT
from models.contract import load_folder
from training.dataset import read_truth
from training.fit import FitConfig
from training.pipeline import train_from_data
from training.synth import generate_world, write_world

METRICS = ("normalized_gini", "gini_share_of_oracle", "spearman_truth", "deviance", "ae")


def compare(sites: int, seed: int, rows: int) -> list[dict[str, object]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "world"
        write_world(generate_world(sites, seed=seed), folder, fmt="parquet")
        data, truth = load_folder(folder), read_truth(folder)
        for name, cfg in (("default", FitConfig()), ("reference", REFERENCE_FIT)):
            started = time.perf_counter()
            trained = train_from_data(data, cfg=cfg, truth=truth)
            seconds = time.perf_counter() - started
            bundle = trained.bundle
            x = trained.test_frame[list(bundle.meta.feature_names)].to_numpy(np.float64)[:rows]
            cpu = time.thread_time()
            for i in range(len(x)):  # one row a call, as a quote explains
                bundle.contributions(x[i : i + 1], threads=1)
            treeshap_ms = (time.thread_time() - cpu) / max(1, len(x)) * 1e3
            metrics = trained.evaluation.metrics["model"]
            out.append(
                {
                    "config": name,
                    "structure": bundle.meta.structure,
                    "trees": {n: b.num_trees() for n, b in bundle.boosters.items()},
                    "train_seconds": round(seconds, 1),
                    "treeshap_cpu_ms_per_row": round(treeshap_ms, 3),
                    **{k: round(float(metrics[k]), 4) for k in METRICS if k in metrics},
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--rows", type=int, default=2000, help="test rows explained")
    args = parser.parse_args()
    for line in compare(args.sites, args.seed, args.rows):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
