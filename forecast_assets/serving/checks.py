"""The serving check: the production model, reloaded from storage, reproduces the holdout score it was promoted
with."""

import math

import dagster as dg
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.ml.metrics import forecast_metrics
from forecast_assets.ml.report import ComparisonReport


@dg.asset_check(
    asset="production_model",
    blocking=True,
    additional_ins={"raw_sales": dg.AssetIn(), "model_comparison": dg.AssetIn()},
)
def production_model_serves(
    production_model: PipelineModel, raw_sales: DataFrame, model_comparison: dict
) -> dg.AssetCheckResult:
    """The stored production model, loaded back through its pointer, turns raw sales rows into finite
    forecasts for every holdout row (the last K origins, H days each) and reproduces the holdout RMSE that
    model_comparison scored."""
    report = ComparisonReport.of(model_comparison)
    holdout = report.holdout
    # The whole history, as in training (a shorter one would start every series later): its window rows are the
    # run's own when features made them from the same stored weeks with the same parameters.
    windows, stages = production_model.stages[0], PipelineModel(stages=production_model.stages[1:])
    rows = windows.transform_stored(raw_sales).filter(F.col("origin_date").isin(*holdout.origins) & F.col("complete"))
    scored = stages.transform(rows).select("target", "prediction").toPandas()
    expected = report.served_entry()[1]["metrics"]["rmse"]
    finite = bool(len(scored)) and all(math.isfinite(v) for v in scored["prediction"])
    rmse = (
        forecast_metrics(scored["target"].to_numpy(), scored["prediction"].to_numpy(), 1.0)["rmse"] if finite else None
    )
    passed = finite and len(scored) == holdout.rows and math.isclose(rmse, expected, rel_tol=1e-6, abs_tol=1e-6)
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
