"""Rate adequacy: does the premium follow the risk?

The book is every site active in the first test month, priced the way the service
prices a quote (``training.book.price_book``) for a term as long as the test months.
Each site then carries its base (tariff) premium ``base``, its final premium ``final``,
the model's expected loss for the term ``expected_loss``, the loss actually incurred
over the test months ``actual_loss`` and, on a synthetic world, the true expected loss
``truth``.

Conventions follow scikit-learn's "Tweedie regression on insurance claims" example:
sites are ranked by a predicted score, groups are bands of equal *weight* (here the
base premium) along that ranking, and a group's figure is a ratio of totals, never a
mean of per-site ratios.

Definitions (docs/rating-plan.md cites these):

- **Loss ratio** of a group on a premium: Σ loss / Σ premium over the group's sites;
  on the tariff (premium = ``base``) or on the final premium (``final``); with the
  loss expected (``expected_loss``), actual (``actual_loss``) or true (``truth``).
  The **relative** loss ratio divides it by the whole book's loss ratio on the same
  premium and loss, so the book is 1.
- **Risk deciles**: sites sorted by the model's risk factor ``risk_factor`` (ties in
  book order, i.e. by site id); a site joins the decile holding the midpoint of its base
  premium on the cumulative-base axis, so deciles carry equal base premium up to one
  site. Always ten rows, empty ones included.
- **Value bands**: the contract value in the tariff's bands, upper end included:
  ≤10M, 10M–50M, 50M–100M, 100M–500M, 500M–1B, >1B CNY with the shipped tariff.
- **Spread** (``adequacy_spread``): Σ_g (P_g / P) · |LR_g / LR − 1|, the premium-weighted
  mean absolute deviation of the groups' relative loss ratios from the book's 1; the
  same as Σ_g |L_g / L − P_g / P|, the gap between each group's share of the loss and
  its share of the premium. 0 when every group's premium is in proportion to its
  loss; smaller is better. It does not depend on the premium's scale.
- **Adequacy**: the spread of the *actual incurred* loss ratio of the *final* premium
  across *risk deciles*. Training reports it on the model's own deciles. Promotion
  (``training.promote.promotion_adequacy``) takes it for each model on the deciles of
  both models' risk and keeps the worse: on its own deciles alone a model that ranked
  at random would look adequate, since random groups all have the book's loss ratio.
- **Equalisation** and **gap**: issue 16's measures against the true expected loss,
  see ``equalisation`` and ``ideal_gap``.

Everything here is pure pandas/numpy arithmetic on the book.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from models.bundle import ModelBundle
    from models.contract import ContractData
    from models.pricing import Tariff
    from training.book import BookRules
    from training.outcome import TrainOutcome

FloatArray = npt.NDArray[np.float64]
By = Literal["risk_decile", "value_band", "project_type"]

GROUPINGS: Final[tuple[By, ...]] = ("risk_decile", "value_band", "project_type")
N_DECILES: Final = 10
# the shipped tariff's band ends (CNY); ``value_edges(tariff)`` reads them from a tariff
VALUE_EDGES_CNY: Final = (10e6, 50e6, 100e6, 500e6, 1e9)
PREMIUMS: Final = ("tariff", "final")  # tariff: the base premium
LOSSES: Final = ("expected", "actual", "truth")
_PREMIUM_COLUMN: Final = {"tariff": "base", "final": "final"}
_LOSS_COLUMN: Final = {"expected": "expected_loss", "actual": "actual_loss", "truth": "truth"}


# ---------------------------------------------------------------------------
# the book on the test months


def test_book(
    data: ContractData,
    frame: pd.DataFrame,
    bundle: ModelBundle,
    rules: BookRules,
    months: Sequence[str],
    truth: pd.DataFrame | None = None,  # noqa: PT028 (not a pytest test)
) -> pd.DataFrame:
    """Every site active in ``months[0]`` priced with ``price_book`` for a term of
    ``len(months)`` months, with two columns added:

    - ``actual_loss``: the ``loss`` column of the modelling table ``frame`` summed over
      ``months`` for the site (incurred loss of the term; 0 without claims);
    - ``truth``: the truth table's ``expected_loss_cny`` summed over ``months`` for the
      site (the months of the term in which it is active); all NaN without a truth
      table. A site with no truth row in the term gets 0.

    ``months`` must be consecutive calendar months (the test months are)."""
    from training.book import price_book

    months = tuple(months)
    if not months:
        raise ValueError("no months to price the book on")
    book = price_book(data, frame, bundle, rules, month=months[0], term=len(months))
    sites = book["site_id"]
    inside = frame[frame["month"].isin(set(months))]
    incurred = inside.groupby("site_id")["loss"].sum(min_count=1)
    book["actual_loss"] = incurred.reindex(sites).fillna(0.0).to_numpy(np.float64)
    if truth is None:
        book["truth"] = np.nan
    else:
        t = truth[truth["month"].isin(set(months))]
        expected = t.groupby("site_id")["expected_loss_cny"].sum()
        book["truth"] = expected.reindex(sites).fillna(0.0).to_numpy(np.float64)
    return book


test_book.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def outcome_book(outcome: TrainOutcome, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """``test_book`` on a training outcome's own data, model, rules and test months."""
    return test_book(
        outcome.data, outcome.frame, outcome.bundle, outcome.rules, outcome.split.test, truth
    )


def has_truth(book: pd.DataFrame) -> bool:
    return "truth" in book and bool(book["truth"].notna().all())


# ---------------------------------------------------------------------------
# groups


def risk_deciles(score: npt.ArrayLike, weight: npt.ArrayLike, n: int = N_DECILES) -> np.ndarray:
    """1..n per site: bands of equal ``weight`` along ``score`` ascending (stable sort,
    so ties stay in input order); a site joins the band holding the midpoint of its
    weight on the cumulative axis (the convention of ``metrics.ae_by_decile``)."""
    s = np.asarray(score, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if s.shape != w.shape or s.ndim != 1:
        raise ValueError(f"score and weight must be 1-D of equal length, got {s.shape}, {w.shape}")
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    if np.isnan(s).any() or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("score must have no NaN; weights finite, >= 0, with a positive total")
    order = np.argsort(s, kind="stable")
    ws = w[order]
    midpoint = np.cumsum(ws) - ws / 2.0
    band = np.clip(np.floor(n * midpoint / w.sum()).astype(np.int64), 0, n - 1)
    out = np.empty(s.size, dtype=np.int64)
    out[order] = band + 1
    return out


def value_edges(tariff: Tariff) -> tuple[float, ...]:
    """The upper ends of a tariff's contract-value bands (the last band is open)."""
    return tuple(float(b.upper_cny) for b in tariff.bands if b.upper_cny is not None)


def _cny(amount: float) -> str:
    if amount >= 1e9:
        return f"{amount / 1e9:g}B"
    return f"{amount / 1e6:g}M"


def value_labels(edges: Sequence[float] = VALUE_EDGES_CNY) -> tuple[str, ...]:
    """'≤10M', '10–50M', …, '>1B' for the shipped edges."""
    if not edges:
        return ("all",)
    inner = [f"{_cny(lo)}–{_cny(hi)}" for lo, hi in itertools.pairwise(edges)]
    return (f"≤{_cny(edges[0])}", *inner, f">{_cny(edges[-1])}")


def value_bands(values: npt.ArrayLike, edges: Sequence[float] = VALUE_EDGES_CNY) -> np.ndarray:
    """Each contract value's band label; a band holds values in (lower, upper]."""
    v = np.asarray(values, dtype=np.float64)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), v, side="left")
    return np.asarray(value_labels(edges), dtype=object)[index]


def with_groups(book: pd.DataFrame, edges: Sequence[float] = VALUE_EDGES_CNY) -> pd.DataFrame:
    """The book with ``risk_decile`` (of ``risk_factor``, base-weighted) and
    ``value_band`` columns added (``project_type`` is already there)."""
    out = book.copy()
    out["risk_decile"] = risk_deciles(out["risk_factor"], out["base"])
    out["value_band"] = value_bands(out["contract_value_cny"], edges)
    return out


def _group_order(book: pd.DataFrame, by: str, edges: Sequence[float]) -> list[Any]:
    if by == "risk_decile":
        return list(range(1, N_DECILES + 1))
    if by == "value_band":
        return list(value_labels(edges))
    return sorted(book[by].astype(str).unique())


# ---------------------------------------------------------------------------
# loss ratios


def _ratio(num: npt.ArrayLike, den: npt.ArrayLike) -> FloatArray:
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(n, d).shape, np.nan)
    np.divide(n, d, out=out, where=d != 0)
    return out


def _losses(book: pd.DataFrame) -> tuple[str, ...]:
    return ("expected", "actual", "truth") if has_truth(book) else ("expected", "actual")


def loss_ratio_table(
    book: pd.DataFrame, by: By, *, edges: Sequence[float] = VALUE_EDGES_CNY
) -> pd.DataFrame:
    """Loss ratios per group of ``by`` ("risk_decile", "value_band" or "project_type").

    One row per group in a fixed order (deciles 1..10 and every value band, empty
    ones included; project types sorted). Columns: the group, ``sites``, the totals
    ``base``, ``final``, ``expected_loss``, ``actual_loss`` (and ``truth`` when the book
    has it), then for premium p in (tariff, final) and loss l in (expected, actual,
    truth): ``lr_{p}_{l}`` = Σ loss / Σ premium of the group, and ``rel_{p}_{l}`` = that
    over the whole book's ``lr_{p}_{l}`` (book = 1). NaN where a group has no premium."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}, got {by!r}")
    book = book if by in book else with_groups(book, edges)
    losses = _losses(book)
    totals = ["base", "final", *(_LOSS_COLUMN[loss] for loss in losses)]
    keys = book[by].astype(str) if by == "project_type" else book[by]
    grouped = book.assign(**{by: keys}).groupby(by, sort=False)
    table = grouped[totals].sum().reindex(_group_order(book, by, edges), fill_value=0.0)
    table.insert(0, "sites", grouped.size().reindex(table.index, fill_value=0).astype(np.int64))
    for p in PREMIUMS:
        premium = _PREMIUM_COLUMN[p]
        for loss in losses:
            column = _LOSS_COLUMN[loss]
            book_lr = float(book[column].sum()) / float(book[premium].sum())
            lr = _ratio(table[column], table[premium])
            table[f"lr_{p}_{loss}"] = lr
            table[f"rel_{p}_{loss}"] = lr / book_lr if book_lr else np.nan
    return table.rename_axis(by).reset_index()


def adequacy_spread(book: pd.DataFrame, premium_col: str, loss_col: str, group_col: str) -> float:
    """Σ_g (P_g / P) · |(L_g / P_g) / (L / P) − 1| over the groups g of ``group_col``,
    with P the premium (``premium_col``) and L the loss (``loss_col``) totals: the
    premium-weighted mean absolute deviation of the groups' loss ratios from the
    book's, relative (book = 1). Groups without premium weigh nothing. 0 when every
    group's premium is in proportion to its loss; smaller is better. NaN when the book
    has no premium or no loss."""
    premium = book[premium_col].to_numpy(np.float64)
    loss = book[loss_col].to_numpy(np.float64)
    total_p, total_l = float(premium.sum()), float(loss.sum())
    if not (total_p > 0 and total_l > 0) or np.isnan(loss).any():
        return float("nan")
    keys = pd.Series(book[group_col].to_numpy())
    p_g = pd.Series(premium).groupby(keys).sum().to_numpy(np.float64)
    l_g = pd.Series(loss).groupby(keys).sum().to_numpy(np.float64)
    has = p_g > 0
    relative = (l_g[has] / p_g[has]) / (total_l / total_p)
    return float(np.sum(p_g[has] / total_p * np.abs(relative - 1.0)))


# ---------------------------------------------------------------------------
# issue 16's measures against the truth


def _band_limits(band_min_pct: float, band_max_pct: float) -> tuple[float, float]:
    if not -100.0 < band_min_pct <= 0.0 <= band_max_pct:
        raise ValueError(
            f"need -100 < band_min_pct <= 0 <= band_max_pct, got {band_min_pct}, {band_max_pct}"
        )
    return 1.0 + band_min_pct / 100.0, 1.0 + band_max_pct / 100.0


def _inputs(T: npt.ArrayLike, B: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(T, dtype=np.float64)
    b = np.asarray(B, dtype=np.float64)
    if t.shape != b.shape or t.ndim != 1 or t.size == 0:
        raise ValueError(f"T and B must be 1-D, non-empty, of equal length: {t.shape}, {b.shape}")
    if not np.all(np.isfinite(t)) or (t < 0).any():
        raise ValueError("T (true expected loss) must be finite and >= 0")
    if not np.all(np.isfinite(b)) or (b <= 0).any():
        raise ValueError("B (base premium) must be finite and > 0")
    if t.sum() <= 0:
        raise ValueError("the book has no true expected loss")
    return t, b


def true_relativity(T: npt.ArrayLike, B: npt.ArrayLike) -> FloatArray:
    """r = T / (c·B) with c = ΣT / ΣB, the book's true loss ratio on the base."""
    t, b = _inputs(T, B)
    c = t.sum() / b.sum()
    return np.asarray(t / (c * b), dtype=np.float64)


def oracle_premium(
    T: npt.ArrayLike, B: npt.ArrayLike, band_min_pct: float, band_max_pct: float
) -> FloatArray:
    """B · clip(r, 1 + band_min_pct/100, 1 + band_max_pct/100)."""
    lo, hi = _band_limits(band_min_pct, band_max_pct)
    b = np.asarray(B, dtype=np.float64)
    return np.asarray(b * np.clip(true_relativity(T, B), lo, hi), dtype=np.float64)


def dispersion(T: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """D(p): the variance of log(T / p) across sites, weighted by p.

    Sites with T = 0 have no log and are left out (so are sites with p = 0, which
    weigh nothing): D measures how unequal the loss ratios of the sites that carry
    expected loss are. They still count in c and in r elsewhere."""
    t = np.asarray(T, dtype=np.float64)
    w = np.asarray(p, dtype=np.float64)
    keep = (t > 0) & (w > 0)
    if not keep.any():
        return float("nan")
    x = np.log(t[keep] / w[keep])
    w = w[keep]
    mean = float(np.sum(w * x) / w.sum())
    return float(np.sum(w * (x - mean) ** 2) / w.sum())


def equalisation(
    T: npt.ArrayLike,
    B: npt.ArrayLike,
    P: npt.ArrayLike,
    band_min_pct: float,
    band_max_pct: float,
) -> float:
    """(D(B) − D(P)) / (D(B) − D(oracle)): the share of the loss-ratio equalisation the
    band allows that the premiums P reach. 1 when P is the oracle, 0 when P is the
    tariff; NaN when the oracle equalises nothing (D(B) = D(oracle)).

    ``T`` true expected loss per site over the term, ``B`` base and ``P`` final premium.
    Sites with T = 0 are left out of D (see ``dispersion``) but count in c."""
    t, b = _inputs(T, B)
    p = np.asarray(P, dtype=np.float64)
    if p.shape != t.shape or not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValueError("P must be finite, >= 0 and as long as T")
    d_b = dispersion(t, b)
    d_oracle = dispersion(t, oracle_premium(t, b, band_min_pct, band_max_pct))
    room = d_b - d_oracle
    if not math.isfinite(room) or room == 0:
        return float("nan")
    return (d_b - dispersion(t, p)) / room


def ideal_adjustment(
    T: npt.ArrayLike,
    B: npt.ArrayLike,
    band_min_pct: float,
    band_max_pct: float,
    discount_allowed: npt.ArrayLike,
) -> FloatArray:
    """clip(r, lo, 1 + band_max_pct/100) − 1 with lo = 1 + band_min_pct/100 where the
    data-quality gate allows a discount and lo = 1 where it withholds it."""
    low, hi = _band_limits(band_min_pct, band_max_pct)
    r = true_relativity(T, B)
    allowed = np.asarray(discount_allowed, dtype=bool)
    if allowed.shape != r.shape:
        raise ValueError("discount_allowed must be as long as T")
    lo = np.where(allowed, low, 1.0)
    return np.asarray(np.minimum(np.maximum(r, lo), hi) - 1.0, dtype=np.float64)


def ideal_gap(
    T: npt.ArrayLike,
    B: npt.ArrayLike,
    P: npt.ArrayLike,
    band_min_pct: float,
    band_max_pct: float,
    discount_allowed: npt.ArrayLike,
) -> float:
    """Mean over sites of |P/B − 1 − ideal adjustment| (a fraction: 0.10 = 10 points).
    Every site counts, T = 0 included (its r is 0, its ideal the band's floor or 0)."""
    ideal = ideal_adjustment(T, B, band_min_pct, band_max_pct, discount_allowed)
    b = np.asarray(B, dtype=np.float64)
    p = np.asarray(P, dtype=np.float64)
    if p.shape != b.shape or not np.all(np.isfinite(p)):
        raise ValueError("P must be finite and as long as B")
    return float(np.mean(np.abs(p / b - 1.0 - ideal)))


# ---------------------------------------------------------------------------
# the report


def _pct(x: float) -> str:
    return f"{x:+.2f}%" if math.isfinite(x) else "n/a"


@dataclass(frozen=True)
class AdequacyReport:
    """The adequacy of one model's premiums on the test book.

    ``tables`` maps each grouping to its ``loss_ratio_table``; ``spreads`` maps
    "{premium}.{loss}.{grouping}" to its ``adequacy_spread``; ``adequacy`` is the one
    promotion compares (final premium, actual loss, risk deciles). Off-balance: the
    training calibration's before/after the factor (``rating`` of the bundle) and on
    this book (Σ final / Σ base − 1). With a truth table: served expected loss over
    truth, ``equalisation`` and ``gap`` (and the tariff alone's gap, for scale)."""

    month: str
    term_months: int
    sites: int
    band_min_pct: float
    band_max_pct: float
    tables: dict[str, pd.DataFrame]
    spreads: dict[str, float]
    totals: dict[str, float]
    rating: dict[str, Any] = field(default_factory=dict)
    equalisation: float | None = None
    gap: float | None = None
    gap_tariff: float | None = None

    @property
    def adequacy(self) -> float:
        return self.spreads["final.actual.risk_decile"]

    @property
    def book_off_balance_pct(self) -> float:
        return 100.0 * (self.totals["final"] / self.totals["base"] - 1.0)

    @property
    def expected_over_truth(self) -> float | None:
        truth = self.totals.get("truth")
        return None if truth is None or truth <= 0 else self.totals["expected_loss"] / truth

    @property
    def actual_over_expected(self) -> float:
        return self.totals["actual_loss"] / self.totals["expected_loss"]

    def metrics(self) -> dict[str, float]:
        """Flat, finite figures for MLflow (keys under ``adequacy.``)."""
        out: dict[str, float] = {
            "adequacy.spread": self.adequacy,
            "adequacy.sites": float(self.sites),
            "adequacy.term_months": float(self.term_months),
            "adequacy.book_off_balance_pct": self.book_off_balance_pct,
            "adequacy.actual_over_expected": self.actual_over_expected,
            "adequacy.discount_withheld_share": self.totals["discount_withheld_share"],
        }
        for key, value in self.spreads.items():
            out[f"adequacy.spread.{key}"] = value
        for p in PREMIUMS:
            for loss in LOSSES:
                key = f"lr_{p}_{loss}"
                if key in self.totals:
                    out[f"adequacy.{key}"] = self.totals[key]
        for key in ("off_balance_before_pct", "off_balance_after_pct", "off_balance_factor"):
            if key in self.rating:
                out[f"adequacy.{key}"] = float(self.rating[key])
        extra = {
            "adequacy.expected_over_truth": self.expected_over_truth,
            "adequacy.equalisation": self.equalisation,
            "adequacy.gap": self.gap,
            "adequacy.gap_tariff": self.gap_tariff,
        }
        out.update({k: v for k, v in extra.items() if v is not None})
        return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(v)}

    def to_text(self) -> str:
        """A compact plain-text report: the decile table (relative loss ratios, book = 1)
        and the book-level figures."""
        table = self.tables["risk_decile"]
        truth = "rel_tariff_truth" in table
        lines = [
            f"Rate adequacy: {self.sites:,} sites active in {self.month}, priced for "
            f"{self.term_months} month(s) (the test months)",
            "Loss ratio by decile of predicted risk, book = 1",
            "(exp: the model's expected loss; act: incurred"
            + ("; truth: the world's true expected loss)" if truth else ")"),
        ]
        head = ["decile", "sites", "tariff exp", "tariff act", "final exp", "final act"]
        cols = [
            "rel_tariff_expected",
            "rel_tariff_actual",
            "rel_final_expected",
            "rel_final_actual",
        ]
        if truth:
            head += ["tariff truth", "final truth"]
            cols += ["rel_tariff_truth", "rel_final_truth"]
        widths = [max(6, len(h)) for h in head]
        lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
        for row in table.itertuples(index=False):
            cells = [str(row.risk_decile), str(row.sites)]
            cells += [_num(getattr(row, c)) for c in cols]
            lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
        book = ["book LR", ""]
        book += [_num(self.totals[c.replace("rel_", "lr_")]) for c in cols]
        lines.append("  ".join(c.rjust(w) for c, w in zip(book, widths, strict=True)))
        s = self.spreads
        lines.append("Spread across deciles, premium-weighted |LR/book − 1| (smaller is better):")
        spread = (
            f"  actual loss: tariff {s['tariff.actual.risk_decile']:.3f}, "
            f"final {s['final.actual.risk_decile']:.3f}"
        )
        if truth:
            spread += (
                f"; true loss: tariff {s['tariff.truth.risk_decile']:.3f}, "
                f"final {s['final.truth.risk_decile']:.3f}"
            )
        lines.append(spread)
        lines.append("Off-balance, total premium against the tariff total:")
        if "off_balance_after_pct" in self.rating:
            lines.append(
                f"  at training ({self.rating.get('book_month', '?')}) "
                f"{_pct(float(self.rating['off_balance_before_pct']))} before, "
                f"{_pct(float(self.rating['off_balance_after_pct']))} after the factor "
                f"{float(self.rating['off_balance_factor']):.4f}; "
                f"on this book {_pct(self.book_off_balance_pct)}"
            )
        else:
            lines.append(f"  on this book {_pct(self.book_off_balance_pct)}")
        lines.append(
            f"Actual / expected loss {self.actual_over_expected:.3f}; the data-quality gate "
            f"withholds discounts from {self.totals['discount_withheld_share']:.0%} of sites"
        )
        if truth and self.equalisation is not None and self.gap is not None:
            lines.append(
                f"Against the truth: served expected loss / true {self.expected_over_truth:.3f}; "
                f"equalisation {self.equalisation:.2f} of what the band allows;"
            )
            lines.append(
                f"  gap to the ideal adjustment {100 * self.gap:.1f} points "
                f"(tariff alone {100 * (self.gap_tariff or 0.0):.1f})"
            )
        return "\n".join(lines)


def _num(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "-"


def report(
    book: pd.DataFrame,
    *,
    band_min_pct: float,
    band_max_pct: float,
    rating: Mapping[str, Any] | None = None,
    edges: Sequence[float] = VALUE_EDGES_CNY,
) -> AdequacyReport:
    """The adequacy report of a priced test book (``test_book``); ``rating`` is the
    bundle's ``meta.rating`` (the training calibration's off-balance figures)."""
    if book.empty:
        raise ValueError("the test book has no sites")
    grouped = with_groups(book, edges)
    tables: dict[str, pd.DataFrame] = {
        by: loss_ratio_table(grouped, by, edges=edges) for by in GROUPINGS
    }
    losses = _losses(grouped)
    spreads = {
        f"{p}.{loss}.{by}": adequacy_spread(grouped, _PREMIUM_COLUMN[p], _LOSS_COLUMN[loss], by)
        for by in GROUPINGS
        for p in PREMIUMS
        for loss in losses
    }
    totals = {c: float(grouped[c].sum()) for c in ("base", "final", "expected_loss", "actual_loss")}
    if "truth" in losses:
        totals["truth"] = float(grouped["truth"].sum())
    for p in PREMIUMS:
        for loss in losses:
            totals[f"lr_{p}_{loss}"] = totals[_LOSS_COLUMN[loss]] / totals[_PREMIUM_COLUMN[p]]
    totals["discount_withheld_share"] = float((~grouped["discount_allowed"].astype(bool)).mean())
    eq = gap = gap_tariff = None
    if "truth" in losses and totals["truth"] > 0:
        t, b, final = (grouped[c].to_numpy(np.float64) for c in ("truth", "base", "final"))
        allowed = grouped["discount_allowed"].to_numpy(bool)
        eq = equalisation(t, b, final, band_min_pct, band_max_pct)
        gap = ideal_gap(t, b, final, band_min_pct, band_max_pct, allowed)
        gap_tariff = ideal_gap(t, b, b, band_min_pct, band_max_pct, allowed)
    return AdequacyReport(
        month=str(book["month"].iloc[0]),
        term_months=int(book["term_months"].iloc[0]),
        sites=len(book),
        band_min_pct=band_min_pct,
        band_max_pct=band_max_pct,
        tables=tables,
        spreads=spreads,
        totals=totals,
        rating=dict(rating or {}),
        equalisation=eq,
        gap=gap,
        gap_tariff=gap_tariff,
    )


def book_report(
    book: pd.DataFrame, rules: BookRules, rating: Mapping[str, Any] | None = None
) -> AdequacyReport:
    """``report`` with the band and value bands of the rules the book was priced with."""
    return report(
        book,
        band_min_pct=rules.band.min_pct,
        band_max_pct=rules.band.max_pct,
        rating=rating,
        edges=value_edges(rules.tariff),
    )


def outcome_report(outcome: TrainOutcome, truth: pd.DataFrame | None = None) -> AdequacyReport:
    """The adequacy report of a freshly trained model on its test months."""
    book = outcome_book(outcome, truth)
    return book_report(book, outcome.rules, outcome.bundle.meta.rating)
