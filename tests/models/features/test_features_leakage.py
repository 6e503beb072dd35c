"""Features see only the past, and controllable metrics move them one way only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures.diligence import more_hazards_found, unrectified

from models.contract import spec
from models.features import FEATURE_NAMES, FEATURES, build_features, to_matrix
from models.features.definition import reads, source_columns

_MONTHS = tuple(pd.period_range("2022-01", "2024-12", freq="M").strftime("%Y-%m"))
_NULLABLE = tuple(c.name for c in spec.SITE_MONTHS if c.nullable)
_METRICS = tuple(c for c in spec.SITE_MONTHS if c.name not in ("site_id", "month"))


def _values(rng: np.random.Generator, col: spec.Column, n: int) -> pd.Series:
    if col.choices is not None:
        return pd.Series(rng.choice(col.choices, n), dtype="str")
    if col.kind == "int":
        high = int(col.le) if col.le is not None else 12
        values = pd.Series(rng.integers(0, high + 1, n), dtype="Int64")
    else:
        scale = 1.0 if col.le == 1.0 else 5000.0
        values = pd.Series(rng.uniform(0, scale, n), dtype="float64")
    if col.nullable:
        values[rng.random(n) < 0.25] = None
    return values


def _metrics(rng: np.random.Generator, n: int) -> dict[str, pd.Series]:
    out = {c.name: _values(rng, c, n) for c in _METRICS}
    # a fifth of the months with a whole sensor group down
    out["device_online_rate"][rng.random(n) < 0.2] = None
    return out


def _world(seed: int, n_sites: int = 24) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"S{i}" for i in range(n_sites)]
    sites = pd.DataFrame(
        {
            "site_id": pd.Series(ids, dtype="str"),
            "contractor_id": pd.Series([f"C{i % 4}" for i in range(n_sites)], dtype="str"),
            "district": pd.Series(rng.choice(spec.DISTRICTS, n_sites), dtype="str"),
            "project_type": pd.Series(rng.choice(spec.PROJECT_TYPES, n_sites), dtype="str"),
            "contract_value_cny": rng.uniform(1e6, 1e9, n_sites),
            "floor_area_m2": rng.uniform(0, 1e5, n_sites),
            "max_height_m": rng.uniform(0, 150, n_sites),
            "start_date": pd.to_datetime("2021-06-01")
            + pd.to_timedelta(rng.integers(0, 500, n_sites), unit="D"),
            "planned_end_date": pd.to_datetime("2025-01-01")
            + pd.to_timedelta(rng.integers(0, 500, n_sites), unit="D"),
            "hazardous_works": pd.Series(rng.integers(2, 6, n_sites), dtype="Int64"),
            "over_scale_hazardous_works": pd.Series(rng.integers(0, 2, n_sites), dtype="Int64"),
            "tower_cranes": pd.Series(rng.integers(0, 4, n_sites), dtype="Int64"),
        }
    )
    # each site reports over its own span of months, with random gaps
    keys = []
    for i, site in enumerate(ids):
        first, last = sorted(rng.integers(0, len(_MONTHS), 2))
        if i == 0:  # one site with everything up to the end
            first, last = 0, len(_MONTHS) - 1
        for m in _MONTHS[first : last + 1]:
            if rng.random() > 0.15:
                keys.append((site, m))
    n = len(keys)
    sm = pd.DataFrame(
        {
            "site_id": pd.Series([k[0] for k in keys], dtype="str"),
            "month": pd.Series([k[1] for k in keys], dtype="str"),
            **_metrics(rng, n),
        }
    )
    sm = sm[[c.name for c in spec.SITE_MONTHS]]
    nc = 60
    claims = pd.DataFrame(
        {
            "claim_id": pd.Series([f"K{i}" for i in range(nc)], dtype="str"),
            "site_id": pd.Series(rng.choice(ids, nc), dtype="str"),
            "incident_date": pd.to_datetime("2022-01-01")
            + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, nc), unit="h"),
            "cause": pd.Series(rng.choice(spec.CAUSES, nc), dtype="str"),
            "severity": pd.Series(rng.choice(spec.SEVERITIES, nc), dtype="str"),
            "paid_cny": rng.uniform(0, 1e5, nc),
            "reserve_cny": rng.uniform(0, 1e5, nc),
        }
    )
    return sites, sm, claims


def _targets(sites: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    ids = list(sites["site_id"])
    return pd.DataFrame({"site_id": [s for m in months for s in ids],
                         "month": [m for m in months for _ in ids]})  # fmt: skip


def _rewrite_future(
    sites: pd.DataFrame, sm: pd.DataFrame, claims: pd.DataFrame, month: str, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Everything from ``month`` on replaced, added to or moved; the past untouched."""
    rng = np.random.default_rng(seed)
    cut = pd.Timestamp(month + "-01")
    sm = sm.copy()
    later = (sm["month"] >= month).to_numpy()
    for name, values in _metrics(rng, int(later.sum())).items():
        sm.loc[later, name] = values.to_numpy()
    # new rows in every later month the sites had no row for, and a brand-new site
    have = set(zip(sm["site_id"], sm["month"], strict=True))
    months = (*_MONTHS, "2025-01", "2025-02", "2025-03")
    fresh = [(s, m) for s in [*sites["site_id"], "LATE"] for m in months
             if m >= month and (s, m) not in have]  # fmt: skip
    extra = pd.DataFrame({"site_id": pd.Series([k[0] for k in fresh], dtype="str"),
                          "month": pd.Series([k[1] for k in fresh], dtype="str"),
                          **_metrics(rng, len(fresh))})  # fmt: skip
    sm = pd.concat([sm, extra[sm.columns]], ignore_index=True)
    late_site = sites.iloc[[0]].assign(site_id="LATE", start_date=cut)
    sites = pd.concat([sites, late_site], ignore_index=True)

    claims = claims.copy()
    future = (claims["incident_date"] >= cut).to_numpy()
    k = int(future.sum())
    claims.loc[future, "incident_date"] = cut + pd.to_timedelta(
        rng.integers(0, 400 * 24, k), unit="h"
    )
    claims.loc[future, "paid_cny"] = rng.uniform(0, 1e6, k)
    claims.loc[future, "reserve_cny"] = rng.uniform(0, 1e6, k)
    claims.loc[future, "severity"] = rng.choice(spec.SEVERITIES, k)
    ids = [*sites["site_id"]]
    new = pd.DataFrame(
        {
            "claim_id": pd.Series([f"N{i}" for i in range(len(ids))], dtype="str"),
            "site_id": pd.Series(ids, dtype="str"),
            # the first instant of the month, or later
            "incident_date": cut + pd.to_timedelta(rng.integers(0, 2, len(ids)) * 1000, unit="h"),
            "cause": "other",
            "severity": "fatality",
            "paid_cny": 1e7,
            "reserve_cny": 1e7,
        }
    )
    return sites, sm, pd.concat([claims, new], ignore_index=True)


@pytest.mark.parametrize(
    ("month", "earlier"),
    [
        ("2024-01", ["2023-06", "2023-11", "2022-01"]),
        ("2025-01", ["2024-12", "2024-07"]),  # a quote: no site has a row in 2025-01
    ],
)
def test_features_ignore_everything_from_the_target_month_on(
    month: str, earlier: list[str]
) -> None:
    sites, sm, claims = _world(seed=11)
    targets = _targets(sites, [month, *earlier])
    before = build_features(sites, sm, claims, targets)
    sites2, sm2, claims2 = _rewrite_future(sites, sm, claims, month, seed=12)
    after = build_features(sites2, sm2, claims2, targets)
    np.testing.assert_array_equal(to_matrix(after), to_matrix(before))
    assert before[list(FEATURE_NAMES)].notna().to_numpy().mean() > 0.5

    # the same rewrite is visible one month later, so the comparison above has teeth
    nxt = (pd.Period(month, freq="M") + 1).strftime("%Y-%m")
    later = _targets(sites, [nxt])
    moved = to_matrix(build_features(sites2, sm2, claims2, later)) != to_matrix(
        build_features(sites, sm, claims, later)
    )
    changed = {FEATURE_NAMES[i] for i in np.flatnonzero(moved.any(axis=0))}
    assert {"claims_count_all", "training_coverage_1m", "months_of_history"} <= changed


def _raise(
    rng: np.random.Generator, sm: pd.DataFrame, column: str, rows: np.ndarray
) -> pd.DataFrame:
    out = sm.copy()
    old = out.loc[rows, column]
    if spec.column("site_months", column).kind == "int":
        out.loc[rows, column] = old + pd.Series(rng.integers(1, 6, len(rows)), index=old.index)
    else:
        out.loc[rows, column] = old + (1.0 - old) * rng.uniform(0.05, 1.0, len(rows))
    return out


@pytest.mark.parametrize("column", sorted(spec.monotone()))
def test_raising_a_controllable_metric_moves_features_only_its_way(column: str) -> None:
    """Safety and reporting metrics alike: a feature moves with the raw column only in
    the direction its constraint and the column's direction agree on, and a feature
    that reads only whether the column was reported does not move at all."""
    raw_direction = spec.monotone()[column]
    derived = [column in source_columns(f.name) for f in FEATURES]
    presence = [reads(f.name).get(column) == 0 for f in FEATURES]
    sites, sm, claims = _world(seed=5)
    months = ["2023-03", "2023-09", "2024-02", "2024-07", "2025-01"]
    targets = pd.concat([sm[["site_id", "month"]], _targets(sites, months)], ignore_index=True)
    base = to_matrix(build_features(sites, sm, claims, targets))
    moved_any = np.zeros(len(FEATURES), dtype=bool)
    for trial in range(4):
        rng = np.random.default_rng(100 + trial)
        values = sm[column]
        has_room = values.notna()
        if values.dtype == np.float64:
            has_room &= values < 1.0
        room = np.flatnonzero(has_room.to_numpy(dtype=bool))
        rows = rng.choice(room, size=max(1, len(room) // (3 + 10 * trial)), replace=False)
        after = to_matrix(build_features(sites, _raise(rng, sm, column, rows), claims, targets))

        np.testing.assert_array_equal(np.isnan(after), np.isnan(base))
        delta = np.where(np.isnan(base), 0.0, after - base)
        for i, f in enumerate(FEATURES):
            if not derived[i] or f.direction == 0 or presence[i]:
                assert (delta[:, i] == 0).all(), f"{f.name} moved when {column} rose"
            else:
                sign = f.direction * raw_direction
                assert (delta[:, i] * sign >= 0).all(), f"{f.name} moved against {column}"
        moved_any |= (delta != 0).any(axis=0)
    # the perturbation reached the features built from the column
    assert moved_any.any()
    assert all(derived[i] for i in np.flatnonzero(moved_any))


def test_more_hazards_found_with_unrectified_and_major_fixed_never_raise_a_feature() -> None:
    """Finding hazards is diligence: with major hazards and the unrectified count held
    fixed, more hazards found (hence a higher rectification rate) move only features
    that never raise the price, and those only their safe way."""
    sites, sm, claims = _world(seed=7)
    months = ["2023-03", "2023-09", "2024-02", "2024-07", "2025-01"]
    targets = pd.concat([sm[["site_id", "month"]], _targets(sites, months)], ignore_index=True)
    base = to_matrix(build_features(sites, sm, claims, targets))
    moved_any = np.zeros(len(FEATURES), dtype=bool)
    for trial in range(3):
        more = more_hazards_found(sm, np.random.default_rng(300 + trial), share=0.3 + 0.3 * trial)
        assert (more["hazards_found"].fillna(0) >= sm["hazards_found"].fillna(0)).all()
        assert (more["hazards_found"] != sm["hazards_found"]).fillna(False).any()
        pd.testing.assert_series_equal(more["major_hazards"], sm["major_hazards"])
        before, now = unrectified(sm), unrectified(more)
        pd.testing.assert_series_equal(now.isna(), before.isna())
        assert (now[before.notna()] <= before[before.notna()]).all()
        after = to_matrix(build_features(sites, more, claims, targets))
        np.testing.assert_array_equal(np.isnan(after), np.isnan(base))
        delta = np.where(np.isnan(base), 0.0, after - base)
        for i, f in enumerate(FEATURES):
            if f.name.startswith("unrectified_hazards_per_10kwh_"):
                # held fixed: at most a rounding step lower, never higher
                assert (delta[:, i] <= 0).all(), f.name
                np.testing.assert_allclose(after[:, i], base[:, i], rtol=1e-12, atol=1e-12)
            elif f.name.startswith("hazard_rectification_rate_"):
                assert (delta[:, i] >= 0).all(), f.name
            else:
                assert (delta[:, i] == 0).all(), f"{f.name} moved when more hazards were found"
        moved_any |= (delta != 0).any(axis=0)
    assert moved_any[FEATURE_NAMES.index("hazard_rectification_rate_6m")]
