"""The PNG of `brokerflow metrics --plot`: acknowledgement latency and slippage distributions per broker.

matplotlib is an optional extra (`pip install 'brokerflow[plot]'`); it draws with the Agg backend (no display).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from domain.broker_integration.rules.metrics import ExecutionMetrics

__all__ = ["PlotUnavailableError", "plot_distributions"]


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ModuleNotFoundError as exc:
        raise PlotUnavailableError("--plot needs matplotlib: pip install 'brokerflow[plot]'") from exc
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def _series(rows: Sequence[ExecutionMetrics], field: str) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    for row in rows:
        value: Decimal | None = getattr(row, field)
        if value is not None:
            series.setdefault(row.broker or "-", []).append(float(value))
    return dict(sorted(series.items()))


def _panel(ax: Any, series: dict[str, list[float]], title: str, unit: str) -> None:
    ax.set_title(title)
    ax.set_ylabel(unit)
    if not series:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        return
    names = list(series)
    ax.boxplot([series[n] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), [f"{n}\n(n={len(series[n])})" for n in names])
    for i, name in enumerate(names, start=1):  # every order as a point beside its box
        values = series[name]
        offsets = [i + 0.25 * ((k % 7) - 3) / 3 * 0.5 for k in range(len(values))]
        ax.scatter(offsets, values, s=10, alpha=0.6)
    ax.grid(axis="y", alpha=0.3)


def plot_distributions(rows: Sequence[ExecutionMetrics], path: Path, title: str) -> Path:
    """Write a PNG with two panels (acknowledgement latency in ms, slippage in bps), one box per broker."""
    plt = _pyplot()
    figure, (latency, slippage) = plt.subplots(1, 2, figsize=(11, 4.5))
    _panel(latency, _series(rows, "ack_latency_ms"), "Acknowledgement latency", "ms")
    _panel(slippage, _series(rows, "slippage_bps"), "Slippage vs arrival price (+ is worse)", "bps")
    slippage.axhline(0, color="grey", linewidth=0.8)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
    return path
