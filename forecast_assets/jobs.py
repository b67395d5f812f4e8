"""`ml_pipeline`: a raw_sales week (or range of weeks) and everything downstream, in one process."""

import dagster as dg

from forecast_assets import settings
from forecast_assets.partitions import weekly_partitions

# dagster.yaml limits runs with this tag to one at a time: scheduled, drift- and file-triggered
# retraining queue behind each other instead of training at once.
TRAINING_TAG = {"forecast/training": "ml_pipeline"}

ml_pipeline = dg.define_asset_job(
    "ml_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=weekly_partitions,
    # One process, one JVM: a JVM per step (the multiprocess default) doubles the run time.
    executor_def=dg.in_process_executor,
    tags=TRAINING_TAG,
    # Every step reads or writes the warehouse: ride out a storage hiccup before failing the run.
    op_retry_policy=dg.RetryPolicy(max_retries=2, delay=settings.retry_delay_seconds(), backoff=dg.Backoff.EXPONENTIAL),
    description="Ingest the week's sales, rebuild features, tune the three candidates, compare them with "
    "the baselines, promote the best if it beats seasonal naive, forecast tomorrow, score drift.",
)
