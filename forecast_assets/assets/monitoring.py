"""Monitoring: the next-day `sales_forecast` from the production model, and `drift_score`."""

from dataclasses import asdict
from datetime import timedelta

import dagster as dg
from pydantic import Field
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.assets.features import TRAIN, WINDOW_FEATURES
from forecast_assets.ml.drift import DriftThresholds, drift_report

MAX_DRIFT_SAMPLE = 100_000  # rows per window handed to scipy
DRIFT_COLUMNS = [c for c in WINDOW_FEATURES.feature_columns() if c not in ("day_of_week", "month")]


@dg.asset(group_name="monitoring", io_manager_key="ml_data_io", kinds={"spark", "parquet"})
def sales_forecast(
    context: dg.AssetExecutionContext, production_model: PipelineModel, raw_sales: DataFrame
) -> dg.Output[DataFrame]:
    """Tomorrow's sales for every product: the production model (feature pipeline + regressor) applied to
    the latest stored `raw_sales` history, through exactly the code path used in training."""
    last_day = raw_sales.agg(F.max("data_venda")).first()[0]
    history = raw_sales.filter(
        F.col("data_venda") > F.lit(last_day - timedelta(days=WINDOW_FEATURES.history_days() + 7))
    )
    forecast = (
        production_model.transform(history)
        .filter(F.col("data_venda") == F.lit(last_day))
        .select(
            "produto",
            "categoria_valor",
            "forecast_date",
            F.greatest(F.col("prediction"), F.lit(0.0)).alias("forecast_valor_total"),
        )
        .orderBy("produto")
        .cache()
    )
    preview = forecast.limit(10).toPandas()
    return dg.Output(
        forecast,
        metadata={
            "forecast_date": str(last_day + timedelta(days=1)),
            "products": forecast.count(),
            "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
        },
    )


class DriftConfig(dg.Config):
    current_window_days: int = Field(default=28, description="the most recent days compared with the training window")
    ks_statistic_threshold: float = DriftThresholds.ks_statistic
    psi_threshold: float = DriftThresholds.psi
    drifted_share_threshold: float = DriftThresholds.drifted_share


@dg.asset(
    group_name="monitoring",
    io_manager_key="ml_experiments_io",
    kinds={"scipy", "json"},
    check_specs=[
        dg.AssetCheckSpec(
            "no_drift",
            asset="drift_score",
            description="a warning when the recent window has drifted from the training window (the drift "
            "sensor decides on retraining)",
        )
    ],
)
def drift_score(
    context: dg.AssetExecutionContext, config: DriftConfig, feature_dataset: DataFrame, production_model: PipelineModel
):
    """Drift of each feature and of the production model's predictions between the training window
    (reference) and the most recent window (current): KS statistic and p-value, PSI, a drifted flag per
    column, an overall score (share of drifted columns) and verdict. Stored as JSON in ml-experiments."""
    limits = DriftThresholds(config.ks_statistic_threshold, config.psi_threshold, config.drifted_share_threshold)
    # The production pipeline without its window stage: feature_dataset already holds the window features.
    scored = (
        PipelineModel(stages=production_model.stages[1:])
        .transform(feature_dataset.drop("produto_idx", "categoria_idx", "features", "split"))
        .join(feature_dataset.select("produto", "forecast_date", "split"), ["produto", "forecast_date"])
    )
    last = feature_dataset.agg(F.max("forecast_date")).first()[0]
    current_start = last - timedelta(days=config.current_window_days - 1)
    columns = [*DRIFT_COLUMNS, "prediction"]
    windows = {
        "reference": scored.filter((F.col("split") == TRAIN) & (F.col("forecast_date") < F.lit(current_start))),
        "current": scored.filter(F.col("forecast_date") >= F.lit(current_start)),
    }
    samples = {}
    for name, frame in windows.items():
        rows = frame.count()
        fraction = min(1.0, MAX_DRIFT_SAMPLE / rows) if rows else 1.0
        frame = frame.sample(fraction=fraction, seed=7) if fraction < 1 else frame
        samples[name] = frame.select(*columns).toPandas()
    table, verdict = drift_report(samples["reference"], samples["current"], columns, "prediction", limits)
    result = {
        **verdict,
        "reference_window": f".. {current_start - timedelta(days=1)}",
        "current_window": f"{current_start} .. {last}",
        "thresholds": asdict(limits),
        "columns": table.reset_index().to_dict(orient="records"),
    }
    context.log.info(f"drift score {verdict['score']:.2f}, drifted={verdict['drifted']}: {verdict['drifted_columns']}")
    yield dg.Output(
        result,
        metadata={
            "drift_score": verdict["score"],
            "drifted": verdict["drifted"],
            "drifted_columns": ", ".join(verdict["drifted_columns"]) or "none",
            "columns": dg.MetadataValue.md(table.round(4).to_markdown()),
        },
    )
    yield dg.AssetCheckResult(
        check_name="no_drift",
        passed=not verdict["drifted"],
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"drift_score": verdict["score"], "drifted_columns": ", ".join(verdict["drifted_columns"]) or "none"},
    )
