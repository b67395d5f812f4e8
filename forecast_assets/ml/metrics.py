"""Forecast accuracy metrics, computed the same way for models and baselines: pooled over a holdout, per
forecast origin (then their mean and spread) and per horizon."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

METRICS = ("rmse", "mae", "wape", "weekly_wape", "mase", "bias", "r2")


def forecast_metrics(actual: np.ndarray, predicted: np.ndarray, mase_scale: float) -> dict[str, float]:
    """rmse, mae, wape (sum |error| / sum |actual|), mase (mae / `mase_scale`, the in-sample mean absolute
    error of the seasonal naive forecast, as Hyndman & Koehler define it), bias (mean of predicted - actual)
    and r2."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    error = actual - predicted
    mae = float(np.mean(np.abs(error))) if len(error) else float("nan")
    total = float(np.sum((actual - actual.mean()) ** 2)) if len(actual) else 0.0
    return {
        "rmse": float(np.sqrt(np.mean(error**2))) if len(error) else float("nan"),
        "mae": mae,
        "wape": float(np.sum(np.abs(error)) / np.sum(np.abs(actual))) if np.any(actual) else float("nan"),
        "mase": mae / mase_scale if mase_scale and mase_scale > 0 else float("nan"),
        "bias": float(-np.mean(error)) if len(error) else float("nan"),
        "r2": 1.0 - float(np.sum(error**2)) / total if total > 0 else float("nan"),
    }


def evaluate_forecasts(frame: pd.DataFrame, column: str, mase_scale: float) -> dict:
    """Scores of predictions in `column` against `target`, for a frame with origin_date and horizon:
    `metrics` pooled over every row, `by_origin` (each weekly origin on its own), `origin_mean` and
    `origin_std` over those, and `by_horizon` (every origin's h-days-ahead rows together)."""
    by_origin = {
        str(origin): {
            **forecast_metrics(rows["target"], rows[column], mase_scale),
            "weekly_wape": total_wape(rows, column),
        }
        for origin, rows in frame.groupby("origin_date", sort=True)
    }
    by_horizon = {
        str(int(h)): forecast_metrics(rows["target"], rows[column], mase_scale)
        for h, rows in frame.groupby("horizon", sort=True)
    }
    per_origin = pd.DataFrame(by_origin).T
    return {
        "metrics": {
            **forecast_metrics(frame["target"], frame[column], mase_scale),
            "weekly_wape": total_wape(frame, column),
        },
        "origin_mean": {m: _finite(per_origin[m].mean()) for m in METRICS},
        "origin_std": {m: _finite(per_origin[m].std(ddof=0)) for m in METRICS},
        "by_origin": by_origin,
        "by_horizon": by_horizon,
    }


def total_wape(frame: pd.DataFrame, column: str) -> float:
    """WAPE of each product's total over an origin's H days (what a team planning the week orders against):
    sum over (product, origin) of |sum of forecasts - sum of sales|, over the sum of sales."""
    totals = frame.groupby(["produto", "origin_date"])[["target", column]].sum()
    actual = totals["target"].abs().sum()
    return float((totals["target"] - totals[column]).abs().sum() / actual) if actual else float("nan")


def _finite(value: float) -> float:
    return float(value) if value is not None and math.isfinite(value) else float("nan")


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """Split-conformal quantile of nonconformity scores: the ceil((n + 1) * coverage)-th smallest, so that a
    new score exchangeable with these falls at or below it with probability >= coverage (inf when too few
    scores to promise that)."""
    scores = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    rank = math.ceil((len(scores) + 1) * coverage)
    return float(scores[rank - 1]) if 0 < rank <= len(scores) else math.inf
