"""The feature dataset's blocking check: it adds up to the raw sales it was built from.

(raw_sales's own checks are yielded by the asset itself, from the validation of every landed row; the
candidates check their cross-validation metrics, the gate and the serving check live with their stages.)
"""

import dagster as dg
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.features.assets import HOLDOUT, TRAIN, model_inputs
from forecast_assets.ml.features import KEY_COLUMNS, target_of


def _null_or_nan(column: str):
    return F.col(column).isNull() | F.isnan(F.col(column))


@dg.asset_check(
    asset="feature_dataset", blocking=True, additional_ins={"raw_sales": dg.AssetIn(), "feature_pipeline": dg.AssetIn()}
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
