"""The one Definitions object of the code location: assets, checks, jobs and resources."""

import dagster as dg

from forecast_assets.assets.accuracy import forecast_accuracy
from forecast_assets.assets.checks import DOWNSTREAM_CHECKS
from forecast_assets.assets.evaluation import best_model_beats_baselines, model_comparison, production_model
from forecast_assets.assets.features import features
from forecast_assets.assets.ingestion import raw_sales
from forecast_assets.assets.lifecycle import rollback_production_model
from forecast_assets.assets.monitoring import drift_score, sales_forecast, shadow_forecast
from forecast_assets.assets.training import candidate_assets
from forecast_assets.automation.schedules import weekly_retraining
from forecast_assets.automation.sensors import drift_retraining, new_sales_files, notify_on_failure, notify_on_success
from forecast_assets.jobs import ml_pipeline
from forecast_assets.resources import build_resources

ASSETS = [
    raw_sales,
    features,
    *candidate_assets,
    model_comparison,
    production_model,
    sales_forecast,
    shadow_forecast,
    forecast_accuracy,
    drift_score,
]
CHECKS = [best_model_beats_baselines, *DOWNSTREAM_CHECKS]
SENSORS = [new_sales_files, drift_retraining, notify_on_success, notify_on_failure]


def build_defs() -> dg.Definitions:
    """Definitions for the current environment (settings.py reads it when resources are built)."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[ml_pipeline, rollback_production_model],
        schedules=[weekly_retraining],
        sensors=SENSORS,
        resources=build_resources(),
    )


defs = build_defs()
