"""How every run of these assets executes, whoever launches it (ml_pipeline, the UI's Materialize, a schedule,
a sensor): declared once, attached to the assets and to the Definitions."""

import dagster as dg

from forecast_assets import settings

# One process, one JVM per run: the multiprocess default starts a JVM per step (100 s vs 45 s on a toy graph;
# drift_score alone 45 s vs 6 s). The Definitions' executor, so the UI's implicit asset job uses it too.
EXECUTOR = dg.in_process_executor

# The concurrency pool of every asset that runs Spark. The instance (dagster.yaml, `concurrency: pools:`)
# limits it per run: one run with Spark steps at a time, so two JVMs with 6g drivers never share the machine
# and two promotions never interleave.
SPARK_POOL = "spark"

# Runs with this tag go one at a time too (dagster.yaml, `concurrency: runs:`): ml_pipeline and the rollback.
TRAINING_TAG = {"forecast/training": "ml_pipeline"}

# Every step reads or writes the warehouse: ride out a storage hiccup before failing the run.
STEP_RETRY = dg.RetryPolicy(max_retries=2, delay=settings.retry_delay_seconds(), backoff=dg.Backoff.EXPONENTIAL)
