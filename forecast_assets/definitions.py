"""The one Definitions object of the code location: assets, checks, jobs and resources."""

import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg

from forecast_assets import settings
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
from forecast_assets.policies import EXECUTOR
from forecast_assets.progress import progress_console
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


# The product's output and the model behind it: overdue when Monday's run has not refreshed them.
DEADLINED = {"production_model", "sales_forecast"}


def described_assets() -> list:
    """The assets with what the UI shows of them: owners, tags, the storage among their kinds, the freshness
    deadline of the weekly outputs, and links to their source code (local files, or FORECAST_SOURCE_URL)."""
    storage, owners = settings.storage_kind(), settings.asset_owners()
    hour = settings.forecast_deadline_hour()
    deadline = dg.FreshnessPolicy.cron(
        deadline_cron=f"0 {hour} * * 1", lower_bound_delta=timedelta(hours=hour), timezone=settings.schedule_timezone()
    )

    def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
        spec = spec.merge_attributes(owners=owners, tags={"domain": "sales", "stage": spec.group_name}, kinds={storage})
        if spec.key.to_user_string() in DEADLINED:
            spec = spec.replace_attributes(freshness_policy=deadline)
        return spec

    with warnings.catch_warnings():  # Dagster marks code references beta: say it once in the README, not per asset
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = dg.with_source_code_references(dg.map_asset_specs(describe, ASSETS))
    if url := settings.source_url():
        assets = dg.link_code_references_to_git(
            assets,
            git_url=url,
            git_branch=settings.source_branch(),
            file_path_mapping=dg.AnchorBasedFilePathMapping(
                local_file_anchor=Path(__file__).resolve().parent.parent, file_anchor_path_in_repository=""
            ),
        )
    return list(assets)


def build_defs() -> dg.Definitions:
    """Definitions for the current environment (settings.py reads it when resources are built)."""
    return dg.Definitions(
        assets=described_assets(),
        asset_checks=CHECKS,
        jobs=[ml_pipeline, rollback_production_model],
        schedules=[weekly_retraining],
        sensors=SENSORS,
        resources=build_resources(),
        executor=EXECUTOR,  # every job, the UI's implicit asset job included: one process, one JVM per run
        loggers={"console": progress_console},  # used when a run's config names it (make run does)
    )


defs = build_defs()
