"""Spark through dagster-pyspark: one lazily started session per run process, configured from the settings."""

import os
import sys
from pathlib import Path

from dagster_pyspark import LazyPySparkResource

from forecast_assets.settings import S3_REGION, Settings

LOG4J2_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"  # Spark's console levels per logger


def python_for_spark_tasks() -> None:
    """Spark's Python tasks (XGBoost's fits) run PYSPARK_PYTHON, by default whatever `python3` is on the PATH,
    which need not have the run's packages: this interpreter, unless one was chosen. PySpark reads the variable
    when the session starts; on a standalone cluster the workers run the project's image (docker-compose.yml),
    where the same path holds the same environment."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def spark_resource(settings: Settings) -> LazyPySparkResource:
    # Lazy: loading the definitions (UI, daemon, tests) starts no JVM; the first step that asks does.
    python_for_spark_tasks()
    return LazyPySparkResource(spark_config=spark_config(settings))


def spark_config(settings: Settings) -> dict[str, str]:
    """Spark settings for one session per run process: local mode, or a standalone cluster when spark_master
    names one (the run process is then the driver; executors reach it at spark_driver_host)."""
    config = {
        "spark.master": settings.spark_master,
        "spark.app.name": "forecast_assets",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": settings.spark_log_level,
        # Per-logger levels: no warnings a user cannot act on (log4j2.properties beside this module).
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J2_CONFIG.as_uri()}",
        "spark.driver.host": settings.spark_driver_host,
        "spark.driver.bindAddress": "127.0.0.1" if settings.spark_driver_host == "127.0.0.1" else "0.0.0.0",
        "spark.sql.sources.partitionOverwriteMode": "static",
        "spark.sql.parquet.compression.codec": "snappy",
        "spark.sql.execution.arrow.pyspark.enabled": "true",  # validated pandas rows -> Spark in one batch
    }
    if settings.spark_executor_memory:
        config["spark.executor.memory"] = settings.spark_executor_memory
    if settings.spark_cores_max:
        config["spark.cores.max"] = settings.spark_cores_max
    if settings.storage == "minio":
        config.update(s3a_config(settings))
    return config


def s3a_config(settings: Settings, endpoint: str | None = None) -> dict[str, str]:
    """S3A settings for MinIO. Credentials are not in here: S3A reads them from the environment."""
    endpoint = endpoint or settings.s3_endpoint
    config = {
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": S3_REGION,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"
        ),
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        # Fail within seconds, not minutes, when MinIO is down; the step's RetryPolicy retries.
        "spark.hadoop.fs.s3a.attempts.maximum": "2",
        "spark.hadoop.fs.s3a.retry.limit": "2",
        "spark.hadoop.fs.s3a.connection.establish.timeout": "5s",
        "spark.hadoop.fs.s3a.connection.timeout": "30s",
    }
    if jars := s3a_jars(settings):
        config["spark.jars"] = jars
    return config


def s3a_jars(settings: Settings) -> str:
    """FORECAST_S3A_JARS as Spark's comma-separated list: the jars themselves, or every jar of a folder."""
    if settings.s3a_jars and Path(settings.s3a_jars).is_dir():
        return ",".join(str(p) for p in sorted(Path(settings.s3a_jars).glob("*.jar")))
    return settings.s3a_jars
