"""How every run of these assets executes, whoever launches it (ml_pipeline, the UI's Materialize, a schedule,
a sensor): declared once, attached to the assets and to the Definitions when they are built.

The Spark assets are declared with `spark_asset` / `spark_multi_asset`: the decorator keeps the function and
Dagster's arguments, and `build_defs` turns them into asset definitions with the run policies of its Settings
(the retry delay, the weekly partitions' first week), so nothing here reads the environment at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from forecast_assets.partitions import weekly_partitions
from forecast_assets.resources.damage import naming_damage
from forecast_assets.settings import Settings

# One process, one JVM per run: the multiprocess default starts a JVM per step (100 s vs 45 s on a toy graph;
# drift_score alone 45 s vs 6 s). The Definitions' executor, so the UI's implicit asset job uses it too.
EXECUTOR = dg.in_process_executor

# The concurrency pool of every asset that runs Spark. The instance (dagster.yaml, `concurrency: pools:`)
# limits it per run: one run with Spark steps at a time, so two JVMs with 6g drivers never share the machine
# and two promotions never interleave.
SPARK_POOL = "spark"

# Runs with this tag go one at a time too (dagster.yaml, `concurrency: runs:`): ml_pipeline and the rollback.
TRAINING_TAG = {"forecast/training": "ml_pipeline"}
TRIGGER_TAG = "forecast/trigger"  # what started a run: schedule, new_sales_file, drift (none: manual)


def step_retry(settings: Settings) -> dg.RetryPolicy:
    """Every step reads or writes the warehouse: ride out a storage hiccup before failing the run."""
    return dg.RetryPolicy(max_retries=2, delay=settings.retry_delay_seconds, backoff=dg.Backoff.EXPONENTIAL)


@dataclass(frozen=True)
class SparkAsset:
    """An asset that runs Spark, declared at import and built per Settings: the Spark pool, the retry policy,
    and (partitioned=True) the weekly partitions."""

    decorator: Callable
    function: Callable
    arguments: dict
    partitioned: bool = False

    def build(self, settings: Settings) -> dg.AssetsDefinition:
        extra: dict = {"pool": SPARK_POOL, "retry_policy": step_retry(settings)}
        if self.partitioned:
            extra["partitions_def"] = weekly_partitions(settings.first_week)
        arguments = dict(self.arguments)
        if callable(arguments.get("ins")):  # inputs that depend on the settings: the candidates they chose
            arguments["ins"] = arguments["ins"](settings)
        return self.decorator(**arguments, **extra)(naming_damage(self.function))  # damaged storage: one error


def spark_asset(*, partitioned: bool = False, **arguments) -> Callable[[Callable], SparkAsset]:
    """`@dg.asset(**arguments)` with this module's run policies, built by `SparkAsset.build(settings)`."""
    return lambda function: SparkAsset(dg.asset, function, arguments, partitioned)


def spark_multi_asset(**arguments) -> Callable[[Callable], SparkAsset]:
    """`@dg.multi_asset(**arguments)` with this module's run policies."""
    return lambda function: SparkAsset(dg.multi_asset, function, arguments)
