"""The code location's Definitions, built from one Settings object.

`defs` is Dagster's lazy loader (`@dg.definitions`): the environment is read once, into `Settings.from_env()`,
when a process loads the code location (`dagster dev`, the daemon, `dagster job execute -m forecast_assets`,
`dg check defs`), not when a module is imported. Tests call `build_defs(Settings(...))`."""

import inspect
import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg

from forecast_assets.automation.schedules import build_schedules
from forecast_assets.automation.sensors import build_sensors
from forecast_assets.evaluation.assets import model_comparison, production_model
from forecast_assets.evaluation.checks import best_model_beats_baselines
from forecast_assets.features.assets import features
from forecast_assets.features.checks import feature_dataset_consistent
from forecast_assets.ingestion.assets import raw_sales
from forecast_assets.jobs import ml_pipeline
from forecast_assets.monitoring.accuracy import forecast_accuracy
from forecast_assets.monitoring.drift import drift_score
from forecast_assets.policies import EXECUTOR
from forecast_assets.progress import progress_console
from forecast_assets.resources import build_resources
from forecast_assets.serving.assets import sales_forecast, shadow_forecast
from forecast_assets.serving.checks import production_model_serves
from forecast_assets.serving.rollback import rollback_production_model
from forecast_assets.settings import Settings
from forecast_assets.training.assets import CANDIDATE_ASSETS, chosen

ASSETS_BEFORE_TRAINING = [raw_sales, features]  # then the candidates of FORECAST_CANDIDATES (described_assets)
ASSETS_AFTER_TRAINING = [
    model_comparison,
    production_model,
    sales_forecast,
    shadow_forecast,
    forecast_accuracy,
    drift_score,
]
CHECKS = [feature_dataset_consistent, best_model_beats_baselines, production_model_serves]


# The product's output and the model behind it: overdue when Monday's run has not refreshed them.
DEADLINED = {"production_model", "sales_forecast"}


def described_assets(settings: Settings) -> list:
    """The assets built for the settings, with what the UI shows of them: owners, tags, the storage among
    their kinds, the freshness deadline of the weekly outputs, and links to their source code (local files,
    or FORECAST_SOURCE_URL)."""
    hour = settings.deadline_hour
    deadline = dg.FreshnessPolicy.cron(
        deadline_cron=f"0 {hour} * * 1", lower_bound_delta=timedelta(hours=hour), timezone=settings.timezone
    )

    def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
        tags = {"domain": "sales", "stage": spec.group_name}
        spec = spec.merge_attributes(owners=list(settings.owners), tags=tags, kinds={settings.storage})
        if spec.key.to_user_string() in DEADLINED:
            spec = spec.replace_attributes(freshness_policy=deadline)
        return spec

    # Dagster marks code references and raw_sales's single-run backfill policy beta: the README says so once,
    # rather than a warning per asset on every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        candidates = [CANDIDATE_ASSETS[c.name] for c in chosen(settings)]
        declared = [*ASSETS_BEFORE_TRAINING, *candidates, *ASSETS_AFTER_TRAINING]
        built = [asset.build(settings) for asset in declared]
        # Where each asset's own function is (what dg.with_source_code_references would find, were the function
        # Dagster calls not policies.py's wrapper that names damaged storage).
        where = {k: code_reference(a.function) for a, made in zip(declared, built, strict=True) for k in made.keys}
        assets = dg.map_asset_specs(
            lambda spec: describe(spec).merge_attributes(metadata={"dagster/code_references": where[spec.key]}), built
        )
        if settings.source_url:
            assets = dg.link_code_references_to_git(
                assets,
                git_url=settings.source_url,
                git_branch=settings.source_branch,
                file_path_mapping=dg.AnchorBasedFilePathMapping(
                    local_file_anchor=Path(__file__).resolve().parent.parent, file_anchor_path_in_repository=""
                ),
            )
    return list(assets)


def code_reference(function) -> dg.CodeReferencesMetadataValue:
    path = Path(inspect.getsourcefile(function)).resolve()
    line = inspect.getsourcelines(function)[1]
    reference = dg.LocalFileCodeReference(file_path=str(path), line_number=line)
    return dg.CodeReferencesMetadataValue(code_references=[reference])


def build_defs(settings: Settings) -> dg.Definitions:
    """The code location for these settings: nothing in it reads the environment."""
    return dg.Definitions(
        assets=described_assets(settings),
        asset_checks=CHECKS,
        jobs=[ml_pipeline, rollback_production_model],
        schedules=build_schedules(settings),
        sensors=build_sensors(settings),
        resources=build_resources(settings),
        executor=EXECUTOR,  # every job, the UI's implicit asset job included: one process, one JVM per run
        loggers={"console": progress_console},  # used when a run's config names it (make run does)
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What Dagster loads: the definitions of this process's environment."""
    return build_defs(Settings.from_env())
