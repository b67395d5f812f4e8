"""`ml_pipeline`: a raw_sales week (or range of weeks) and everything downstream, in one process."""

import dagster as dg

from forecast_assets.partitions import weekly_partitions
from forecast_assets.policies import EXECUTOR, TRAINING_TAG

ml_pipeline = dg.define_asset_job(
    "ml_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=weekly_partitions,
    executor_def=EXECUTOR,  # the Definitions' too; named here so the job says how it runs
    tags=TRAINING_TAG,  # the assets carry the pool and the retry policy (policies.py)
    description="Ingest the week's sales, rebuild features, tune the three candidates, compare them with "
    "the baselines, promote the best if it beats seasonal naive, forecast tomorrow, score drift.",
)
