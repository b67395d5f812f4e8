"""Matplotlib figures for the model comparison, embedded in markdown metadata as PNG data URIs."""

from __future__ import annotations

import base64
import io

import pandas as pd


def _pyplot():
    """matplotlib's pyplot on the Agg backend, imported on first use: loading the definitions stays fast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def as_markdown_image(figure, title: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    _pyplot().close(figure)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"


def metric_bars(metrics: pd.DataFrame) -> str:
    """One bar chart per metric, models and baselines side by side."""
    names = ["rmse", "mae", "wape", "mase"]
    figure, axes = _pyplot().subplots(1, len(names), figsize=(4 * len(names), 3.2))
    for axis, name in zip(axes, names, strict=True):
        metrics[name].plot.bar(
            ax=axis, color=["#4477aa" if k in metrics.attrs["models"] else "#bbbbbb" for k in metrics.index]
        )
        axis.set_title(name.upper())
        axis.tick_params(axis="x", labelrotation=45)
    return as_markdown_image(figure, "metrics")


def predicted_vs_actual(holdout: pd.DataFrame, columns: list[str]) -> str:
    sample = holdout.sample(min(len(holdout), 5000), random_state=0)
    figure, axes = _pyplot().subplots(1, len(columns), figsize=(4 * len(columns), 4), sharey=True)
    top = float(max(sample["target"].max(), *(sample[c].max() for c in columns)))
    for axis, column in zip(axes, columns, strict=True):
        axis.scatter(sample[column], sample["target"], s=4, alpha=0.4)
        axis.plot([0, top], [0, top], "r--", linewidth=1)
        axis.set_title(column)
        axis.set_xlabel("predicted")
    axes[0].set_ylabel("actual")
    return as_markdown_image(figure, "predicted vs actual")


def residual_histograms(holdout: pd.DataFrame, columns: list[str]) -> str:
    figure, axis = _pyplot().subplots(figsize=(7, 3.5))
    for column in columns:
        axis.hist(holdout["target"] - holdout[column], bins=50, alpha=0.5, label=column)
    axis.set_xlabel("residual (actual - predicted)")
    axis.legend()
    return as_markdown_image(figure, "residuals")


def feature_importances(importances: dict[str, dict[str, float]]) -> str:
    frame = pd.DataFrame(importances)
    figure, axis = _pyplot().subplots(figsize=(7, 0.35 * len(frame) + 1))
    frame.sort_values(frame.columns[0]).plot.barh(ax=axis)
    axis.set_xlabel("importance")
    return as_markdown_image(figure, "feature importances")
