"""Checks downstream of raw_sales: the feature dataset adds up, the production model serves what was scored.

(raw_sales's own checks are yielded by the asset itself, from the validation of every landed row; the
candidates check their cross-validation metrics and drift_score reports drift, in their own modules.)
"""

import math

import dagster as dg
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.assets.evaluation import served_entry
from forecast_assets.assets.features import HOLDOUT, TRAIN, model_inputs
from forecast_assets.ml.features import KEY_COLUMNS, target_of
from forecast_assets.ml.metrics import forecast_metrics

RAW_SALES_IN = {"raw_sales": dg.AssetIn()}


def _null_or_nan(column: str):
    return F.col(column).isNull() | F.isnan(F.col(column))


@dg.asset_check(
    asset="feature_dataset", blocking=True, additional_ins={**RAW_SALES_IN, "feature_pipeline": dg.AssetIn()}
)
def feature_dataset_consistent(
    feature_dataset: DataFrame, raw_sales: DataFrame, feature_pipeline: PipelineModel
) -> dg.AssetCheckResult:
    """No null or NaN in any feature, the target or the feature vector; one row per product, origin and
    horizon; every target equals that product's raw sales (of the pipeline's target column: revenue or units)
    on its forecast date (the zero-fill lost nothing and added nothing); no training row's target lies after
    the first holdout origin."""
    columns = [*model_inputs(feature_pipeline), "target"]
    totals = feature_dataset.agg(
        F.count("*").alias("rows"),
        F.countDistinct(*KEY_COLUMNS).alias("keys"),
        F.countDistinct("produto").alias("products"),
        *[F.sum(_null_or_nan(c).cast("long")).alias(f"null_{c}") for c in columns],
        F.sum(F.col("features").isNull().cast("long")).alias("null_features"),
        F.max(F.when(F.col("split") == TRAIN, F.col("forecast_date"))).alias("last_train_target"),
        F.min(F.when(F.col("split") == HOLDOUT, F.col("origin_date"))).alias("first_holdout_origin"),
    ).first()
    if not totals["rows"]:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="no rows")
    daily = raw_sales.groupBy("produto", F.col("data_venda").alias("forecast_date")).agg(
        F.sum(target_of(feature_pipeline)).alias("raw")
    )
    targets = feature_dataset.select("produto", "forecast_date", "target").distinct()
    mismatched = (
        targets.join(daily, ["produto", "forecast_date"], "left")
        .withColumn("raw", F.coalesce("raw", F.lit(0.0)))
        .filter(F.abs(F.col("target") - F.col("raw")) > 1e-6 * (F.abs(F.col("raw")) + 1))
    )
    examples = [
        f"{r['produto']} on {r['forecast_date']} (target {r['target']:.2f}, raw {r['raw']:.2f})"
        for r in mismatched.limit(5).collect()
    ]
    null_columns = {c: int(totals[f"null_{c}"]) for c in [*columns, "features"] if totals[f"null_{c}"]}
    problems = []
    if null_columns:
        problems.append(f"null or NaN values: {null_columns}")
    if totals["keys"] != totals["rows"]:
        problems.append(f"{totals['rows'] - totals['keys']} repeated (product, origin, horizon) row(s)")
    if examples:
        problems.append(f"targets that are not the raw sales of their day: {', '.join(examples)}")
    last_train, first_holdout = totals["last_train_target"], totals["first_holdout_origin"]
    if last_train and first_holdout and last_train > first_holdout:
        problems.append(f"a training target ({last_train}) lies after the first holdout origin ({first_holdout})")
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems)
        or "no nulls; one row per product, origin and horizon; targets are the raw sales of their day",
        metadata={
            "rows": totals["rows"],
            "products": totals["products"],
            "null_values": sum(null_columns.values()),
            "mismatched_targets": len(examples),
        },
    )


@dg.asset_check(
    asset="production_model",
    blocking=True,
    additional_ins={**RAW_SALES_IN, "model_comparison": dg.AssetIn()},
)
def production_model_serves(
    production_model: PipelineModel, raw_sales: DataFrame, model_comparison: dict
) -> dg.AssetCheckResult:
    """The stored production model, loaded back through its pointer, turns raw sales rows into finite
    forecasts for every holdout row (the last K origins, H days each) and reproduces the holdout RMSE that
    model_comparison scored."""
    holdout = model_comparison["holdout"]
    scored = (  # the whole history, as in training: a shorter one would start every series later
        production_model.transform(raw_sales)
        .filter(F.col("origin_date").isin(*holdout["origins"]) & F.col("complete"))
        .select("target", "prediction")
        .toPandas()
    )
    expected = served_entry(model_comparison)[1]["metrics"]["rmse"]
    finite = bool(len(scored)) and all(math.isfinite(v) for v in scored["prediction"])
    rmse = (
        forecast_metrics(scored["target"].to_numpy(), scored["prediction"].to_numpy(), 1.0)["rmse"] if finite else None
    )
    passed = finite and len(scored) == holdout["rows"] and math.isclose(rmse, expected, rel_tol=1e-6, abs_tol=1e-6)
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"serves {len(scored)} holdout rows at rmse {rmse:.4f}, as scored"
            if passed
            else f"the stored production model does not reproduce its evaluation: {len(scored)} of "
            f"{holdout['rows']} holdout rows, finite predictions: {finite}, rmse {rmse} vs {expected:.4f}"
        ),
        metadata={"holdout_rows": len(scored), "rmse": rmse, "scored_rmse": expected},
    )


DOWNSTREAM_CHECKS = [feature_dataset_consistent, production_model_serves]
