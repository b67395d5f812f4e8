"""Spark through dagster-pyspark: one lazily started session per run process."""

from dagster_pyspark import LazyPySparkResource

from forecast_assets.settings import Settings


def spark_resource(settings: Settings) -> LazyPySparkResource:
    # Lazy: loading the definitions (UI, daemon, tests) starts no JVM; the first step that asks does.
    return LazyPySparkResource(spark_config=settings.spark_config())
