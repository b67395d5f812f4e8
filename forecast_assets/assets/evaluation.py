"""Evaluation: every candidate and two baselines on the time-ordered holdout; promotion of the best."""

import dagster as dg
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.assets import plots
from forecast_assets.assets.features import FEATURE_COLUMNS, HOLDOUT, TRAIN
from forecast_assets.assets.training import CANDIDATES, best_params
from forecast_assets.ml.metrics import forecast_metrics

# Baselines, scored on the same holdout rows: yesterday's sales, and the same weekday last week.
BASELINES = {"naive": "lag_1", "seasonal_naive": "lag_7"}
CANDIDATE_INS = {c.asset_name: dg.AssetIn(c.asset_name) for c in CANDIDATES}


def _model_name(asset_name: str) -> str:
    return asset_name.removesuffix("_model")


def _training_seconds(context: dg.AssetExecutionContext, asset_name: str) -> float | None:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset_name))
    entry = event.asset_materialization.metadata.get("training_seconds") if event else None
    return None if entry is None else entry.value


@dg.asset(
    group_name="evaluation",
    io_manager_key="ml_experiments_io",
    kinds={"spark", "json"},
    ins={"feature_dataset": dg.AssetIn(), **CANDIDATE_INS},
)
def model_comparison(context: dg.AssetExecutionContext, feature_dataset: DataFrame, **candidates) -> dg.Output[dict]:
    """The three candidates and the naive and seasonal-naive baselines scored on the holdout split of
    `feature_dataset` (rmse, mae, r2, wape, mase), with each model's best params, feature importances
    and training time. Stored as JSON in ml-experiments; the UI shows the table and plots."""
    holdout = feature_dataset.filter(F.col("split") == HOLDOUT)
    for asset_name, model in candidates.items():
        holdout = model.copy().setPredictionCol(_model_name(asset_name)).transform(holdout)
    models = [_model_name(name) for name in candidates]
    frame = holdout.select("produto", "forecast_date", "target", *BASELINES.values(), *models).toPandas()
    for baseline, column in BASELINES.items():
        frame[baseline] = frame[column]
    scale = (
        feature_dataset.filter(F.col("split") == TRAIN).agg(F.avg(F.abs(F.col("target") - F.col("lag_7")))).first()[0]
    )

    scores = {
        name: forecast_metrics(frame["target"].to_numpy(), frame[name].to_numpy(), scale)
        for name in models + list(BASELINES)
    }
    best = min(models, key=lambda name: scores[name]["rmse"])
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
            if k in ("sales_range", "holdout_start", "version")
        }
        if dataset_meta
        else {}
    )
    report = {
        "run_id": context.run_id,
        "best_model": best,
        "metric_for_selection": "rmse",
        "holdout": {
            "rows": len(frame),
            "first_date": str(frame["forecast_date"].min()),
            "last_date": str(frame["forecast_date"].max()),
        },
        "mase_scale_seasonal_naive_train_mae": scale,
        "feature_dataset": lineage,
        "models": {
            _model_name(c.asset_name): {
                "metrics": scores[_model_name(c.asset_name)],
                "best_params": best_params(c, candidates[c.asset_name]),
                "training_seconds": _training_seconds(context, c.asset_name),
                "feature_importances": importances.get(_model_name(c.asset_name)),
            }
            for c in CANDIDATES
        },
        "baselines": {name: {"metrics": scores[name], "column": column} for name, column in BASELINES.items()},
    }

    table = pd.DataFrame(scores).T[["rmse", "mae", "r2", "wape", "mase"]]
    table.attrs["models"] = models
    sections = [
        f"**Best model: {best}** (holdout rmse {scores[best]['rmse']:.3f}; "
        f"seasonal naive {scores['seasonal_naive']['rmse']:.3f})",
        table.round(4).to_markdown(),
        plots.metric_bars(table),
        plots.predicted_vs_actual(frame, models + ["seasonal_naive"]),
        plots.residual_histograms(frame, models + ["seasonal_naive"]),
    ]
    if importances:
        sections.append(plots.feature_importances(importances))
    return dg.Output(
        report,
        metadata={
            "best_model": best,
            "best_rmse": scores[best]["rmse"],
            "seasonal_naive_rmse": scores["seasonal_naive"]["rmse"],
            "holdout_rows": len(frame),
            "report": dg.MetadataValue.md("\n\n".join(sections)),
        },
    )


@dg.asset_check(asset=model_comparison, blocking=True)
def best_model_beats_seasonal_naive(model_comparison: dict) -> dg.AssetCheckResult:
    """Promotion gate: the best candidate must have a lower holdout RMSE than the seasonal naive forecast.
    When it fails, `production_model` is not updated and the previous production model keeps serving."""
    best = model_comparison["best_model"]
    best_rmse = model_comparison["models"][best]["metrics"]["rmse"]
    baseline_rmse = model_comparison["baselines"]["seasonal_naive"]["metrics"]["rmse"]
    passed = best_rmse < baseline_rmse
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{best} (rmse {best_rmse:.3f}) beats seasonal naive (rmse {baseline_rmse:.3f})"
            if passed
            else f"not promoted: the best candidate, {best} (rmse {best_rmse:.3f}), does not beat seasonal "
            f"naive (rmse {baseline_rmse:.3f}); the previous production model stays"
        ),
        metadata={"best_model": best, "best_rmse": best_rmse, "seasonal_naive_rmse": baseline_rmse},
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
    """The model in production: the fitted feature pipeline followed by the candidate with the lowest
    holdout RMSE, as one PipelineModel from raw sales rows to predictions. Promoted only when the
    blocking check `best_model_beats_seasonal_naive` passes; every promotion is a new version."""
    best = model_comparison["best_model"]
    regressor = candidates[f"{best}_model"]
    entry = model_comparison["models"][best]
    return dg.Output(
        PipelineModel(stages=[*feature_pipeline.stages, regressor]),
        metadata={
            "model": best,
            "params": entry["best_params"],
            "holdout_rmse": entry["metrics"]["rmse"],
            "holdout_wape": entry["metrics"]["wape"],
            "holdout_mase": entry["metrics"]["mase"],
            "seasonal_naive_rmse": model_comparison["baselines"]["seasonal_naive"]["metrics"]["rmse"],
            "trained_in_run": model_comparison["run_id"],
            "sales_range": model_comparison["feature_dataset"].get("sales_range", ""),
            "holdout": f"{model_comparison['holdout']['first_date']} .. {model_comparison['holdout']['last_date']}",
        },
    )
