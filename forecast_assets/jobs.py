"""`ml_pipeline`: a raw_sales week (or range of weeks) and everything downstream, in one process; and the run
config of the runs that schedules, sensors and `make run` request."""

import dagster as dg

from forecast_assets.landing.formats import ReadOptions
from forecast_assets.policies import EXECUTOR, TRAINING_TAG
from forecast_assets.settings import Settings
from forecast_assets.training.assets import chosen

ml_pipeline = dg.define_asset_job(
    "ml_pipeline",
    selection=dg.AssetSelection.all(),  # its partitions: raw_sales's weeks (the only partitioned asset)
    executor_def=EXECUTOR,  # the Definitions' too; named here so the job says how it runs
    tags=TRAINING_TAG,  # the assets carry the pool and the retry policy (policies.py)
    description="Ingest the week's sales, rebuild features, tune the candidates, compare them with "
    "the baselines, promote the best if it beats seasonal naive, forecast tomorrow, score drift.",
)


def automated_run_config(settings: Settings) -> dict:
    """Run config of the runs schedules and sensors request (and `make run`'s): every candidate with the
    settings' profile (default full), folds and tuning (default auto: training/retune.py), the settings' target,
    holdout, training origins, holidays country, statistical candidates and promotion margin when given, and how
    landed files are read."""
    training: dict = {"profile": settings.profile, "tuning": settings.tuning}
    if settings.retune_weeks != 4:
        training["retune_weeks"] = settings.retune_weeks
    if settings.cv_folds is not None:
        training["cv_folds"] = settings.cv_folds
    ops: dict = {candidate.asset_name: {"config": training} for candidate in chosen(settings)}
    features: dict = {"target": settings.target} if settings.target != "valor_total" else {}
    if settings.holdout_weeks is not None:
        features["holdout_weeks"] = settings.holdout_weeks
    if settings.training_origins != "auto":
        features["training_origins"] = settings.training_origins
    if settings.holidays_country:
        features["holidays_country"] = settings.holidays_country
    if features:
        ops["features"] = {"config": features}
    comparison: dict = {}
    if settings.min_improvement is not None:
        comparison["min_improvement"] = settings.min_improvement
    if settings.statistical is not None:
        comparison["statistical"] = list(settings.statistical)
    if comparison:
        ops["model_comparison"] = {"config": comparison}
    if reading := read_options(settings).as_config():
        ops["raw_sales"] = {"config": reading}
    return {"ops": ops}


def read_options(settings: Settings) -> ReadOptions:
    """How automated runs read landed files (FORECAST_COLUMNS, FORECAST_LOCALE, FORECAST_DATE_FORMAT,
    FORECAST_SHEET): raw_sales's config in the runs they request, and the new-files sensor's own reading."""
    try:
        return ReadOptions.of(settings.columns, settings.locale, settings.date_format, settings.sheet)
    except ValueError as error:  # each option's error starts with its name: COLUMNS, LOCALE, DATE_FORMAT
        raise ValueError(f"FORECAST_{error}") from None
