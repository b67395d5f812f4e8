"""Checks downstream of raw_sales: the feature dataset adds up, the production model serves what was scored.

(raw_sales's own checks are yielded by the asset itself, from the validation of every landed row; the
candidates check their cross-validation metrics and drift_score reports drift, in their own modules.)
"""

import math
from datetime import timedelta

import dagster as dg
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.assets.features import FEATURE_COLUMNS, WINDOW_FEATURES
from forecast_assets.ml.metrics import forecast_metrics

RAW_SALES_IN = {"raw_sales": dg.AssetIn()}


def _null_or_nan(column: str):
    return F.col(column).isNull() | F.isnan(F.col(column))


@dg.asset_check(asset="feature_dataset", blocking=True, additional_ins=RAW_SALES_IN)
def feature_dataset_consistent(feature_dataset: DataFrame, raw_sales: DataFrame) -> dg.AssetCheckResult:
    """No null or NaN in any feature, the target or the feature vector; one row per product and day with no
    gap; each product's targets add up to its raw sales over the same days (the zero-fill lost nothing);
    every product with enough history has rows. Two passes: one over each dataset, a row per product back."""
    columns = [*FEATURE_COLUMNS, "target"]
    per_product = (
        feature_dataset.groupBy("produto")
        .agg(
            F.count("*").alias("rows"),
            F.countDistinct("forecast_date").alias("days"),
            F.min("forecast_date").alias("first"),
            F.max("forecast_date").alias("last"),
            F.sum("target").alias("targets"),
            *[F.sum(_null_or_nan(c).cast("long")).alias(f"null_{c}") for c in columns],
            F.sum(F.col("features").isNull().cast("long")).alias("null_features"),
        )
        .toPandas()
        .set_index("produto")
    )
    if per_product.empty:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="no rows")
    ranges = raw_sales.sparkSession.createDataFrame(per_product[["first", "last"]].reset_index())
    raw = (
        raw_sales.join(F.broadcast(ranges), "produto", "left")
        .groupBy("produto")
        .agg(
            F.min("data_venda").alias("first_sale"),
            F.max("data_venda").alias("last_sale"),
            F.sum(
                F.when(F.col("data_venda").between(F.col("first"), F.col("last")), F.col("valor_total")).otherwise(0.0)
            ).alias("raw"),
        )
        .toPandas()
        .set_index("produto")
    )
    compared = per_product.join(raw, how="left").fillna({"raw": 0.0})

    null_columns = {c: int(compared[f"null_{c}"].sum()) for c in [*columns, "features"]}
    null_columns = {c: n for c, n in null_columns.items() if n}
    span = (pd.to_datetime(compared["last"]) - pd.to_datetime(compared["first"])).dt.days + 1
    gaps = int(((compared["rows"] != compared["days"]) | (compared["rows"] != span)).sum())
    mismatched = compared[(compared["targets"] - compared["raw"]).abs() > 1e-6 * (compared["raw"].abs() + 1)]
    last_day = raw["last_sale"].max()
    history = timedelta(days=WINDOW_FEATURES.history_days())
    eligible = raw.index[raw["first_sale"] <= last_day - history] if len(raw) else []
    missing = [p for p in eligible if p not in per_product.index]

    problems = []
    if null_columns:
        problems.append(f"null or NaN values: {null_columns}")
    if gaps:
        problems.append(f"{gaps} product(s) with missing or repeated days")
    if len(mismatched):
        examples = ", ".join(
            f"{p} (targets {r['targets']:.2f}, raw {r['raw']:.2f})" for p, r in mismatched.head(5).iterrows()
        )
        problems.append(f"{len(mismatched)} product(s) whose targets do not add up to raw_sales: {examples}")
    if missing:
        problems.append(f"products with history but no rows: {', '.join(missing[:5])}")
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or "no nulls; rows contiguous per product; targets add up to raw_sales",
        metadata={"products": len(per_product), "null_values": sum(null_columns.values()), "gaps": gaps},
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
    forecasts for every holdout row and reproduces the holdout RMSE that model_comparison scored."""
    holdout = model_comparison["holdout"]
    scored = (  # the whole history, as in training: a shorter one could start a product's series later
        production_model.transform(raw_sales)
        .filter(F.col("forecast_date").between(F.lit(holdout["first_date"]), F.lit(holdout["last_date"])))
        .filter(F.col("target").isNotNull())
        .select("target", "prediction")
        .toPandas()
    )
    expected = model_comparison["models"][model_comparison["best_model"]]["metrics"]["rmse"]
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
