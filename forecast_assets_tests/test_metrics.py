"""Forecast metrics (ml/metrics.py) on hand-made numbers: each metric as defined, per origin and horizon, and the
conformal quantile's rank."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from forecast_assets.ml.metrics import conformal_quantile, evaluate_forecasts, forecast_metrics, total_wape


def test_each_metric_is_its_definition():
    actual, predicted = np.array([10.0, 0.0, 4.0, 6.0]), np.array([8.0, 1.0, 4.0, 9.0])
    error = actual - predicted  # 2, -1, 0, -3
    scores = forecast_metrics(actual, predicted, mase_scale=2.0)
    assert scores["rmse"] == pytest.approx(math.sqrt((4 + 1 + 0 + 9) / 4))
    assert scores["mae"] == pytest.approx(6 / 4)
    assert scores["wape"] == pytest.approx(6 / 20)
    assert scores["mase"] == pytest.approx(6 / 4 / 2.0)
    assert scores["bias"] == pytest.approx(2 / 4)  # over-forecast is positive
    assert scores["r2"] == pytest.approx(1 - np.sum(error**2) / np.sum((actual - actual.mean()) ** 2))


def test_undefined_metrics_are_nan_not_zero():
    zero = forecast_metrics(np.zeros(3), np.ones(3), mase_scale=0.0)
    assert math.isnan(zero["wape"]) and math.isnan(zero["mase"]) and math.isnan(zero["r2"])  # no sales, no scale
    assert zero["rmse"] == pytest.approx(1.0) and zero["bias"] == pytest.approx(1.0)
    empty = forecast_metrics(np.array([]), np.array([]), mase_scale=1.0)
    assert all(math.isnan(empty[m]) for m in ("rmse", "mae", "bias"))


def test_weekly_wape_scores_each_products_week_total():
    frame = pd.DataFrame(
        {
            "produto": ["A", "A", "B", "B"],
            "origin_date": [date(2025, 1, 5)] * 4,
            "target": [10.0, 0.0, 3.0, 3.0],
            "forecast": [0.0, 10.0, 4.0, 4.0],  # A misses each day by 10 but its week exactly; B is 2 over
        }
    )
    assert total_wape(frame, "forecast") == pytest.approx(2 / 16)
    assert forecast_metrics(frame["target"], frame["forecast"], 1.0)["wape"] == pytest.approx(22 / 16)


def test_metrics_per_origin_and_horizon():
    frame = pd.DataFrame(
        {
            "produto": ["A", "A", "B", "B"] * 2,
            "origin_date": [date(2025, 1, 5)] * 4 + [date(2025, 1, 12)] * 4,
            "horizon": [1, 2, 1, 2] * 2,
            "target": [10.0, 0.0, 5.0, 5.0, 10.0, 10.0, 0.0, 0.0],
            "forecast": [8.0, 2.0, 5.0, 5.0, 10.0, 10.0, 1.0, 1.0],
        }
    )
    scored = evaluate_forecasts(frame, "forecast", mase_scale=2.0)
    first, second = scored["by_origin"]["2025-01-05"], scored["by_origin"]["2025-01-12"]
    assert first["wape"] == pytest.approx(4 / 20) and second["wape"] == pytest.approx(2 / 20)
    assert first["weekly_wape"] == pytest.approx(0.0)  # A's two days sum to 10 either way
    assert second["weekly_wape"] == pytest.approx(2 / 20)
    assert scored["origin_mean"]["wape"] == pytest.approx(0.15) and scored["origin_std"]["wape"] == pytest.approx(0.05)
    assert scored["by_horizon"]["1"]["mae"] == pytest.approx((2 + 0 + 0 + 1) / 4)
    assert scored["metrics"]["mase"] == pytest.approx(scored["metrics"]["mae"] / 2.0)
    assert scored["metrics"]["bias"] == pytest.approx((0 + 2 + 0 + 0 - 2 + 0 + 1 + 1) / 8)


def test_the_conformal_quantile_promises_its_coverage():
    scores = [0.5, 0.1, 0.4, 0.2, 0.3, 0.9, 0.8, 0.7, 0.6]  # 9 scores: ranks ceil(10 * c)
    assert conformal_quantile(scores, 0.8) == pytest.approx(0.8)  # the 8th smallest
    assert conformal_quantile(scores, 0.5) == pytest.approx(0.5)
    assert math.isinf(conformal_quantile(scores, 0.95))  # rank 10 of 9: no finite width can promise 95%
    assert conformal_quantile([*scores, float("nan"), *[1.0] * 10], 0.95) == pytest.approx(1.0)
