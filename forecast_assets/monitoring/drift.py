"""Monitoring: `drift_score`, the drift of the features and of the production model's predictions."""

from dataclasses import asdict
from datetime import timedelta

import dagster as dg
from pydantic import Field
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.features.assets import TRAIN, WINDOW_FEATURES
from forecast_assets.ml.drift import DriftThresholds, drift_report
from forecast_assets.ml.features import (
    KEY_COLUMNS,
    weekly_origin,
)
from forecast_assets.policies import spark_asset
from forecast_assets.reporting.tables import frame_table

MAX_DRIFT_SAMPLE = 100_000  # rows per window handed to scipy


CALENDAR = ("day_of_week", "year_sin", "year_cos", "horizon")  # known in advance: not drift


DRIFT_COLUMNS = [c for c in WINDOW_FEATURES.feature_columns() if c not in CALENDAR]


class DriftConfig(dg.Config):
    current_window_days: int = Field(default=28, description="the most recent days compared with the training window")
    ks_statistic_threshold: float = DriftThresholds.ks_statistic
    psi_threshold: float = DriftThresholds.psi
    drifted_share_threshold: float = DriftThresholds.drifted_share


@spark_asset(
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
    # The production pipeline without its window stage: feature_dataset already holds the window features. A
    # model reading statistical forecasts has them at the latest origins only: its features drift, not its output.
    predicts = not production_model.stages[0].statistical_models()
    scored = (
        PipelineModel(stages=production_model.stages[1:])
        .transform(feature_dataset.drop("produto_idx", "categoria_idx", "features", "split"))
        .join(feature_dataset.select(*KEY_COLUMNS, "split"), KEY_COLUMNS)
        if predicts
        else feature_dataset
    )
    last = feature_dataset.agg(F.max("forecast_date")).first()[0]
    current_start = last - timedelta(days=config.current_window_days - 1)
    columns = [*DRIFT_COLUMNS, *(["prediction"] if predicts else [])]
    # Weekly (Sunday) origins only, as served: daily training origins would shift the reference's lags and
    # weekdays against the current window's and read as drift.
    served = scored.filter(weekly_origin())
    windows = {
        "reference": served.filter((F.col("split") == TRAIN) & (F.col("forecast_date") < F.lit(current_start))),
        "current": served.filter(F.col("forecast_date") >= F.lit(current_start)),
    }
    samples = {}
    for name, frame in windows.items():
        rows = frame.count()
        fraction = min(1.0, MAX_DRIFT_SAMPLE / rows) if rows else 1.0
        frame = frame.sample(fraction=fraction, seed=7) if fraction < 1 else frame
        samples[name] = frame.select(*columns).toPandas()
    table, verdict = drift_report(
        samples["reference"], samples["current"], columns, "prediction" if predicts else None, limits
    )
    result = {
        **verdict,
        "reference_window": f".. {current_start - timedelta(days=1)}",
        "current_window": f"{current_start} .. {last}",
        "thresholds": asdict(limits),
        "columns": table.reset_index().to_dict(orient="records"),
        # a model that reads statistical forecasts has them at the latest origins only, not over the reference
        "prediction_measured": predicts,
    }
    context.log.info(f"drift score {verdict['score']:.2f}, drifted={verdict['drifted']}: {verdict['drifted_columns']}")
    yield dg.Output(
        result,
        metadata={
            "drift_score": verdict["score"],
            "drifted": verdict["drifted"],
            "drifted_columns": ", ".join(verdict["drifted_columns"]) or "none",
            "columns": frame_table(table, index="column", digits=4),
        },
    )
    yield dg.AssetCheckResult(
        check_name="no_drift",
        passed=not verdict["drifted"],
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"drift_score": verdict["score"], "drifted_columns": ", ".join(verdict["drifted_columns"]) or "none"},
    )
