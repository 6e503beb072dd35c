"""The book priced the way the service prices a quote: every site active in one month,
a policy of ``term`` months from that month, through the rating plan
(docs/rating-plan.md). Training uses it twice:

- on the latest learning month, to find the book's expected loss ratio c (expected loss
  over base premium) and the off-balance factor that keeps the total premium after the
  plan equal to the tariff total;
- on the first test month, for the adequacy report (training/adequacy.py) and, in
  promotion, to compare the premiums a challenger and the champion would charge.

The pieces are the service's own: features from ``models.features``, the term's
expected loss from ``ModelBundle.term_risk``, the base from the tariff, the gate from
``models.pricing.site_history.data_quality`` and the layers from ``models.pricing``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from models import features as fdef
from models.bundle import ModelBundle
from models.contract import ContractData
from models.pricing import (
    Band,
    RatingPlan,
    Tariff,
    base_premium,
    exposure_intensity,
    plan_move,
    plan_premium,
)
from models.pricing.impact import revenue_neutral_factor
from models.pricing.site_history import data_quality, histories

GATE_COLUMNS: Final = ("device_online_rate", "data_completeness")


@dataclass(frozen=True)
class BookRules:
    tariff: Tariff
    band: Band
    plan: RatingPlan


def active_rows(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """The modelling table's rows of sites with worker-hours in ``month`` (features as of
    that month: data from before it only)."""
    rows = frame[(frame["month"] == month) & (frame["exposure"].fillna(0.0) > 0.0)]
    return rows.sort_values("site_id", kind="stable").reset_index(drop=True)


def book_inputs(
    data: ContractData,
    rows: pd.DataFrame,
    bundle: ModelBundle,
    rules: BookRules,
    *,
    month: str,
    term: int,
) -> pd.DataFrame:
    """Per site: base premium, expected loss for the term, the model's relativity and
    the exposure intensity's ingredients, and whether the gate allows a discount."""
    x = fdef.to_matrix(rows)
    n = len(rows)
    risk = bundle.term_risk(x, [month] * n, term)
    sites = data.sites.set_index("site_id").loc[rows["site_id"].to_numpy()]
    duration = rows["planned_duration_months"].to_numpy(np.float64)
    floor = float(rules.tariff.min_months)
    bases = [
        float(base_premium(v, term, max(d if math.isfinite(d) else 0.0, floor), rules.tariff))
        for v, d in zip(sites["contract_value_cny"].to_numpy(np.float64), duration, strict=True)
    ]
    gate = [
        data_quality(rules.band, h, month).passed
        for h in histories(data, rows["site_id"].tolist(), GATE_COLUMNS)
    ]
    log_rate = np.log(risk.rate)
    return pd.DataFrame(
        {
            "site_id": rows["site_id"].to_numpy(),
            "month": month,
            "term_months": term,
            "project_type": sites["project_type"].to_numpy(),
            "contract_value_cny": sites["contract_value_cny"].to_numpy(np.float64),
            "base": np.asarray(bases, dtype=np.float64),
            "expected_loss": risk.expected_loss,
            "hours": risk.hours,
            "term_factor": risk.trend * risk.season,
            "relativity": np.exp(log_rate - bundle.base_value),
            "discount_allowed": np.asarray(gate, dtype=bool),
        }
    )


def risk_factors(book: pd.DataFrame, bundle: ModelBundle, book_loss_ratio: float) -> np.ndarray:
    """r = relativity × exposure intensity, site by site: the quote's own arithmetic."""
    base_rate = math.exp(bundle.base_value)
    return np.fromiter(
        (
            rel * exposure_intensity(base_rate, h, t, book_loss_ratio, b)
            for rel, h, t, b in zip(
                book["relativity"], book["hours"], book["term_factor"], book["base"], strict=True
            )
        ),
        np.float64,
        len(book),
    )


def multipliers(
    r: np.ndarray, allowed: Sequence[bool], off_balance: float, band: Band
) -> np.ndarray:
    return np.fromiter(
        (
            plan_move(float(v), off_balance, band, bool(a)).multiplier
            for v, a in zip(r, allowed, strict=True)
        ),
        np.float64,
        len(r),
    )


def off_balance_factor(book: pd.DataFrame, r: np.ndarray, band: Band) -> float:
    """The book-level factor f with Σ base × multiplier(r·f) = Σ base: the search a
    rate book's own factor is found with too (``models.pricing.impact``)."""
    return revenue_neutral_factor(
        book["base"].to_numpy(np.float64).tolist(),
        r.tolist(),
        [bool(a) for a in book["discount_allowed"]],
        band,
    )


@dataclass(frozen=True)
class Calibration:
    month: str
    sites: int
    book_loss_ratio: float
    off_balance_factor: float
    off_balance_before_pct: float  # total after the plan vs tariff total, f = 1
    off_balance_after_pct: float  # the same with f

    def meta(self, rules: BookRules, term: int) -> dict[str, Any]:
        return {
            "book_loss_ratio": self.book_loss_ratio,
            "off_balance_factor": self.off_balance_factor,
            "off_balance_before_pct": self.off_balance_before_pct,
            "off_balance_after_pct": self.off_balance_after_pct,
            "book_month": self.month,
            "book_sites": self.sites,
            "book_term_months": term,
            "tariff_version": rules.tariff.version,
            "band_version": rules.band.version,
            "plan_version": rules.plan.version,
        }


def calibrate(
    data: ContractData,
    frame: pd.DataFrame,
    bundle: ModelBundle,
    rules: BookRules,
    month: str,
) -> Calibration:
    """c and f on the book of ``month`` for the plan's projection term."""
    term = rules.plan.projection_months
    rows = active_rows(frame, month)
    if rows.empty:
        raise ValueError(f"no site has worker-hours in {month}: no book to calibrate on")
    book = book_inputs(data, rows, bundle, rules, month=month, term=term)
    c = float(book["expected_loss"].sum() / book["base"].sum())
    r = risk_factors(book, bundle, c)
    base = book["base"].to_numpy(np.float64)
    allowed = book["discount_allowed"].tolist()
    before = float(np.dot(base, multipliers(r, allowed, 1.0, rules.band)) / base.sum() - 1)
    ob = rules.plan.off_balance
    f = ob.factor if ob.method == "fixed" else off_balance_factor(book, r, rules.band)
    after = float(np.dot(base, multipliers(r, allowed, f, rules.band)) / base.sum() - 1)
    return Calibration(month, len(book), c, f, 100.0 * before, 100.0 * after)


def price_book(
    data: ContractData,
    frame: pd.DataFrame,
    bundle: ModelBundle,
    rules: BookRules,
    *,
    month: str,
    term: int,
) -> pd.DataFrame:
    """Every site active in ``month`` priced for ``term`` months with the bundle's own
    c and f: the inputs plus ``risk_factor`` (r), ``final`` (to the cent) and
    ``premium_multiplier``."""
    rating = bundle.meta.rating
    rows = active_rows(frame, month)
    book = book_inputs(data, rows, bundle, rules, month=month, term=term)
    c = float(rating["book_loss_ratio"])
    f = rules.plan.off_balance_factor(float(rating["off_balance_factor"]))
    r = risk_factors(book, bundle, c)
    allowed = book["discount_allowed"].tolist()
    book["risk_factor"] = r
    book["premium_multiplier"] = multipliers(r, allowed, f, rules.band)
    # to the cent exactly as a quote is (half-up, inwards at the band's edges)
    book["final"] = [
        float(plan_premium(b, float(v), f, rules.band, bool(a)))
        for b, v, a in zip(book["base"], r, allowed, strict=True)
    ]
    return book
