from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from training import adequacy, plots
from training import metrics as m
from training.dislocation import rate_impact

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@pytest.fixture
def portfolio() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    exposure = rng.lognormal(7, 0.5, 400)
    rate = rng.lognormal(-3, 0.6, 400)
    loss = rate * exposure * rng.gamma(1.0, 1.0, 400)
    return loss, rate, exposure


def test_lorenz_figure_draws_each_curve_with_its_gini(portfolio) -> None:
    loss, rate, exposure = portfolio
    noisy = rate * np.random.default_rng(1).lognormal(0, 1, len(rate))
    curves = {
        "model": m.lorenz_curve(loss, rate, exposure),
        "noisy": m.lorenz_curve(loss, noisy, exposure),
    }
    oracle = m.lorenz_curve(loss, loss / exposure, exposure)
    fig = plots.lorenz_figure(curves, oracle=oracle, title="test months")
    assert isinstance(fig, Figure)
    assert isinstance(fig.canvas, FigureCanvasAgg)
    (ax,) = fig.axes
    assert ax.get_title() == "test months"
    labels = [line.get_label() for line in ax.get_lines()]
    assert len(labels) == 4  # two models, oracle, random diagonal
    expected = f"model (Gini {m.gini(loss, rate, exposure):.3f})"
    assert expected in labels
    assert any(label.startswith("oracle (Gini") for label in labels)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), curves["model"][1])
    assert _png(fig).startswith(PNG_MAGIC)

    no_oracle = plots.lorenz_figure(curves, title="t")
    assert len(no_oracle.axes[0].get_lines()) == 3


def test_calibration_figure_plots_ae_per_decile_with_reference_line(portfolio) -> None:
    loss, rate, exposure = portfolio
    tables = {
        "model": m.ae_by_decile(loss, rate * exposure, exposure, rate),
        "flat": m.ae_by_decile(loss, np.full(len(loss), loss.mean()), exposure, np.ones(len(loss))),
    }
    fig = plots.calibration_figure(tables)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"model", "flat", "A/E = 1"}
    np.testing.assert_allclose(lines["model"].get_ydata(), tables["model"]["ae"])
    np.testing.assert_allclose(lines["A/E = 1"].get_ydata(), [1.0, 1.0])
    assert _png(fig).startswith(PNG_MAGIC)


def test_dislocation_figure_shows_each_band_share() -> None:
    old = np.full(6, 100.0)
    new = np.array([70.0, 97.0, 100.0, 103.0, 112.0, 130.0])
    bands = rate_impact(old, new)
    fig = plots.dislocation_figure(bands)
    (ax,) = fig.axes
    heights = [patch.get_height() for patch in ax.patches]
    np.testing.assert_allclose(heights, bands["share"])
    assert [t.get_text() for t in ax.get_xticklabels()] == bands["label"].tolist()
    assert _png(fig).startswith(PNG_MAGIC)


def test_adequacy_figure_draws_tariff_and_final_loss_ratios_by_decile(portfolio) -> None:
    loss, rate, exposure = portfolio
    base = exposure / 10.0
    book = pd.DataFrame(
        {
            "base": base,
            "final": base * np.clip(rate / rate.mean(), 0.7, 1.3),
            "expected_loss": rate * exposure,
            "actual_loss": loss,
            "truth": rate * exposure * 1.05,
            "risk_factor": rate,
            "contract_value_cny": 1e8,
            "project_type": "residential",
        }
    )
    table = adequacy.loss_ratio_table(book, "risk_decile")
    fig = plots.adequacy_figure(table)
    left, right = fig.axes
    assert left.get_title() == "Tariff alone"
    assert right.get_title() == "Final premium"
    lines = {line.get_label(): line for line in right.get_lines()}
    assert set(lines) == {"expected (model)", "actual (incurred)", "true expected", "book"}
    np.testing.assert_allclose(lines["actual (incurred)"].get_ydata(), table["rel_final_actual"])
    tariff = {line.get_label(): line for line in left.get_lines()}
    np.testing.assert_allclose(tariff["expected (model)"].get_ydata(), table["rel_tariff_expected"])
    assert _png(fig).startswith(PNG_MAGIC)
    # without a truth table there is no truth line
    no_truth = adequacy.loss_ratio_table(book.assign(truth=np.nan), "risk_decile")
    labels = [line.get_label() for line in plots.adequacy_figure(no_truth).axes[0].get_lines()]
    assert "true expected" not in labels
