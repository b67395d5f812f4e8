"""The one Definitions object of the code location: assets, checks, jobs and resources."""

from __future__ import annotations

import dagster as dg

from forecast_assets.assets.evaluation import best_model_beats_seasonal_naive, model_comparison, production_model
from forecast_assets.assets.features import features
from forecast_assets.assets.ingestion import raw_sales
from forecast_assets.assets.monitoring import drift_score, sales_forecast
from forecast_assets.assets.training import candidate_assets
from forecast_assets.jobs import ml_pipeline
from forecast_assets.resources import build_resources

defs = dg.Definitions(
    assets=[raw_sales, features, *candidate_assets, model_comparison, production_model, sales_forecast, drift_score],
    asset_checks=[best_model_beats_seasonal_naive],
    jobs=[ml_pipeline],
    resources=build_resources(),
)
