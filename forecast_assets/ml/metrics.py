"""Forecast accuracy metrics on a holdout, computed the same way for models and baselines."""

from __future__ import annotations

import numpy as np


def forecast_metrics(actual: np.ndarray, predicted: np.ndarray, mase_scale: float) -> dict[str, float]:
    """rmse, mae, r2, wape (sum |error| / sum |actual|) and mase (mae / `mase_scale`, the in-sample
    mean absolute error of the seasonal naive forecast, as Hyndman & Koehler define it)."""
    error = actual - predicted
    mae = float(np.mean(np.abs(error)))
    total = float(np.sum((actual - actual.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": mae,
        "r2": 1.0 - float(np.sum(error**2)) / total if total > 0 else float("nan"),
        "wape": float(np.sum(np.abs(error)) / np.sum(np.abs(actual))) if np.any(actual) else float("nan"),
        "mase": mae / mase_scale if mase_scale > 0 else float("nan"),
    }
