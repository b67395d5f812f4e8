"""Features: the fitted `feature_pipeline` (a Spark PipelineModel) and the `feature_dataset` it makes."""

from datetime import timedelta

import dagster as dg
from pydantic import Field
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StandardScaler, StringIndexer, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.ml.features import SalesWindowFeatures

WINDOW_FEATURES = SalesWindowFeatures()
FEATURE_COLUMNS = ["produto_idx", "categoria_idx", *WINDOW_FEATURES.feature_columns()]
TRAIN, HOLDOUT = "train", "holdout"


class FeatureConfig(dg.Config):
    holdout_weeks: int = Field(
        default=4, description="the last N weeks are the holdout: never seen by indexers, scaler or tuning"
    )


def fit_feature_pipeline(training_sales: DataFrame) -> PipelineModel:
    """Raw sales rows -> model-ready rows: the window features, then indexers, assembler and scaler
    fitted on `training_sales`. The windows are computed once (cached) for the three fitted stages."""
    windows = SalesWindowFeatures()
    rows = windows.transform(training_sales).cache()
    fitted = Pipeline(
        stages=[
            # Products or categories unseen at training time get their own index instead of failing.
            StringIndexer(inputCol="produto", outputCol="produto_idx", handleInvalid="keep"),
            StringIndexer(inputCol="categoria_valor", outputCol="categoria_idx", handleInvalid="keep"),
            VectorAssembler(inputCols=FEATURE_COLUMNS, outputCol="features_raw"),
            StandardScaler(inputCol="features_raw", outputCol="features", withMean=True, withStd=True),
        ]
    ).fit(rows)
    rows.unpersist()
    return PipelineModel(stages=[windows, *fitted.stages])


@dg.multi_asset(
    group_name="features",
    outs={
        "feature_pipeline": dg.AssetOut(
            io_manager_key="ml_models_io",
            kinds={"spark"},
            description="The fitted feature PipelineModel (window features, indexers, assembler, scaler), "
            "fitted on the training period only. It turns raw sales rows into model-ready rows by itself.",
        ),
        "feature_dataset": dg.AssetOut(
            io_manager_key="ml_data_io",
            kinds={"spark", "parquet"},
            description="One row per product and forecast date: raw features, the scaled `features` vector, "
            "the next-day `target`, and `split` (train, or holdout: the last N weeks).",
        ),
    },
)
def features(context: dg.AssetExecutionContext, config: FeatureConfig, raw_sales: DataFrame):
    """Reads every stored `raw_sales` week; fits the feature pipeline before the holdout; transforms all."""
    raw_sales = raw_sales.select("produto", "categoria_valor", "quantidade", "valor_total", "data_venda").cache()
    first_day, last_day = raw_sales.agg(F.min("data_venda"), F.max("data_venda")).first()
    if last_day is None:
        raise dg.Failure("raw_sales holds no rows: nothing to learn from")
    holdout_start = last_day - timedelta(days=7 * config.holdout_weeks - 1)
    context.log.info(f"training rows before {holdout_start}; holdout {holdout_start} .. {last_day}")

    pipeline_model = fit_feature_pipeline(raw_sales.filter(F.col("data_venda") < holdout_start))
    dataset = (
        pipeline_model.transform(raw_sales)
        .filter(F.col("target").isNotNull())
        .drop("features_raw")
        .withColumn("split", F.when(F.col("forecast_date") < holdout_start, TRAIN).otherwise(HOLDOUT))
        .cache()
    )
    counts = {r["split"]: r["count"] for r in dataset.groupBy("split").count().collect()}
    raw_sales.unpersist()
    if not counts.get(TRAIN) or not counts.get(HOLDOUT):
        raise dg.Failure(
            f"not enough history: {counts.get(TRAIN, 0)} training and {counts.get(HOLDOUT, 0)} holdout rows "
            f"from sales {first_day} .. {last_day}; features need {WINDOW_FEATURES.history_days()} days per "
            f"product before the first forecast date, plus the {config.holdout_weeks}-week holdout"
        )
    lineage = {
        "sales_range": f"{first_day} .. {last_day}",
        "holdout_start": str(holdout_start),
        "holdout_weeks": config.holdout_weeks,
    }
    yield dg.Output(
        pipeline_model, output_name="feature_pipeline", metadata={**lineage, "stages": len(pipeline_model.stages)}
    )
    yield dg.Output(
        dataset,
        output_name="feature_dataset",
        metadata={
            **lineage,
            "train_rows": counts[TRAIN],
            "holdout_rows": counts[HOLDOUT],
            "features": ", ".join(FEATURE_COLUMNS),
        },
    )
    dataset.unpersist()
