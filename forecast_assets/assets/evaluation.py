"""Evaluation: every candidate and the baselines on the time-ordered holdout origins; promotion of the best."""

import math
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.assets import plots
from forecast_assets.assets.features import FEATURE_COLUMNS, HOLDOUT, TRAIN
from forecast_assets.assets.training import CANDIDATES, best_params
from forecast_assets.ml.features import BaselineForecaster, LevelRescaler
from forecast_assets.ml.metrics import evaluate_forecasts

# Baselines, scored on the same holdout rows: each is a feature column known at the origin (see
# ml/features.py), or zero. Zero is strong on absolute error for series that mostly do not sell.
BASELINES = {
    "naive": "lag_1",  # the origin day's sales
    "seasonal_naive": "seasonal_naive",  # the target's weekday in the last known week
    "moving_average_7d": "ma_7",
    "moving_average_28d": "ma_28",
    "same_weekday_mean_4w": "same_weekday_4w",
    "same_weekday_mean_8w": "same_weekday_8w",
    "zero": None,
}
CANDIDATE_INS = {c.asset_name: dg.AssetIn(c.asset_name) for c in CANDIDATES}
GATE_CHECK = "best_model_beats_baselines"


class EvaluationConfig(dg.Config):
    gate_metric: Literal["rmse", "mae", "wape", "weekly_wape"] = Field(
        default="rmse",
        description="metric of the promotion gate and of the choice of the best candidate, averaged over the "
        'holdout origins (README, "What the gate compares": why RMSE)',
    )
    min_improvement: float = Field(
        default=0.02,
        ge=0.0,
        lt=1.0,
        description="the best candidate must score at least this fraction below the best baseline on the gate "
        "metric to be promoted (0.02: 2% better)",
    )


def _model_name(asset_name: str) -> str:
    return asset_name.removesuffix("_model")


def _training_seconds(context: dg.AssetExecutionContext, asset_name: str) -> float | None:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset_name))
    entry = event.asset_materialization.metadata.get("training_seconds") if event else None
    return None if entry is None else entry.value


def promotion_gate(scores: dict[str, dict], models: list[str], metric: str, min_improvement: float) -> dict:
    """The best candidate against the best baseline on `metric` (mean over origins): promoted only when it is
    at least `min_improvement` below it."""
    baselines = [name for name in BASELINES if math.isfinite(scores[name]["origin_mean"][metric])]
    best = min(models, key=lambda name: _or_inf(scores[name]["origin_mean"][metric]))
    best_baseline = min(baselines, key=lambda name: scores[name]["origin_mean"][metric]) if baselines else None
    value = scores[best]["origin_mean"][metric]
    baseline_value = scores[best_baseline]["origin_mean"][metric] if best_baseline else float("nan")
    ratio = value / baseline_value if baseline_value and math.isfinite(baseline_value) else float("nan")
    passed = math.isfinite(ratio) and ratio <= 1.0 - min_improvement
    verdict = (
        f"{best} ({metric} {value:.4f}) is {1 - ratio:.1%} below the best baseline, {best_baseline} "
        f"({metric} {baseline_value:.4f}); at least {min_improvement:.1%} was required"
    )
    if not passed:
        verdict = (
            f"not promoted: the best candidate, {best} ({metric} {value:.4f}), is not at least "
            f"{min_improvement:.1%} below the best baseline, {best_baseline} ({metric} {baseline_value:.4f}; "
            f"ratio {ratio:.3f}); the previous production model stays"
        )
    return {
        "metric": metric,
        "min_improvement": min_improvement,
        "best_model": best,
        "best_model_value": value,
        "best_baseline": best_baseline,
        "best_baseline_value": baseline_value,
        "ratio_to_best_baseline": ratio,
        "passed": passed,
        "description": verdict,
    }


def served_entry(report: dict) -> tuple[str, dict]:
    """What a model_comparison report promotes: the best candidate when the gate passed, else the best baseline
    (promoted only on a first run), with its report entry."""
    gate = report["gate"]
    if gate["passed"]:
        return gate["best_model"], report["models"][gate["best_model"]]
    return gate["best_baseline"], report["baselines"][gate["best_baseline"]]


def _or_inf(value: float) -> float:
    return value if math.isfinite(value) else math.inf


@dg.asset(
    group_name="evaluation",
    io_manager_key="ml_experiments_io",
    kinds={"spark", "json"},
    ins={"feature_dataset": dg.AssetIn(), **CANDIDATE_INS},
)
def model_comparison(
    context: dg.AssetExecutionContext, config: EvaluationConfig, feature_dataset: DataFrame, **candidates
) -> dg.Output[dict]:
    """The three candidates and the baselines (naive, seasonal naive, 7- and 28-day moving averages, same-weekday
    means over 4 and 8 weeks, zero) scored on the holdout split of `feature_dataset`: the last K weekly origins,
    each forecasting its next H days. rmse, mae, wape, mase and bias pooled, per origin (mean and spread) and
    per horizon; each model's ratio to the best baseline; the promotion gate's verdict; best params, feature
    importances and training time. Stored as JSON in ml-experiments; the UI shows the table and plots."""
    holdout = feature_dataset.filter(F.col("split") == HOLDOUT)
    for asset_name, model in candidates.items():
        name = _model_name(asset_name)
        relative = model.copy().setPredictionCol(f"{name}_relative").transform(holdout)
        holdout = LevelRescaler(inputCol=f"{name}_relative", outputCol=name).transform(relative)
    models = [_model_name(name) for name in candidates]
    columns = sorted({c for c in BASELINES.values() if c})
    frame = holdout.select("produto", "origin_date", "horizon", "forecast_date", "target", *columns, *models).toPandas()
    for baseline, column in BASELINES.items():
        frame[baseline] = frame[column] if column else 0.0
    scale = (
        feature_dataset.filter((F.col("split") == TRAIN) & (F.col("horizon") <= 7))
        .agg(F.avg(F.abs(F.col("target") - F.col("seasonal_naive"))))
        .first()[0]
    )

    scores = {name: evaluate_forecasts(frame, name, scale) for name in models + list(BASELINES)}
    gate = promotion_gate(scores, models, config.gate_metric, config.min_improvement)
    for entry in scores.values():
        base = gate["best_baseline_value"]
        entry["ratio_to_best_baseline"] = entry["origin_mean"][config.gate_metric] / base if base else float("nan")
    best = gate["best_model"]
    importances = {
        _model_name(asset_name): dict(zip(FEATURE_COLUMNS, map(float, model.featureImportances.toArray()), strict=True))
        for asset_name, model in candidates.items()
        if hasattr(model, "featureImportances")
    }
    dataset_meta = context.instance.get_latest_materialization_event(dg.AssetKey("feature_dataset"))
    lineage = (
        {
            k: v.value
            for k, v in dataset_meta.asset_materialization.metadata.items()
            if k in ("sales_range", "holdout_start", "version", "horizon_days", "unobserved_weeks")
        }
        if dataset_meta
        else {}
    )
    origins = sorted(str(o) for o in frame["origin_date"].unique())
    report = {
        "run_id": context.run_id,
        "best_model": best,
        "metric_for_selection": config.gate_metric,
        "gate": gate,
        "holdout": {
            "rows": len(frame),
            "origins": origins,
            "horizon_days": int(frame["horizon"].max()),
            "first_date": str(frame["forecast_date"].min()),
            "last_date": str(frame["forecast_date"].max()),
        },
        "mase_scale_seasonal_naive_train_mae": scale,
        "feature_dataset": lineage,
        "models": {
            _model_name(c.asset_name): {
                **scores[_model_name(c.asset_name)],
                "best_params": best_params(c, candidates[c.asset_name]),
                "training_seconds": _training_seconds(context, c.asset_name),
                "feature_importances": importances.get(_model_name(c.asset_name)),
            }
            for c in CANDIDATES
        },
        "baselines": {name: {**scores[name], "column": column} for name, column in BASELINES.items()},
    }

    table = metrics_table(scores, config.gate_metric)
    per_horizon = pd.DataFrame(
        {name: {h: m[config.gate_metric] for h, m in scores[name]["by_horizon"].items()} for name in scores}
    ).T
    table.attrs["models"] = models
    sections = [
        f"**{'Promoted' if gate['passed'] else 'Not promoted'}: {gate['description']}.**",
        f"Holdout: {len(origins)} weekly origins ({', '.join(origins)}), each forecasting "
        f"{report['holdout']['horizon_days']} days; metrics are means over origins (± their standard deviation).",
        table.round(4).to_markdown(),
        f"{config.gate_metric} per horizon (days ahead):\n\n" + per_horizon.round(4).to_markdown(),
        plots.metric_bars(table),
        plots.predicted_vs_actual(frame, [*models, gate["best_baseline"] or "zero"]),
        plots.residual_histograms(frame, [*models, gate["best_baseline"] or "zero"]),
    ]
    if importances:
        sections.append(plots.feature_importances(importances))
    return dg.Output(
        report,
        metadata={
            "best_model": best,
            "gate_metric": config.gate_metric,
            f"best_{config.gate_metric}": gate["best_model_value"],
            "best_baseline": gate["best_baseline"] or "none",
            f"best_baseline_{config.gate_metric}": gate["best_baseline_value"],
            "ratio_to_best_baseline": gate["ratio_to_best_baseline"],
            "holdout_rows": len(frame),
            "holdout_origins": len(origins),
            "metrics": dg.MetadataValue.table(
                records=[
                    dg.TableRecord({"name": name, **{k: _json_float(v) for k, v in row.items()}})
                    for name, row in table.round(6).iterrows()
                ],
                schema=dg.TableSchema(
                    columns=[dg.TableColumn("name", "string"), *[dg.TableColumn(c, "float") for c in table.columns]]
                ),
            ),
            "report": dg.MetadataValue.md("\n\n".join(sections)),
        },
    )


def metrics_table(scores: dict[str, dict], gate_metric: str) -> pd.DataFrame:
    """One row per model or baseline: the origin means, the spread of the gate metric, the ratio to the best
    baseline, sorted by the gate metric."""
    rows = {
        name: {
            **{m: entry["origin_mean"][m] for m in ("rmse", "mae", "wape", "weekly_wape", "mase", "bias")},
            f"{gate_metric}_std": entry["origin_std"][gate_metric],
            "ratio_to_best_baseline": entry["ratio_to_best_baseline"],
        }
        for name, entry in scores.items()
    }
    return pd.DataFrame(rows).T.sort_values(gate_metric)


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dg.asset_check(asset=model_comparison, name=GATE_CHECK, blocking=True, required_resource_keys={"ml_models_io"})
def best_model_beats_baselines(context: dg.AssetCheckExecutionContext, model_comparison: dict) -> dg.AssetCheckResult:
    """Promotion gate: the best candidate must beat the best of the baselines on the gate metric (mean over
    the holdout origins) by at least the configured minimum improvement. When it fails, `production_model`
    is not updated and the previous production model keeps serving; when there is no production model yet,
    the best baseline is promoted instead (a warning), so that a first run still forecasts."""
    gate = model_comparison["gate"]
    # What the warehouse holds decides, not this instance's event log (a fresh DAGSTER_HOME on an old warehouse).
    first = not context.resources.ml_models_io.read_manifest(dg.AssetKey("production_model"))["current"]
    description = gate["description"]
    if not gate["passed"] and first:
        description = description.replace(
            "the previous production model stays",
            f"there is no production model yet, so the best baseline, {gate['best_baseline']}, is promoted until a "
            "candidate beats it",
        )
    return dg.AssetCheckResult(
        passed=bool(gate["passed"]),
        severity=dg.AssetCheckSeverity.WARN if first else dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "best_model": gate["best_model"],
            "best_baseline": gate["best_baseline"] or "none",
            "metric": gate["metric"],
            "best_model_value": gate["best_model_value"],
            "best_baseline_value": gate["best_baseline_value"],
            "ratio_to_best_baseline": gate["ratio_to_best_baseline"],
            "min_improvement": gate["min_improvement"],
            "promotes": gate["best_model"] if gate["passed"] else (gate["best_baseline"] if first else "nothing"),
        },
    )


@dg.asset(
    group_name="evaluation",
    io_manager_key="ml_models_io",
    kinds={"spark"},
    ins={"model_comparison": dg.AssetIn(), "feature_pipeline": dg.AssetIn(), **CANDIDATE_INS},
)
def production_model(
    context: dg.AssetExecutionContext, model_comparison: dict, feature_pipeline: PipelineModel, **candidates
) -> dg.Output[PipelineModel]:
    """The model in production: the fitted feature pipeline followed by the candidate with the best gate
    metric over the holdout origins, as one PipelineModel from raw sales rows to H-day forecasts. Promoted only
    when the blocking check `best_model_beats_baselines` passes; on a first run whose candidates lose, the
    best baseline (as a BaselineForecaster stage) is promoted instead. Every promotion is a new version."""
    gate = model_comparison["gate"]
    served, entry = served_entry(model_comparison)
    if gate["passed"]:
        last_stages = [
            candidates[f"{served}_model"].copy().setPredictionCol("relative_prediction"),
            LevelRescaler(inputCol="relative_prediction", outputCol="prediction"),
        ]
    else:
        last_stages = [BaselineForecaster(column=entry["column"] or "")]
        context.log.warning(f"no candidate beats the baselines: serving the best baseline, {served}")
    return dg.Output(
        PipelineModel(stages=[*feature_pipeline.stages, *last_stages]),
        metadata={
            "model": served,
            "kind": "model" if gate["passed"] else "baseline",
            "params": entry.get("best_params", {"column": entry.get("column")}),
            "holdout_rmse": entry["metrics"]["rmse"],
            "holdout_wape": entry["origin_mean"]["wape"],
            "holdout_mase": entry["origin_mean"]["mase"],
            "gate": gate["description"],
            "best_baseline": gate["best_baseline"] or "none",
            "ratio_to_best_baseline": gate["ratio_to_best_baseline"],
            "horizon_days": model_comparison["holdout"]["horizon_days"],
            "trained_in_run": model_comparison["run_id"],
            "sales_range": model_comparison["feature_dataset"].get("sales_range", ""),
            "holdout": f"{model_comparison['holdout']['first_date']} .. {model_comparison['holdout']['last_date']}",
        },
    )
