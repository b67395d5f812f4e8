"""The promotion gate (ml/gate.py) and the comparison report (ml/report.py), on hand-made numbers (no Spark needed)."""

import dataclasses
import json
import math

import pytest

from forecast_assets.evaluation.assets import BASELINES, EvaluationConfig
from forecast_assets.ml.gate import Gate, decide
from forecast_assets.ml.report import ComparisonReport, Holdout
from forecast_assets.training.assets import prediction_column, statistical_served


def promotion_gate(values: dict, models: list[str], metric: str, margin: float, *champion) -> Gate:
    gate = decide(values, models, list(BASELINES), metric, margin, *champion)
    assert Gate.of(gate.as_dict()) == gate  # what is stored reads back as the same gate
    return gate


def scores(models: dict[str, float], baselines: dict[str, float]) -> dict:
    values = {**{name: 500.0 for name in BASELINES}, **baselines, **models}
    return {name: {"origin_mean": {"rmse": value}} for name, value in values.items()}


def test_the_best_baseline_not_seasonal_naive_is_the_bar():
    gate = promotion_gate(
        scores({"a": 95.0, "b": 99.0}, {"seasonal_naive": 150.0, "moving_average_28d": 100.0}), ["a", "b"], "rmse", 0.02
    )
    assert gate.passed and gate.best_model == "a" and gate.best_baseline == "moving_average_28d"
    assert gate.ratio_to_best_baseline == pytest.approx(0.95)
    assert "a (rmse 95.0000) is 5.0% below the best baseline, moving_average_28d" in gate.words()


@pytest.mark.parametrize(("model", "passed"), [(97.9, True), (98.1, False), (120.0, False)])
def test_the_minimum_improvement_is_required(model, passed):
    gate = promotion_gate(scores({"a": model}, {"zero": 100.0}), ["a"], "rmse", 0.02)
    assert gate.passed is passed
    assert ("not promoted" in gate.words()) is not passed


def test_an_exact_baseline_cannot_be_beaten():
    gate = promotion_gate(scores({"a": 1.0}, {"seasonal_naive": 0.0}), ["a"], "rmse", 0.0)
    assert not gate.passed and math.isnan(gate.ratio_to_best_baseline)


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
    assert (gate.passed, gate.decided_by) == (passed, decided_by)
    assert gate.ratio_to_champion == pytest.approx(model / champion)
    if decided_by == "champion":
        assert "below the best baseline, zero, but not at least" in gate.words()
        assert "the champion, random_forest (version 3, rmse" in gate.words()
        assert gate.words().endswith("the champion keeps serving")
    if passed:
        assert "below the champion, random_forest (version 3" in gate.words()


def test_the_verdict_says_what_serves_when_the_candidate_is_refused():
    refused = promotion_gate(scores({"a": 99.0}, {"zero": 100.0}), ["a"], "rmse", 0.02)
    assert refused.first_run and refused.words().endswith(
        "there is no production model yet, so the best baseline, zero, is promoted until a candidate beats it"
    )
    assert refused.words(first_run=False).endswith("the previous production model stays")
    kept = promotion_gate(scores({"a": 99.0, "champion": 98.0}, {"zero": 100.0}), ["a"], "rmse", 0.02, CHAMPION)
    assert not kept.first_run and kept.words().endswith("the champion, random_forest (version 3), keeps serving")
    broken = dataclasses.replace(refused, champion_error="the production model that serves could not be loaded")
    assert not broken.first_run and broken.words().endswith(
        "the previous production model stays (the production model that serves could not be loaded)"
    )
    other = dataclasses.replace(kept, champion_other_target="quantidade")
    assert other.first_run and "so the best baseline, zero, is promoted" in other.words()


def test_without_a_champion_only_the_baselines_count():
    gate = promotion_gate(scores({"a": 90.0}, {"zero": 100.0}), ["a"], "rmse", 0.02)
    assert gate.passed and gate.champion is None and math.isnan(gate.ratio_to_champion)


def test_the_statistical_candidates_are_named_from_the_catalogue():
    assert EvaluationConfig().statistical == ["ets"]
    assert EvaluationConfig(statistical=["auto_theta", "ets", "auto_theta"]).statistical == ["auto_theta", "ets"]
    assert EvaluationConfig(statistical=[]).statistical == []
    with pytest.raises(ValueError, match=r"statistical: unknown \['prophet'\]; expected some of ets, auto_ets"):
        EvaluationConfig(statistical=["prophet"])


def test_a_served_model_names_the_statistical_forecasts_its_window_stage_must_make():
    assert statistical_served("ets", {}) == ["ets"]
    assert statistical_served("xgboost", {}) == []
    assert statistical_served("combination", {"members": ["xgboost", "auto_theta", "ets"]}) == ["auto_theta", "ets"]
    routing = {
        "choices": {
            "smooth": {"choice": "auto_ets", "kind": "model", "column": "auto_ets"},
            "lumpy": {"choice": "combination", "kind": "model", "column": "combination"},
            "new": {"choice": "moving_average_7d", "kind": "baseline", "column": "ma_7"},
        }
    }
    entry = {"routing": routing, "combination_members": ["random_forest", "ets"]}
    assert statistical_served("per_class", entry) == ["auto_ets", "ets"]
    assert prediction_column("ets") == "stat_ets" and prediction_column("xgboost") == "xgboost_prediction"


def comparison(gate: Gate, champion: dict | None) -> ComparisonReport:
    holdout = Holdout(
        rows=14, origins=["2026-11-01", "2026-11-08"], horizon_days=7, first_date="2026-11-02", last_date="2026-11-15"
    )
    return ComparisonReport(
        run_id="r1",
        best_model=gate.best_model,
        metric_for_selection=gate.metric,
        gate=gate,
        holdout=holdout,
        mase_scale_seasonal_naive_train_mae=1.5,
        feature_dataset={"sales_range": "2026-01-05 .. 2026-11-15"},
        models={"a": {"origin_mean": {"rmse": 95.0}, "best_params": {"maxDepth": 5}}},
        baselines={name: {"origin_mean": {"rmse": 100.0}, "column": column} for name, column in BASELINES.items()},
        champion=champion,
        demand_classes={},
    )


def test_the_comparison_report_reads_back_as_stored_and_says_what_serves():
    promoted = promotion_gate(scores({"a": 95.0}, {"zero": 100.0}), ["a"], "rmse", 0.02)
    report = comparison(promoted, None)
    stored = json.loads(json.dumps(report.as_dict()))  # what the JSON IO manager writes and reads
    assert json.dumps(ComparisonReport.of(stored).as_dict()) == json.dumps(report.as_dict())  # (NaN != NaN)
    assert stored["gate"]["passed"] and stored["holdout"]["origins"] == ["2026-11-01", "2026-11-08"]
    assert report.served_entry() == ("a", report.models["a"]) and report.holdout.span == "2026-11-02 .. 2026-11-15"
    # refused: the champion keeps serving; on a first run, the best baseline
    champion = {"model": "old", "kind": "model", "version": 3, "key": "production_model/v0003"}
    values = {**scores({"a": 99.0}, {"zero": 100.0}), "champion": {"origin_mean": {"rmse": 90.0}}}
    refused = promotion_gate(values, ["a"], "rmse", 0.02, champion)
    assert comparison(refused, champion).served_entry() == ("old", champion)
    first = promotion_gate(scores({"a": 120.0}, {"zero": 100.0}), ["a"], "rmse", 0.02)
    assert comparison(first, None).served_entry()[0] == first.best_baseline == "zero"
