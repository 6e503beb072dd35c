"""From a validated contract folder to the modelling table: one row per site-month
with features known before that month, its worker-hours and what it cost."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.contract import ContractData
from models.features import build_features


class TrainingDataError(ValueError):
    """The data is valid by contract but cannot train a model (too short, no claims...)."""


@dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame  # site_id, month, exposure, features..., loss, claims
    months: tuple[str, ...]
    # claims whose incident month has no site_months row: they cannot be learned from
    # (no exposure to set them against) but still count in claims-history features
    unmatched_claims: int = 0
    unmatched_loss: float = 0.0

    def rows(self, months: set[str]) -> pd.DataFrame:
        return self.frame[self.frame["month"].isin(months)]


def claims_by_month(claims: pd.DataFrame) -> pd.DataFrame:
    """Incurred loss (paid + reserve) and claim counts per site and incident month."""
    if claims.empty:
        return pd.DataFrame({"site_id": [], "month": [], "loss": [], "claims": []})
    incurred = claims["paid_cny"].astype("float64") + claims["reserve_cny"].astype("float64")
    month = pd.to_datetime(claims["incident_date"]).dt.strftime("%Y-%m")
    return (
        pd.DataFrame({"site_id": claims["site_id"].astype(str), "month": month, "loss": incurred})
        .groupby(["site_id", "month"], as_index=False)
        .agg(loss=("loss", "sum"), claims=("loss", "size"))
    )


def build_dataset(data: ContractData) -> Dataset:
    features = build_features(data.sites, data.site_months, data.claims)
    target = claims_by_month(data.claims)
    frame = features.merge(target, on=["site_id", "month"], how="left", validate="one_to_one")
    frame["loss"] = frame["loss"].fillna(0.0).astype("float64")
    frame["claims"] = frame["claims"].fillna(0).astype("float64")
    months = tuple(sorted(frame["month"].unique()))
    matched = target.merge(frame[["site_id", "month"]], on=["site_id", "month"], how="left",
                           indicator=True)  # fmt: skip
    lost = matched[matched["_merge"] == "left_only"]
    return Dataset(
        frame=frame,
        months=months,
        unmatched_claims=int(lost["claims"].sum()),
        unmatched_loss=float(lost["loss"].sum()),
    )


@dataclass(frozen=True)
class TimeSplit:
    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]

    def describe(self) -> dict[str, str]:
        return {
            f"{name}_months": f"{part[0]}..{part[-1]} ({len(part)})"
            for name, part in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }


MIN_MONTHS = 9


def split_by_time(months: tuple[str, ...], test_share: float = 1 / 6) -> TimeSplit:
    """Last months for test, the ones before for early stopping, the rest to learn from.
    Never random: every row of a month falls in one part."""
    n = len(months)
    if n < MIN_MONTHS:
        raise TrainingDataError(
            f"too few months to split by time: {n} month(s) of site_months, need at least "
            f"{MIN_MONTHS} (train, validation and test months must not overlap)"
        )
    n_test = max(1, round(n * test_share))
    n_valid = n_test
    return TimeSplit(
        train=months[: n - n_test - n_valid],
        valid=months[n - n_test - n_valid : n - n_test],
        test=months[n - n_test :],
    )


def check_trainable(ds: Dataset, split: TimeSplit) -> None:
    train = ds.rows(set(split.train))
    if float(train["loss"].sum()) <= 0.0:
        raise TrainingDataError(
            "no claims with incurred loss in the training months: a loss model cannot be "
            "learned from this data"
        )
    if float(train["exposure"].fillna(0).sum()) <= 0.0:
        raise TrainingDataError("no worker-hours in the training months")


def fingerprint(data: ContractData) -> dict[str, Any]:
    """Row counts, month range and a content hash, so a run says what it learned from."""
    h = hashlib.sha256()
    for name in ("sites", "site_months", "claims"):
        frame: pd.DataFrame = getattr(data, name)
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        h.update(name.encode())
        h.update(np.ascontiguousarray(hashed).tobytes())
    months = data.site_months["month"]
    return {
        "sites": len(data.sites),
        "site_months": len(data.site_months),
        "claims": len(data.claims),
        "first_month": str(months.min()),
        "last_month": str(months.max()),
        "sha256": h.hexdigest(),
    }


def read_truth(folder: Path) -> pd.DataFrame | None:
    """The synthetic generator's truth table, when the folder has one."""
    for ext in ("parquet", "csv"):
        path = folder / f"truth.{ext}"
        if path.exists():
            truth = pd.read_parquet(path) if ext == "parquet" else pd.read_csv(path)
            truth["site_id"] = truth["site_id"].astype(str)
            truth["month"] = truth["month"].astype(str)
            return truth
    return None
