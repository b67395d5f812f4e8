"""Environment -> resource configuration: the one place that reads the environment.

FORECAST_STORAGE picks the storage: `local` (default, a warehouse folder, no server) or `minio`
(S3 API). Spark runs `local[*]` unless SPARK_MASTER names a cluster. Variables (see .env.example):

  FORECAST_STORAGE       local | minio
  FORECAST_WAREHOUSE     local warehouse folder (default ./warehouse)
  FORECAST_S3_ENDPOINT   MinIO endpoint, e.g. http://127.0.0.1:9000
  AWS_ACCESS_KEY_ID      MinIO access key (read by boto3 and by Spark's S3A from the environment)
  AWS_SECRET_ACCESS_KEY  MinIO secret key
  SPARK_MASTER           default local[*]
  SPARK_DRIVER_MEMORY    default 6g
  SPARK_SHUFFLE_PARTITIONS default 4
  FORECAST_S3A_JARS      comma-separated jar paths for S3A (the Makefile fills it from the cache)
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

# The original design's buckets; the local warehouse uses the same names as folders.
LANDING_BUCKET = "raw-data"
PROCESSED_BUCKET = "processed-data"
DATA_BUCKET = "ml-data"
MODELS_BUCKET = "ml-models"
EXPERIMENTS_BUCKET = "ml-experiments"
BUCKETS = (LANDING_BUCKET, PROCESSED_BUCKET, DATA_BUCKET, MODELS_BUCKET, EXPERIMENTS_BUCKET)

S3_REGION = "us-east-1"


def storage_kind() -> str:
    kind = os.environ.get("FORECAST_STORAGE", "local").strip().lower()
    if kind not in ("local", "minio"):
        raise ValueError(f"FORECAST_STORAGE must be 'local' or 'minio', got {kind!r}")
    return kind


def warehouse_root() -> str:
    return str(Path(os.environ.get("FORECAST_WAREHOUSE", "warehouse")).resolve())


def spark_config() -> dict[str, str]:
    """Spark settings for one session per run process (local mode unless SPARK_MASTER says otherwise)."""
    config = {
        "spark.master": os.environ.get("SPARK_MASTER", "local[*]"),
        "spark.app.name": "forecast_assets",
        # The full random-forest grid (maxDepth 15) dies on Spark's default 1g driver.
        "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "6g"),
        "spark.sql.shuffle.partitions": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.sql.sources.partitionOverwriteMode": "static",
        "spark.sql.parquet.compression.codec": "snappy",
    }
    if storage_kind() == "minio":
        config.update(s3a_config(os.environ.get("FORECAST_S3_ENDPOINT", "")))
    return config


def s3a_config(endpoint: str) -> dict[str, str]:
    """S3A settings for MinIO. Credentials are not in here: S3A reads them from the environment."""
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
    jars = os.environ.get("FORECAST_S3A_JARS", "")
    if jars:
        config["spark.jars"] = jars
    return config


def warehouse_config() -> dict:
    """Keyword arguments for the Warehouse resource: a folder, or MinIO through dagster-aws's S3Resource."""
    if storage_kind() == "local":
        return {"root_uri": "file://" + warehouse_root()}
    return {
        "root_uri": "s3a://",
        "endpoint_url": dg.EnvVar("FORECAST_S3_ENDPOINT"),
        "aws_access_key_id": dg.EnvVar("AWS_ACCESS_KEY_ID"),
        "aws_secret_access_key": dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        "region_name": S3_REGION,
        "max_attempts": 2,
    }
