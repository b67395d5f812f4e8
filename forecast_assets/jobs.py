"""`ml_pipeline`: a raw_sales week (or range of weeks) and everything downstream, in one process."""

import dagster as dg

from forecast_assets.partitions import weekly_partitions

ml_pipeline = dg.define_asset_job(
    "ml_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=weekly_partitions,
    # One process, one JVM: a JVM per step (the multiprocess default) doubles the run time.
    executor_def=dg.in_process_executor,
    description="Ingest the week's sales, rebuild features, tune the three candidates, compare them with "
    "the baselines, promote the best if it beats seasonal naive, forecast tomorrow, score drift.",
)
