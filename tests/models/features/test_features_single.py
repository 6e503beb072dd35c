"""Features of sites sent as rows (``models/features/single.py``) against a folder's
(``build.py``): both parse into the one gathering and arithmetic, and these tests hold
the parsing to it. The same values to the bit, on every site-month of the project's
synthetic world and of an independent one, for quote months after the data, for months
before any data, and for what-if variants of the controllable columns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fixtures.alien_world import make_alien_world, write_alien_csv

from models.contract import ContractData, load_folder, spec, validate_frames
from models.features import FEATURE_NAMES, build_features, to_matrix
from models.features.build import contractor_records
from models.features.contractor import Record
from models.features.single import (
    SiteSeries,
    month_number,
    reading,
    series_features,
    site_features,
    site_series,
)
from training.synth import generate_world


def _alone(data: ContractData) -> ContractData:
    """Every site its contractor's only one, as every quote is priced."""
    sites = data.sites.copy()
    sites["contractor_id"] = sites["site_id"]
    return ContractData(sites=sites, site_months=data.site_months, claims=data.claims)


@pytest.fixture(scope="module")
def synthetic() -> ContractData:
    world = generate_world(250, seed=5, months=30)
    return _alone(validate_frames(world.sites, world.site_months, world.claims))


@pytest.fixture(scope="module")
def series(synthetic: ContractData, alien: ContractData) -> dict[str, dict[str, SiteSeries]]:
    return {"synthetic": _series(synthetic), "alien": _series(alien)}


@pytest.fixture(scope="module")
def alien(tmp_path_factory: pytest.TempPathFactory) -> ContractData:
    folder = write_alien_csv(make_alien_world(250, seed=3), tmp_path_factory.mktemp("alien"))
    return _alone(load_folder(Path(folder)))


def _rows(frame: pd.DataFrame) -> list[Any]:
    """Frame rows as objects with attributes, missing values as None."""
    plain = frame.astype(object).where(frame.notna(), None)
    return list(plain.itertuples(index=False))


def _series(data: ContractData) -> dict[str, SiteSeries]:
    months = data.site_months.groupby("site_id", sort=False)
    claims = data.claims.groupby("site_id", sort=False)
    out = {}
    for site in _rows(data.sites):
        sid = site.site_id
        m = months.get_group(sid) if sid in months.groups else data.site_months.iloc[:0]
        c = claims.get_group(sid) if sid in claims.groups else data.claims.iloc[:0]
        out[sid] = site_series(site, _rows(m), _rows(c))
    return out


def _mismatches(batch: np.ndarray, fast: np.ndarray) -> list[str]:
    differ = ~((batch == fast) | (np.isnan(batch) & np.isnan(fast)))
    return [FEATURE_NAMES[j] for j in np.flatnonzero(differ.any(axis=0))]


def _compare(
    data: ContractData, targets: pd.DataFrame, series: dict[str, SiteSeries] | None = None
) -> np.ndarray:
    """The batch builder's rows, after checking the fast path gives the same."""
    series = series if series is not None else _series(data)
    batch = to_matrix(build_features(data.sites, data.site_months, data.claims, targets=targets))
    fast = np.vstack(
        [
            site_features(series[sid], month_number(month))
            for sid, month in zip(targets["site_id"], targets["month"], strict=True)
        ]
    )
    assert _mismatches(batch, fast) == []
    return batch


def _filled(batch: np.ndarray) -> float:
    """Share of values that are numbers: the comparison must not be one of NaNs."""
    return float(np.mean(~np.isnan(batch)))


def _quote_months(data: ContractData) -> pd.DataFrame:
    """For every site one month after its last month (a renewal quote)."""
    last = data.site_months.groupby("site_id")["month"].max()
    after = [(pd.Period(m, "M") + 1).strftime("%Y-%m") for m in last]
    return pd.DataFrame({"site_id": last.index, "month": after})


@pytest.mark.parametrize("world", ["synthetic", "alien"])
def test_every_site_month_equals_the_batch_builder(
    world: str, request: pytest.FixtureRequest, series: dict[str, dict[str, SiteSeries]]
) -> None:
    data: ContractData = request.getfixturevalue(world)
    targets = data.site_months[["site_id", "month"]].reset_index(drop=True)
    batch = _compare(data, targets, series[world])
    assert len(batch) > 2000
    assert _filled(batch) > 0.5


@pytest.mark.parametrize("world", ["synthetic", "alien"])
def test_quote_months_equal_the_batch_builder(
    world: str, request: pytest.FixtureRequest, series: dict[str, dict[str, SiteSeries]]
) -> None:
    data: ContractData = request.getfixturevalue(world)
    batch = _compare(data, _quote_months(data), series[world])
    assert len(batch) > 200
    assert _filled(batch) > 0.5


def test_months_before_any_data_and_claims_older_than_the_data(synthetic: ContractData) -> None:
    """A target before the first month, and claims older than a site's first month
    (gathered into the panel's front cell in the order given)."""
    first = synthetic.site_months.groupby("site_id")["month"].min()
    early = [(pd.Period(m, "M") - 2).strftime("%Y-%m") for m in first]
    claims = synthetic.claims.copy()
    # move every claim two years back, older than any site's data
    claims["incident_date"] = claims["incident_date"] - pd.DateOffset(years=2)
    shifted = ContractData(sites=synthetic.sites, site_months=synthetic.site_months, claims=claims)
    before = _compare(shifted, pd.DataFrame({"site_id": first.index, "month": early}))
    counts = before[:, FEATURE_NAMES.index("claims_count_all")]
    assert (counts > 0).sum() > 20  # the old claims are there, before any data
    assert _filled(_compare(shifted, _quote_months(shifted))) > 0.5


def _moved(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """A what-if: the column halved (counts) or raised half way to 1 (rates)."""
    out = frame.copy()
    values = out[column].astype("float64")
    fewer = spec.monotone().get(column, 1) > 0
    new = np.floor(values / 2) if fewer else values + (1.0 - values) / 2
    out[column] = pd.Series(new, index=out.index).astype(frame[column].dtype)
    return out


@pytest.mark.parametrize("column", sorted({*spec.monotone(), *spec.DILIGENCE}))
def test_what_if_rows_in_one_call_equal_the_batch_builder(
    column: str, synthetic: ContractData, series: dict[str, dict[str, SiteSeries]]
) -> None:
    """A recommendation's variants, all sites' at once in one ``series_features`` call,
    give the batch builder's rows for the moved data."""
    moved = ContractData(
        sites=synthetic.sites,
        site_months=_moved(synthetic.site_months, column),
        claims=synthetic.claims,
    )
    targets = _quote_months(synthetic)
    batch = to_matrix(build_features(moved.sites, moved.site_months, moved.claims, targets=targets))
    base = series["synthetic"]
    variants = []
    for sid in targets["site_id"]:
        rows = moved.site_months[moved.site_months["site_id"] == sid].sort_values("month")
        values = [np.nan if pd.isna(v) else float(v) for v in rows[column]]
        variants.append(base[sid].with_column(column, values))
    fast = series_features(variants, [month_number(m) for m in targets["month"]])
    assert _mismatches(batch, fast) == []
    # the variant moved some feature: the comparison is not of unmoved rows
    before = series_features(
        [base[s] for s in targets["site_id"]], [month_number(m) for m in targets["month"]]
    )
    assert _mismatches(before, fast) != []
    assert set(_mismatches(before, fast)) <= set(reading(column))


def test_a_month_twice_is_refused(synthetic: ContractData) -> None:
    rows = _rows(synthetic.site_months.head(1))
    site = _rows(synthetic.sites.head(1))[0]
    with pytest.raises(ValueError, match="twice"):
        site_series(site, rows + rows, [])


def test_unrectified_hazards_edge_months_equal_the_batch_builder(
    synthetic: ContractData,
) -> None:
    """The months the unrectified count treats specially: nothing found without a rate
    (counted as none unrectified), hazards found without a rate or a rate without a
    count (not reported), and everything rectified."""
    sm = synthetic.site_months.copy()
    found = sm["hazards_found"].astype("float64")
    rate = sm["hazard_rectification_rate"].copy()
    pick = np.random.default_rng(8).integers(0, 5, len(sm))
    found = found.where(pick != 0, 0.0)
    rate = rate.where(~np.isin(pick, (0, 1)), np.nan)
    found = found.where(pick != 2, np.nan)
    rate = rate.where(pick != 3, 1.0)
    sm["hazards_found"] = pd.array(found.round(), dtype="Int64")
    sm["hazard_rectification_rate"] = rate
    sm["major_hazards"] = sm["major_hazards"].where(sm["hazards_found"].notna(), pd.NA)
    data = ContractData(sites=synthetic.sites, site_months=sm, claims=synthetic.claims)
    targets = sm[["site_id", "month"]].reset_index(drop=True)
    batch = _compare(data, pd.concat([targets, _quote_months(data)], ignore_index=True))
    for k in (3, 6):
        column = batch[:, FEATURE_NAMES.index(f"unrectified_hazards_per_10kwh_{k}m")]
        assert _filled(column[:, None]) > 0.5
        assert (column[~np.isnan(column)] >= 0).all()


@pytest.mark.parametrize("seed", [5, 8])
def test_a_site_with_its_contractor_record_equals_the_batch_builder_on_the_whole_world(
    seed: int,
) -> None:
    """Contractors with many sites, as the world has them: each site alone plus the
    record ``contractor_records`` works out for it gives the batch builder's row."""
    world = generate_world(250, seed=seed, months=30)
    data = validate_frames(world.sites, world.site_months, world.claims)
    assert data.sites["contractor_id"].value_counts().max() > 1
    targets = pd.concat(
        [data.site_months[["site_id", "month"]], _quote_months(data)], ignore_index=True
    )
    batch = to_matrix(build_features(data.sites, data.site_months, data.claims, targets=targets))
    records = contractor_records(data.sites, data.site_months, data.claims, targets)
    plain = _series(data)
    fast = np.vstack(
        [
            site_features(
                replace(plain[r.site_id], contractor=Record(r.other_sites, r.worker_hours,
                                                            r.claims, r.serious_claims)),
                month_number(r.month),
            )
            for r in records.itertuples(index=False)
        ]
    )  # fmt: skip
    assert _mismatches(batch, fast) == []
    other = [FEATURE_NAMES.index(n) for n in FEATURE_NAMES if n.startswith("contractor_other")]
    assert float(np.mean(np.nan_to_num(batch[:, other]) > 0)) > 0.3  # records are not empty
