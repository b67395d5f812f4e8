"""The promotion gate and the per-origin metrics, on hand-made numbers (no Spark needed)."""

import math
from datetime import date

import pandas as pd
import pytest

from forecast_assets.assets.evaluation import BASELINES, promotion_gate
from forecast_assets.ml.metrics import conformal_quantile, evaluate_forecasts


def scores(models: dict[str, float], baselines: dict[str, float]) -> dict:
    values = {**{name: 500.0 for name in BASELINES}, **baselines, **models}
    return {name: {"origin_mean": {"rmse": value}} for name, value in values.items()}


def test_the_best_baseline_not_seasonal_naive_is_the_bar():
    gate = promotion_gate(
        scores({"a": 95.0, "b": 99.0}, {"seasonal_naive": 150.0, "moving_average_28d": 100.0}), ["a", "b"], "rmse", 0.02
    )
    assert gate["passed"] and gate["best_model"] == "a" and gate["best_baseline"] == "moving_average_28d"
    assert gate["ratio_to_best_baseline"] == pytest.approx(0.95)
    assert "a (rmse 95.0000) is 5.0% below the best baseline, moving_average_28d" in gate["description"]


@pytest.mark.parametrize(("model", "passed"), [(97.9, True), (98.1, False), (120.0, False)])
def test_the_minimum_improvement_is_required(model, passed):
    gate = promotion_gate(scores({"a": model}, {"zero": 100.0}), ["a"], "rmse", 0.02)
    assert gate["passed"] is passed
    assert ("not promoted" in gate["description"]) is not passed


def test_an_exact_baseline_cannot_be_beaten():
    gate = promotion_gate(scores({"a": 1.0}, {"seasonal_naive": 0.0}), ["a"], "rmse", 0.0)
    assert not gate["passed"] and math.isnan(gate["ratio_to_best_baseline"])


CHAMPION = {"model": "random_forest", "version": 3, "key": "production_model/v0003"}


@pytest.mark.parametrize(
    ("model", "champion", "margin", "passed", "decided_by"),
    [
        (90.0, 95.0, 0.0, True, "both"),  # beats the baseline and the champion
        (95.0, 95.0, 0.0, True, "both"),  # as good as the champion: enough with no margin
        (95.0, 95.0, 0.01, False, "champion"),  # ... but not 1% better
        (96.0, 90.0, 0.0, False, "champion"),  # beats the baseline by 4%, loses to the champion
        (99.0, 90.0, 0.0, False, "baselines"),  # loses to the baseline first
    ],
)
def test_the_champion_is_a_second_bar(model, champion, margin, passed, decided_by):
    values = scores({"a": model, "champion": champion}, {"zero": 100.0})
    gate = promotion_gate(values, ["a"], "rmse", 0.02, CHAMPION, margin)
    assert (gate["passed"], gate["decided_by"]) == (passed, decided_by)
    assert gate["ratio_to_champion"] == pytest.approx(model / champion)
    if decided_by == "champion":
        assert "below the best baseline, zero, but not at least" in gate["description"]
        assert "the champion, random_forest (version 3, rmse" in gate["description"]
        assert gate["description"].endswith("the champion keeps serving")
    if passed:
        assert "below the champion, random_forest (version 3" in gate["description"]


def test_without_a_champion_only_the_baselines_count():
    gate = promotion_gate(scores({"a": 90.0}, {"zero": 100.0}), ["a"], "rmse", 0.02)
    assert gate["passed"] and gate["champion"] is None and math.isnan(gate["ratio_to_champion"])


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
