"""Class percentiles in the bundle (issue 19): a site's predicted rate is ranked only
among the reference peers of its own project type and stage, and a bundle without
class rates (made before them) ranks nobody rather than falling back to all peers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import features as fdef
from models.bundle import CLASS_MIN_SITES, ModelBundle, class_name, feature_class
from models.contract import ContractData, validate_frames
from training.dataset import build_dataset
from training.fit import FitConfig
from training.outcome import TrainOutcome
from training.pipeline import PEER_MONTHS, modelling_rows, train_from_data
from training.synth import generate_world

FAST = FitConfig(max_rounds=200, early_stopping=20)


@pytest.fixture(scope="module")
def world() -> ContractData:
    w = generate_world(300, seed=11, months=24)
    return validate_frames(w.sites, w.site_months, w.claims)


@pytest.fixture(scope="module")
def outcome(world: ContractData) -> TrainOutcome:
    return train_from_data(world, cfg=FAST)


@pytest.fixture(scope="module")
def table(world: ContractData, outcome: TrainOutcome) -> pd.DataFrame:
    """The latest months' modelling rows, their class and predicted rate."""
    ds = build_dataset(world)
    frame = modelling_rows(ds)
    recent = frame[frame["month"].isin(set(ds.months[-PEER_MONTHS:]))]
    classes = [
        feature_class(t, s)
        for t, s in zip(recent["project_type"], recent["stage_last"], strict=True)
    ]
    return pd.DataFrame(
        {
            "class": [None if c is None else class_name(*c) for c in classes],
            "site_id": recent["site_id"].to_numpy(),
            "rate": outcome.bundle.loss_rate(fdef.to_matrix(recent)),
        }
    ).dropna(subset=["class"])


def test_training_keeps_each_class_s_rates_and_sites(
    outcome: TrainOutcome, table: pd.DataFrame
) -> None:
    meta = outcome.bundle.meta
    assert set(meta.class_rates) == set(table["class"])
    for name, group in table.groupby("class"):
        assert meta.class_sites[str(name)] == group["site_id"].nunique()
        q = np.asarray(meta.class_rates[str(name)])
        assert q[0] == pytest.approx(group["rate"].min(), rel=1e-9)
        assert q[-1] == pytest.approx(group["rate"].max(), rel=1e-9)


def test_a_rate_is_ranked_among_its_own_class_only(
    outcome: TrainOutcome, table: pd.DataFrame
) -> None:
    bundle = outcome.bundle
    ranked = [
        str(name)
        for name, group in table.groupby("class")
        if group["site_id"].nunique() >= CLASS_MIN_SITES
    ]
    medians = {name: float(table[table["class"] == name]["rate"].median()) for name in ranked}
    # the two ranked classes whose median rates lie furthest apart
    low = min(medians, key=medians.__getitem__)
    high = max(medians, key=medians.__getitem__)
    assert medians[low] < medians[high]
    rate = medians[low]
    classes = [tuple(low.split("/")), tuple(high.split("/"))]
    got = bundle.class_percentile(np.array([rate, rate]), classes)  # type: ignore[arg-type]
    for name, pct in zip((low, high), got, strict=True):
        peers = table[table["class"] == name]["rate"].to_numpy()
        share = 100.0 * float(np.mean(peers < rate))
        assert abs(pct - share) <= 2.0, (name, pct, share)
    # the same rate: about the middle of its own class, safer than most of the other
    assert got[0] == pytest.approx(50.0, abs=2.0)
    assert got[1] < got[0] - 10.0


def test_unknown_or_small_classes_have_no_percentile(outcome: TrainOutcome) -> None:
    bundle = outcome.bundle
    rate = np.array([float(np.median(bundle.meta.peer_rates))] * 3)
    small = [n for n, k in bundle.meta.class_sites.items() if k < CLASS_MIN_SITES]
    absent = ("residential", "no_such_stage")
    classes = [None, absent, tuple(small[0].split("/")) if small else absent]
    got = bundle.class_percentile(rate, classes)  # type: ignore[arg-type]
    assert all(math.isnan(v) for v in got)
    with pytest.raises(ValueError, match="one class per rate"):
        bundle.class_percentile(rate, classes[:2])  # type: ignore[arg-type]


def test_a_bundle_without_class_rates_ranks_nobody(outcome: TrainOutcome, tmp_path: Path) -> None:
    bundle = outcome.bundle
    name = max(bundle.meta.class_sites, key=bundle.meta.class_sites.__getitem__)
    site_class = tuple(name.split("/"))
    rate = np.array([float(np.median(bundle.meta.class_rates[name]))])
    saved = bundle.save(tmp_path / "now")
    again = ModelBundle.load(saved)
    assert again.class_percentile(rate, [site_class]).tolist() == (  # type: ignore[list-item]
        bundle.class_percentile(rate, [site_class]).tolist()  # type: ignore[list-item]
    )
    meta_file = saved / "bundle.json"
    raw = json.loads(meta_file.read_text())
    del raw["class_rates"], raw["class_sites"]
    meta_file.write_text(json.dumps(raw))
    old = ModelBundle.load(saved)
    assert math.isnan(old.class_percentile(rate, [site_class])[0])  # type: ignore[list-item]
    # the all-peers percentile is still there, and is not used instead
    assert not math.isnan(old.percentile(rate)[0])
