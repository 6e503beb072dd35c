"""Evaluation figures. Each function returns a ``matplotlib.figure.Figure``
built without pyplot (no global state, no GUI backend); the caller saves or
logs it, e.g. ``fig.savefig(path)``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Curve = tuple[npt.ArrayLike, npt.ArrayLike]

_DIRECTION_COLOURS = {"down": "#2b8cbe", "none": "#969696", "up": "#e34a33"}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # attaches the Agg canvas so savefig needs no backend choice
    return fig


def _curve_gini(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    return float(1.0 - 2.0 * np.trapezoid(np.asarray(y, dtype=float), np.asarray(x, dtype=float)))


def lorenz_figure(
    curves: Mapping[str, Curve],
    oracle: Curve | None = None,
    title: str = "Ordered Lorenz curves",
) -> Figure:
    """Lorenz curves (from ``metrics.lorenz_curve``) with their Gini in the legend,
    the random-ranking diagonal and, if given, the oracle curve dashed."""
    fig = _figure(6.0, 6.0)
    ax = fig.add_subplot()
    for name, (x, y) in curves.items():
        ax.plot(x, y, linewidth=1.5, label=f"{name} (Gini {_curve_gini(x, y):.3f})")
    if oracle is not None:
        ox, oy = oracle
        ax.plot(
            ox,
            oy,
            linestyle="--",
            color="black",
            linewidth=1.2,
            label=f"oracle (Gini {_curve_gini(ox, oy):.3f})",
        )
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1.0, label="random")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="Cumulative share of exposure (worker-hours), lowest predicted rate first",
        ylabel="Cumulative share of loss",
        title=title,
    )
    ax.set_aspect("equal")
    ax.legend(loc="upper left")
    return fig


def calibration_figure(
    tables: Mapping[str, pd.DataFrame], title: str = "Actual / expected by score decile"
) -> Figure:
    """A/E per exposure decile (tables from ``metrics.ae_by_decile``), one line per
    model, with the perfect-calibration line at 1.0."""
    fig = _figure(7.0, 4.5)
    ax = fig.add_subplot()
    n = 1
    for name, table in tables.items():
        ax.plot(table["decile"], table["ae"], marker="o", linewidth=1.5, label=name)
        n = max(n, int(table["decile"].max()))
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1.0, label="A/E = 1")
    ax.set(
        xticks=range(1, n + 1),
        xlabel="Decile of exposure, ranked by predicted rate (1 = lowest)",
        ylabel="Actual / expected loss",
        title=title,
    )
    ax.set_ylim(bottom=0)
    ax.legend()
    return fig


def dislocation_figure(bands: pd.DataFrame, title: str = "Premium dislocation") -> Figure:
    """Share of sites per band (table from ``dislocation.rate_impact``), cuts on the
    left and increases on the right, each bar annotated with its site count."""
    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot()
    positions = np.arange(len(bands))
    colours = [_DIRECTION_COLOURS.get(str(d), "#969696") for d in bands["direction"]]
    bars = ax.bar(positions, bands["share"], color=colours)
    ax.bar_label(bars, labels=[f"{int(c)}" for c in bands["count"]], padding=2, fontsize=8)
    ax.set_xticks(positions, list(bands["label"]), rotation=30, ha="right")
    ax.set(ylabel="Share of sites", title=title)
    ax.set_ylim(0, max(float(bands["share"].max()), 0.05) * 1.15)
    return fig


_ADEQUACY_LINES = (
    ("expected", "o", "-", "expected (model)"),
    ("actual", "s", ":", "actual (incurred)"),
    ("truth", "^", "--", "true expected"),
)


def adequacy_figure(
    table: pd.DataFrame,
    title: str = "Loss ratio by decile of predicted risk (book = 1)",
) -> Figure:
    """Relative loss ratios per risk decile (a ``risk_decile`` table from
    ``adequacy.loss_ratio_table``), on the tariff alone (left) and on the final premium
    (right): expected, actual and, when the table has it, true. A premium that follows
    the risk keeps its line flat at 1."""
    fig = _figure(10.0, 4.5)
    left, right = fig.subplots(1, 2, sharey=True)
    deciles = table["risk_decile"].to_numpy()
    top = 1.0
    for ax, premium, name in ((left, "tariff", "Tariff alone"), (right, "final", "Final premium")):
        for loss, marker, style, label in _ADEQUACY_LINES:
            column = f"rel_{premium}_{loss}"
            if column not in table:
                continue
            values = table[column].to_numpy(np.float64)
            ax.plot(deciles, values, marker=marker, linestyle=style, linewidth=1.5, label=label)
            if np.isfinite(values).any():
                top = max(top, float(np.nanmax(values)))
        ax.axhline(1.0, color="black", linewidth=1.0, linestyle="-", alpha=0.4, label="book")
        ax.set(
            xticks=list(deciles),
            xlabel="Decile of predicted risk, base-premium weighted (1 = lowest)",
            title=name,
        )
        ax.legend(loc="upper left")
    left.set_ylabel("Loss ratio / book loss ratio")
    left.set_ylim(0, top * 1.1)
    fig.suptitle(title)
    return fig
