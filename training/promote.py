"""Promotion: a challenger becomes champion only if it is not worse on months
neither model learned from, and the premium moves it would cause are on record.

Besides the model metrics (Gini, deviance, A/E on the test site-months), both models
price the same book the way the service would charge it (``training.adequacy.test_book``:
every site active in the first test month, a term as long as the test months, the
current rating plan) and the rating plan's promotion rules
(``plan.promotion`` and ``plan.off_balance`` in ``models/pricing/rules/plan-*.yaml``)
are checked on the premiums charged:

- **adequacy**: the challenger's spread of actual loss ratios across risk deciles
  (``PromotionAdequacy``) may exceed the champion's by at most
  ``promotion.adequacy_tolerance``;
- **dislocation**: at most ``promotion.max_share_moving_10pct`` of the sites may see
  their final premium move by 10% or more against the champion's, and at most
  ``promotion.max_share_moving_20pct`` by 20% or more (the bands of
  ``training.dislocation``, either direction);
- **off-balance**: the challenger's book total after the plan, at its training
  calibration (``rating.off_balance_after_pct``), must lie within
  ±``off_balance.tolerance_pct`` of the tariff total.

``--force`` promotes anyway; the override is recorded (MLflow tag and param, a tag on
the model version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models import features as fdef
from models.bundle import ModelBundle
from models.contract import ContractData
from training import adequacy as ad
from training import metrics as m
from training.book import BookRules
from training.dataset import build_dataset, split_by_time
from training.dislocation import BANDS, rate_impact

if TYPE_CHECKING:
    from training.adequacy import AdequacyReport

# A challenger may trail the champion by this much and still count as "not worse":
# test months are few and claims noisy, so exact ties are not the bar.
GINI_TOLERANCE = 0.01
DEVIANCE_TOLERANCE = 0.01
AE_TOLERANCE = 0.05

# dislocation bands that count as "moving by 10% or more" and "by 20% or more"
MOVING_10PCT = frozenset(BANDS[2:])
MOVING_20PCT = frozenset(BANDS[3:])


def current_rules() -> BookRules:
    from models.pricing import load_band, load_plan, load_tariff

    return BookRules(load_tariff(), load_band(), load_plan())


@dataclass(frozen=True)
class PromotionAdequacy:
    """The adequacy promotion compares, for both models on the same book.

    A model's spread (``adequacy.adequacy_spread`` of its final premium on the actual
    incurred loss) is taken over the risk deciles of *each* model's predicted risk, and
    the larger of the two counts. On its own deciles alone a model that ranked sites at
    random would look adequate: random groups all have the book's loss ratio. On the
    other model's deciles its premiums must follow the risk the other model finds."""

    # (model, ranking) -> spread; model and ranking in ("challenger", "champion")
    spreads: dict[tuple[str, str], float]

    def of(self, model: str) -> float:
        values = [v for (who, _), v in self.spreads.items() if who == model]
        return float(max(values))

    def table(self) -> pd.DataFrame:
        rows = [
            {"model": who, "deciles_of": ranking, "spread": value}
            for (who, ranking), value in self.spreads.items()
        ]
        return pd.DataFrame(rows)


def promotion_adequacy(challenger: pd.DataFrame, champion: pd.DataFrame) -> PromotionAdequacy:
    """Both priced books (same sites in the same order) on both models' risk deciles."""
    if list(challenger["site_id"]) != list(champion["site_id"]):
        raise ValueError("the two books do not hold the same sites in the same order")
    books = {"challenger": challenger, "champion": champion}
    deciles = {
        name: ad.risk_deciles(book["risk_factor"], book["base"]) for name, book in books.items()
    }
    spreads = {
        (who, ranking): ad.adequacy_spread(
            book.assign(_decile=deciles[ranking]), "final", "actual_loss", "_decile"
        )
        for who, book in books.items()
        for ranking in books
    }
    return PromotionAdequacy(spreads)


@dataclass
class Comparison:
    months: tuple[str, ...]
    challenger: dict[str, float]
    champion: dict[str, float] | None
    # sites by move of the final premium, challenger against champion (rate_impact)
    dislocation: pd.DataFrame | None
    reasons: list[str] = field(default_factory=list)
    challenger_adequacy: AdequacyReport | None = None
    champion_adequacy: AdequacyReport | None = None
    adequacy: PromotionAdequacy | None = None
    # share of sites moving by 10% / 20% or more
    moving: dict[str, float] = field(default_factory=dict)
    # the plan's limits the comparison was judged against
    limits: dict[str, float | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def not_worse(self) -> bool:
        return not self.reasons

    def metrics(self) -> dict[str, float]:
        """Flat figures for MLflow: model metrics, adequacy, dislocation shares."""
        out = {f"challenger.{k}": v for k, v in self.challenger.items()}
        if self.champion is not None:
            out.update({f"champion.{k}": v for k, v in self.champion.items()})
        for who, rep in (
            ("challenger", self.challenger_adequacy),
            ("champion", self.champion_adequacy),
        ):
            if rep is not None:
                out.update({f"{who}.{k}": v for k, v in rep.metrics().items()})
        if self.adequacy is not None:
            for (who, ranking), value in self.adequacy.spreads.items():
                out[f"{who}.adequacy.spread_on_{ranking}_deciles"] = value
            out["challenger.adequacy.promotion"] = self.adequacy.of("challenger")
            out["champion.adequacy.promotion"] = self.adequacy.of("champion")
        out.update({f"dislocation.{k}": v for k, v in self.moving.items()})
        return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def _metrics(bundle: ModelBundle, frame: pd.DataFrame) -> tuple[dict[str, float], np.ndarray]:
    x = fdef.to_matrix(frame)
    rate = bundle.loss_rate(x)
    exposure = frame["exposure"].to_numpy(np.float64)
    actual = frame["loss"].to_numpy(np.float64)
    predicted = rate * exposure
    out = {
        "gini": m.gini(actual, rate, exposure),
        "ae": m.actual_over_expected(actual, predicted),
        "deviance": m.mean_tweedie_deviance(actual / exposure, rate, power=1.5, weights=exposure),
    }
    return out, rate


def latest_site_premiums(frame: pd.DataFrame, rate: np.ndarray) -> pd.Series:
    """A site's rate in its latest month (the notebooks' rate comparison; promotion
    compares the premiums charged, see ``compare``)."""
    return frame.assign(rate=rate).sort_values("month").groupby("site_id")["rate"].last()


def _model_reasons(ch: dict[str, float], cp: dict[str, float]) -> list[str]:
    reasons: list[str] = []
    if ch["gini"] < cp["gini"] - GINI_TOLERANCE:
        reasons.append(f"Gini {ch['gini']:.4f} is below the champion's {cp['gini']:.4f}")
    if ch["deviance"] > cp["deviance"] * (1 + DEVIANCE_TOLERANCE):
        reasons.append(
            f"deviance {ch['deviance']:.4g} is above the champion's {cp['deviance']:.4g}"
        )
    ch_gap, cp_gap = abs(ch["ae"] - 1), abs(cp["ae"] - 1)
    if ch_gap > max(cp_gap, AE_TOLERANCE):
        reasons.append(f"A/E {ch['ae']:.3f} is further from 1 than the champion's {cp['ae']:.3f}")
    return reasons


def moving_shares(dislocation: pd.DataFrame) -> dict[str, float]:
    """Share of sites whose premium moves by 10% or more, and by 20% or more, either way."""
    moved = dislocation[dislocation["direction"] != "none"]
    return {
        "share_moving_10pct": float(moved.loc[moved["band"].isin(MOVING_10PCT), "share"].sum()),
        "share_moving_20pct": float(moved.loc[moved["band"].isin(MOVING_20PCT), "share"].sum()),
    }


def compare(
    challenger: ModelBundle,
    champion: ModelBundle | None,
    data: ContractData,
    *,
    truth: pd.DataFrame | None = None,
    rules: BookRules | None = None,
) -> Comparison:
    """Challenger against champion on the test months of ``data``: model metrics on the
    site-months, and both models' premiums on the same test book under ``rules`` (default
    the current tariff, band and plan). ``truth`` (a synthetic world's) adds the
    equalisation and gap figures to each adequacy report; it decides nothing."""
    rules = rules or current_rules()
    ds = build_dataset(data)
    split = split_by_time(ds.months)
    frame = ds.frame[ds.frame["month"].isin(set(split.test))]
    frame = frame[frame["exposure"].fillna(0.0) > 0.0]
    promo, ob = rules.plan.promotion, rules.plan.off_balance
    limits: dict[str, float | str] = {
        "plan_version": rules.plan.version,
        "adequacy_tolerance": promo.adequacy_tolerance,
        "max_share_moving_10pct": promo.max_share_moving_10pct,
        "max_share_moving_20pct": promo.max_share_moving_20pct,
        "off_balance_tolerance_pct": ob.tolerance_pct,
    }
    ch_metrics, _ = _metrics(challenger, frame)
    out = Comparison(split.test, ch_metrics, None, None, limits=limits)
    if not challenger.meta.rating:
        out.reasons.append(
            "the challenger carries no rating-plan calibration (book loss ratio, off-balance): "
            "it cannot be priced under plan " + rules.plan.version + "; retrain it"
        )
        return out
    ch_book = ad.test_book(data, ds.frame, challenger, rules, split.test, truth)
    out.challenger_adequacy = ad.book_report(ch_book, rules, challenger.meta.rating)
    after = float(challenger.meta.rating["off_balance_after_pct"])
    if abs(after) > ob.tolerance_pct:
        out.reasons.append(
            f"off-balance: the challenger's total premium after the plan is {after:+.2f}% off "
            f"the tariff total at its calibration (limit ±{ob.tolerance_pct:g}%)"
        )
    if champion is None:
        return out
    cp_metrics, _ = _metrics(champion, frame)
    out.champion = cp_metrics
    out.reasons.extend(_model_reasons(ch_metrics, cp_metrics))
    if not champion.meta.rating:
        out.notes.append(
            "the champion predates the rating plan (no calibration stored with it): its "
            "premiums under the plan are unknown, so dislocation and adequacy are not compared"
        )
        return out
    cp_book = ad.test_book(data, ds.frame, champion, rules, split.test, truth)
    out.champion_adequacy = ad.book_report(cp_book, rules, champion.meta.rating)
    out.dislocation = rate_impact(cp_book["final"].to_numpy(), ch_book["final"].to_numpy())
    out.moving = moving_shares(out.dislocation)
    out.adequacy = promotion_adequacy(ch_book, cp_book)
    ch_spread, cp_spread = out.adequacy.of("challenger"), out.adequacy.of("champion")
    if ch_spread > cp_spread + promo.adequacy_tolerance:
        out.reasons.append(
            f"adequacy: the spread of actual loss ratios across risk deciles is "
            f"{ch_spread:.3f} against the champion's {cp_spread:.3f} "
            f"(tolerance {promo.adequacy_tolerance:g})"
        )
    for key, limit, what in (
        ("share_moving_10pct", promo.max_share_moving_10pct, "10%"),
        ("share_moving_20pct", promo.max_share_moving_20pct, "20%"),
    ):
        if out.moving[key] > limit:
            out.reasons.append(
                f"dislocation: {out.moving[key]:.1%} of sites would see their premium move by "
                f"{what} or more (limit {limit:.0%})"
            )
    return out


def adequacy_side_by_side(comparison: Comparison) -> pd.DataFrame | None:
    """Relative loss ratios of the final premium (book = 1) by each model's own risk
    decile, both models side by side: ``{model}_{loss}`` for loss in expected, actual
    (and truth when known)."""
    ch, cp = comparison.challenger_adequacy, comparison.champion_adequacy
    if ch is None or cp is None:
        return None
    losses = ["expected", "actual"]
    if "rel_final_truth" in ch.tables["risk_decile"]:
        losses.append("truth")
    out = pd.DataFrame({"risk_decile": ch.tables["risk_decile"]["risk_decile"]})
    for loss in losses:
        for who, rep in (("challenger", ch), ("champion", cp)):
            out[f"{who}_{loss}"] = rep.tables["risk_decile"][f"rel_final_{loss}"].to_numpy()
    return out


def summary_text(comparison: Comparison) -> str:
    """Plain-text dislocation and adequacy comparison for the terminal."""
    lines: list[str] = []
    ch, cp = comparison.challenger_adequacy, comparison.champion_adequacy
    if comparison.dislocation is not None:
        lines.append(
            "Premium dislocation: final premium charged, challenger against champion, same "
            f"{ch.sites if ch else '?'} sites"
        )
        table = comparison.dislocation[["label", "count", "share"]]
        for row in table.itertuples(index=False):
            lines.append(f"  {row.label:>14}  {row.count:>6}  {row.share:6.1%}")
        limits = comparison.limits
        lines.append(
            f"  moving 10% or more: {comparison.moving['share_moving_10pct']:.1%} "
            f"(limit {float(limits['max_share_moving_10pct']):.0%}); "
            f"20% or more: {comparison.moving['share_moving_20pct']:.1%} "
            f"(limit {float(limits['max_share_moving_20pct']):.0%})"
        )
    rows: list[tuple[str, str, str]] = []

    def fmt(value: float | None, spec: str = ".3f") -> str:
        return "-" if value is None or not np.isfinite(value) else format(value, spec)

    if ch is not None:
        rows.append(
            ("adequacy spread, own deciles", fmt(ch.adequacy), fmt(cp.adequacy if cp else None))
        )
    if comparison.adequacy is not None:
        rows.append(
            (
                "adequacy spread, worse of both rankings",
                fmt(comparison.adequacy.of("challenger")),
                fmt(comparison.adequacy.of("champion")),
            )
        )
    if ch is not None:
        rows.append(
            (
                "off-balance at training (%)",
                fmt(float(ch.rating.get("off_balance_after_pct", np.nan)), "+.2f"),
                fmt(float(cp.rating.get("off_balance_after_pct", np.nan)) if cp else None, "+.2f"),
            )
        )
        rows.append(
            (
                "off-balance on the test book (%)",
                fmt(ch.book_off_balance_pct, "+.2f"),
                fmt(cp.book_off_balance_pct if cp else None, "+.2f"),
            )
        )
        rows.append(
            (
                "actual / expected loss",
                fmt(ch.actual_over_expected),
                fmt(cp.actual_over_expected if cp else None),
            )
        )
        if ch.equalisation is not None:
            rows.append(
                ("equalisation (truth)", fmt(ch.equalisation), fmt(cp.equalisation if cp else None))
            )
            rows.append(
                (
                    "gap to ideal, points (truth)",
                    fmt(100 * (ch.gap or 0.0), ".1f"),
                    fmt(100 * cp.gap if cp and cp.gap is not None else None, ".1f"),
                )
            )
            rows.append(
                (
                    "expected / true loss",
                    fmt(ch.expected_over_truth),
                    fmt(cp.expected_over_truth if cp else None),
                )
            )
    if rows:
        width = max(len(r[0]) for r in rows)
        lines.append(
            f"Rate adequacy on the test book ({comparison.months[0]}..{comparison.months[-1]}; "
            f"tolerance {comparison.limits.get('adequacy_tolerance', '?')})"
        )
        lines.append(f"  {'':<{width}}  {'challenger':>10}  {'champion':>10}")
        for name, a, b in rows:
            lines.append(f"  {name:<{width}}  {a:>10}  {b:>10}")
    side = adequacy_side_by_side(comparison)
    if side is not None:
        lines.append(
            "Loss ratio of the final premium by each model's own risk decile, book = 1 "
            "(ch: challenger, cp: champion):"
        )
        lines.append(_side_text(side))
    lines.extend(f"Note: {n}" for n in comparison.notes)
    return "\n".join(lines)


def _side_text(side: pd.DataFrame) -> str:
    head = ["decile"]
    for col in side.columns[1:]:
        who, loss = col.split("_", 1)
        head.append(f"{loss[:5]} {'ch' if who == 'challenger' else 'cp'}")
    widths = [max(6, len(h)) for h in head]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    for row in side.itertuples(index=False):
        values = [float(v) for v in row[1:]]
        cells = [str(row[0]), *("-" if not np.isfinite(v) else f"{v:.2f}" for v in values)]
        out.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(out)


def log_comparison(comparison: Comparison, promoted: bool, forced: bool, info: dict[str, Any],
                   tmp: Path) -> str:  # fmt: skip
    """One MLflow run per promotion decision: the metrics of both models, the premium
    dislocation (table and figure), each model's adequacy tables and figure, the
    reasons, and whether ``--force`` overrode them (tag ``forced`` and param
    ``forced``, with the overridden reasons in ``forced_over``)."""
    import matplotlib.pyplot as plt
    import mlflow

    from training import plots
    from training.tracking import log_adequacy

    with mlflow.start_run(run_name="promote") as run:
        mlflow.set_tags({"action": "promote", "promoted": str(promoted), "forced": str(forced)})
        params = {k: str(v) for k, v in info.items()}
        params["forced"] = str(forced)
        if forced:
            params["forced_over"] = "; ".join(comparison.reasons)[:6000]
        params.update({f"limit.{k}": str(v) for k, v in comparison.limits.items()})
        mlflow.log_params(params)
        mlflow.log_param("test_months", f"{comparison.months[0]}..{comparison.months[-1]}")
        mlflow.log_metrics(comparison.metrics())
        if comparison.dislocation is not None:
            path = tmp / "premium_dislocation.csv"
            comparison.dislocation.to_csv(path, index=False)
            mlflow.log_artifact(str(path))
            fig = plots.dislocation_figure(
                comparison.dislocation,
                title="Sites by move of the final premium, challenger against champion",
            )
            mlflow.log_figure(fig, "premium_dislocation.png")
            plt.close(fig)
        for who, rep in (
            ("challenger", comparison.challenger_adequacy),
            ("champion", comparison.champion_adequacy),
        ):
            if rep is not None:
                log_adequacy(rep, f"adequacy/{who}")
        if comparison.adequacy is not None:
            mlflow.log_text(
                comparison.adequacy.table().to_csv(index=False), "adequacy/promotion_spreads.csv"
            )
        summary = summary_text(comparison)
        if summary:
            mlflow.log_text(summary + "\n", "comparison.txt")
        if comparison.reasons:
            mlflow.log_text("\n".join(comparison.reasons), "reasons.txt")
        return str(run.info.run_id)
