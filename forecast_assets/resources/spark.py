"""Spark through dagster-pyspark: one lazily started session per run process."""

import os
import sys

from dagster_pyspark import LazyPySparkResource

from forecast_assets.settings import Settings


def python_for_spark_tasks() -> None:
    """Spark's Python tasks (XGBoost's fits) run PYSPARK_PYTHON, by default whatever `python3` is on the PATH,
    which need not have the run's packages: this interpreter, unless one was chosen. PySpark reads the variable
    when the session starts; on a standalone cluster the workers run the project's image (docker-compose.yml),
    where the same path holds the same environment."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def spark_resource(settings: Settings) -> LazyPySparkResource:
    # Lazy: loading the definitions (UI, daemon, tests) starts no JVM; the first step that asks does.
    python_for_spark_tasks()
    return LazyPySparkResource(spark_config=settings.spark_config())
