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


def holdout_over_time(holdout: pd.DataFrame, columns: list[str]) -> str:
    """Actual sales vs forecasts over the holdout days, summed over products: one line per model, the origins
    (where each weekly forecast starts) marked."""
    daily = holdout.groupby("forecast_date")[["target", *columns]].sum().sort_index()
    figure, axis = _pyplot().subplots(figsize=(9, 3.5))
    axis.plot(daily.index, daily["target"], color="black", linewidth=2, label="actual")
    for column in columns:
        axis.plot(daily.index, daily[column], linewidth=1.2, label=column)
    for origin in sorted(holdout["origin_date"].unique()):
        axis.axvline(origin, color="#999999", linestyle=":", linewidth=1)
    axis.set_ylabel("sales (all products)")
    axis.set_title("holdout: actual vs forecast by day (dotted: forecast origins)")
    axis.legend(fontsize=8)
    figure.autofmt_xdate()
    return as_markdown_image(figure, "actual vs forecast over time")


def forecast_by_category(
    history: pd.DataFrame, forecast: pd.DataFrame, target: str = "valor_total", top: int = 6
) -> str:
    """Per category (the `top` largest by recent sales): the last weeks of daily sales and the forecast days
    with their 80% and 95% intervals (sums of the products' bounds: wider than the category's own interval).
    history: categoria_valor, day, sales; forecast: categoria_valor, forecast_date, forecast, lower_80,
    upper_80, lower_95, upper_95; both in `target` (valor_total: revenue, quantidade: units)."""
    totals = history.groupby("categoria_valor")["sales"].sum().sort_values(ascending=False)
    categories = list(totals.index[:top]) or list(forecast["categoria_valor"].unique()[:top])
    if not categories:
        return "nothing to plot: no sales and no forecast"
    columns = min(2, len(categories))  # two across: the UI's markdown dialog is about 1000 pixels wide
    rows = -(-len(categories) // columns)
    figure, axes = _pyplot().subplots(rows, columns, figsize=(5.5 * columns, 2.8 * rows), squeeze=False)
    days = pd.date_range(history["day"].min(), history["day"].max(), freq="D") if len(history) else None
    for axis, category in zip(axes.flat, categories, strict=False):
        past = history[history["categoria_valor"] == category].set_index("day")["sales"]
        if days is not None:
            past = past.reindex(days.date, fill_value=0.0)  # a day without a sale row sold nothing
        ahead = forecast[forecast["categoria_valor"] == category].sort_values("forecast_date")
        axis.plot(list(past.index), past.values, color="black", linewidth=1, label="actual")
        if len(ahead):
            x = list(ahead["forecast_date"])
            if ahead["lower_95"].notna().all():
                axis.fill_between(x, ahead["lower_95"], ahead["upper_95"], color="#4477aa", alpha=0.15, label="95%")
            if ahead["lower_80"].notna().all():
                axis.fill_between(x, ahead["lower_80"], ahead["upper_80"], color="#4477aa", alpha=0.3, label="80%")
            axis.plot(x, ahead["forecast"], color="#4477aa", linewidth=2, label="forecast")
        axis.set_title(str(category)[:40], fontsize=10)
        axis.tick_params(axis="x", labelrotation=45, labelsize=7)
    for axis in list(axes.flat)[len(categories) :]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    axes.flat[0].set_ylabel("units sold (quantidade)" if target == "quantidade" else "revenue (valor_total)")
    figure.tight_layout()
    return as_markdown_image(figure, f"{target} and its forecast by category")
