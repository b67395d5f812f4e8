"""Environment -> resource configuration: the one place that reads the environment.

FORECAST_STORAGE picks the storage: `local` (default, a warehouse folder, no server) or `minio`
(S3 API). Spark runs `local[*]` unless SPARK_MASTER names a cluster. Variables (see .env.example):

  FORECAST_STORAGE       local | minio
  FORECAST_WAREHOUSE     local warehouse folder (default ./warehouse)
  FORECAST_S3_ENDPOINT   MinIO endpoint, e.g. http://127.0.0.1:9000
  AWS_ACCESS_KEY_ID      MinIO access key (read by boto3 and by Spark's S3A from the environment)
  AWS_SECRET_ACCESS_KEY  MinIO secret key
  SPARK_MASTER           default local[*]; spark://host:port for a standalone cluster
  SPARK_DRIVER_HOST      where executors reach the driver (default 127.0.0.1; the container name in compose)
  SPARK_DRIVER_MEMORY    default 6g
  SPARK_EXECUTOR_MEMORY  on a cluster (Spark's default 1g)
  SPARK_CORES_MAX        on a cluster: cores one run may take (default all)
  SPARK_SHUFFLE_PARTITIONS default 4
  FORECAST_S3A_JARS      jar paths (comma-separated) or a folder of jars for S3A (the Makefile fills it)
  FORECAST_HISTORY_START the first day of sales history (YYYY-MM-DD, default 2023-01-02); the weekly
                         partitions of raw_sales start on the Monday of its week
  FORECAST_OWNERS        asset owners (default team:forecasting); FORECAST_DEADLINE_HOUR (default 12): the
                         Monday hour by which production_model and sales_forecast are overdue
  FORECAST_SOURCE_URL    where the UI's code links open (default: the local files)
  MLFLOW_TRACKING_URI    optional: log runs, metrics and the served model to MLflow (pip install '.[mlflow]')
  FORECAST_MLFLOW_EXPERIMENT / FORECAST_MLFLOW_MODEL  the experiment and registered model names
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
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
HISTORY_START_VARIABLE = "FORECAST_HISTORY_START"
DEFAULT_HISTORY_START = "2023-01-02"  # a Monday; the demo generator and the benchmark data start there


def history_start(today: date | None = None) -> date:
    """The first week of sales history: the Monday of FORECAST_HISTORY_START's week. A malformed date or
    one in the future is refused with a message that names the variable."""
    text = os.environ.get(HISTORY_START_VARIABLE, "").strip() or DEFAULT_HISTORY_START
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{HISTORY_START_VARIABLE}={text!r} is not a date; expected YYYY-MM-DD, e.g. {DEFAULT_HISTORY_START}"
        ) from None
    today = today or datetime.now(UTC).date()
    if day > today:
        raise ValueError(
            f"{HISTORY_START_VARIABLE}={text} is in the future (today is {today}); expected the first day of "
            "your sales history"
        )
    return day - timedelta(days=day.weekday())


def storage_kind() -> str:
    kind = os.environ.get("FORECAST_STORAGE", "local").strip().lower()
    if kind not in ("local", "minio"):
        raise ValueError(f"FORECAST_STORAGE must be 'local' or 'minio', got {kind!r}")
    return kind


def warehouse_root() -> str:
    return str(Path(os.environ.get("FORECAST_WAREHOUSE", "warehouse")).resolve())


SPARK_MASTER_FORM = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|spark://[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*")
ENDPOINT_FORM = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?/?")


def spark_master() -> str:
    master = os.environ.get("SPARK_MASTER", "local[*]").strip()
    if not SPARK_MASTER_FORM.fullmatch(master):
        raise ValueError(f"SPARK_MASTER={master!r}: expected local[*], local[N] or spark://host:port")
    return master


def s3_endpoint() -> str:
    endpoint = os.environ.get("FORECAST_S3_ENDPOINT", "").strip()
    if not ENDPOINT_FORM.fullmatch(endpoint):
        raise ValueError(f"FORECAST_S3_ENDPOINT={endpoint!r}: expected http(s)://host:port, e.g. http://127.0.0.1:9000")
    return endpoint


def spark_config() -> dict[str, str]:
    """Spark settings for one session per run process: local mode, or a standalone cluster when SPARK_MASTER
    names one (the run process is then the driver; executors reach it at SPARK_DRIVER_HOST)."""
    driver_host = os.environ.get("SPARK_DRIVER_HOST", "127.0.0.1")
    config = {
        "spark.master": spark_master(),
        "spark.app.name": "forecast_assets",
        # The full random-forest grid (maxDepth 15) dies on Spark's default 1g driver.
        "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "6g"),
        "spark.sql.shuffle.partitions": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": os.environ.get("SPARK_LOG_LEVEL", "WARN"),  # Spark's own console: warnings and errors
        "spark.driver.host": driver_host,
        "spark.driver.bindAddress": "127.0.0.1" if driver_host == "127.0.0.1" else "0.0.0.0",
        "spark.sql.sources.partitionOverwriteMode": "static",
        "spark.sql.parquet.compression.codec": "snappy",
        "spark.sql.execution.arrow.pyspark.enabled": "true",  # validated pandas rows -> Spark in one batch
    }
    for variable, key in (("SPARK_EXECUTOR_MEMORY", "spark.executor.memory"), ("SPARK_CORES_MAX", "spark.cores.max")):
        if os.environ.get(variable):
            config[key] = os.environ[variable]
    if storage_kind() == "minio":
        config.update(s3a_config(s3_endpoint()))
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
    if jars := s3a_jars():
        config["spark.jars"] = jars
    return config


def s3a_jars() -> str:
    """FORECAST_S3A_JARS: comma-separated jar paths, or a folder of jars (the Docker images' /opt/s3a-jars)."""
    jars = os.environ.get("FORECAST_S3A_JARS", "").strip()
    if jars and Path(jars).is_dir():
        return ",".join(str(p) for p in sorted(Path(jars).glob("*.jar")))
    return jars


def warehouse_config() -> dict:
    """Keyword arguments for the Warehouse resource: a folder, or MinIO through dagster-aws's S3Resource."""
    if storage_kind() == "local":
        return {"root_uri": "file://" + warehouse_root()}
    s3_endpoint()  # a clear error now rather than a confusing one from boto3 later
    return {
        "root_uri": "s3a://",
        "endpoint_url": dg.EnvVar("FORECAST_S3_ENDPOINT"),
        "aws_access_key_id": dg.EnvVar("AWS_ACCESS_KEY_ID"),
        "aws_secret_access_key": dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        "region_name": S3_REGION,
        "max_attempts": 2,
    }


# -- automation ------------------------------------------------------------------------------------
def schedule_timezone() -> str:
    return os.environ.get("FORECAST_TIMEZONE", "UTC")


def automation_running_by_default() -> bool:
    """Schedules and sensors start RUNNING when FORECAST_AUTOMATION=running (the docker-compose deployment);
    otherwise they start STOPPED and are turned on in the UI."""
    return os.environ.get("FORECAST_AUTOMATION", "stopped").strip().lower() == "running"


def forecast_deadline_hour() -> int:
    """The hour (FORECAST_TIMEZONE) of Monday by which the weekly run must have refreshed production_model and
    sales_forecast; later, the UI marks them overdue (FORECAST_DEADLINE_HOUR, default 12)."""
    text = os.environ.get("FORECAST_DEADLINE_HOUR", "12").strip()
    if not text.isdigit() or not 7 <= int(text) <= 23:
        raise ValueError(f"FORECAST_DEADLINE_HOUR={text!r}: expected an hour after the 06:00 run, 7 to 23")
    return int(text)


def asset_owners() -> list[str]:
    """Owners of every asset, shown in the UI: e-mail addresses or team:name (FORECAST_OWNERS, comma-separated)."""
    owners = [o.strip() for o in os.environ.get("FORECAST_OWNERS", "team:forecasting").split(",") if o.strip()]
    for owner in owners:
        if not (owner.startswith("team:") or re.fullmatch(r"[^@\s]+@[^@\s]+", owner)):
            raise ValueError(f"FORECAST_OWNERS: {owner!r} is neither an e-mail address nor team:<name>")
    return owners


def source_url() -> str | None:
    """Where the code is browsed (FORECAST_SOURCE_URL, e.g. https://github.com/org/forecast_assets): the UI's
    code links then open there at FORECAST_SOURCE_BRANCH (default main) instead of the local file."""
    return os.environ.get("FORECAST_SOURCE_URL", "").strip() or None


def source_branch() -> str:
    return os.environ.get("FORECAST_SOURCE_BRANCH", "main").strip() or "main"


def drift_retrain_after() -> int:
    """Consecutive drifted scores before a drift-triggered retraining (debounce)."""
    return int(os.environ.get("FORECAST_DRIFT_RETRAIN_AFTER", "1"))


def drift_cooldown_hours() -> float:
    """No second drift-triggered retraining within this many hours."""
    return float(os.environ.get("FORECAST_DRIFT_COOLDOWN_HOURS", "24"))


def drift_needs_worse_accuracy() -> bool:
    """Retrain on drift only when forecast_accuracy also finds the champion worse than the best baseline or the
    shadow in the latest scored week (FORECAST_DRIFT_NEEDS_WORSE_ACCURACY=true)."""
    value = os.environ.get("FORECAST_DRIFT_NEEDS_WORSE_ACCURACY", "false").strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"FORECAST_DRIFT_NEEDS_WORSE_ACCURACY={value!r}: expected true or false")
    return value in ("true", "1", "yes")


def full_console() -> bool:
    """FORECAST_CONSOLE=full: `make run` prints Dagster's own console lines (every event) instead of one per step."""
    return os.environ.get("FORECAST_CONSOLE", "steps").strip().lower() == "full"


def retry_delay_seconds() -> float:
    return float(os.environ.get("FORECAST_RETRY_DELAY_SECONDS", "10"))


def automated_run_config() -> dict:
    """Run config of runs that schedules and sensors request: the `full` profile unless told otherwise."""
    profile = os.environ.get("FORECAST_PROFILE", "full")
    training = {"profile": profile}
    if os.environ.get("FORECAST_CV_FOLDS"):
        training["cv_folds"] = int(os.environ["FORECAST_CV_FOLDS"])
    ops = {
        name: {"config": training}
        for name in ("random_forest_model", "linear_regression_model", "gradient_boosting_model")
    }
    if os.environ.get("FORECAST_HOLDOUT_WEEKS"):
        ops["features"] = {"config": {"holdout_weeks": int(os.environ["FORECAST_HOLDOUT_WEEKS"])}}
    if os.environ.get("FORECAST_MIN_IMPROVEMENT"):
        ops["model_comparison"] = {"config": {"min_improvement": float(os.environ["FORECAST_MIN_IMPROVEMENT"])}}
    return {"ops": ops}


def git_commit() -> str | None:
    """The code's commit for the promotion ledger, where the image has no .git folder (FORECAST_GIT_COMMIT)."""
    return os.environ.get("FORECAST_GIT_COMMIT") or None


def tracking_config() -> dict:
    """Keyword arguments for MlflowTracking: off unless MLFLOW_TRACKING_URI is set (then read through dg.EnvVar:
    the URI may carry credentials)."""
    if not os.environ.get("MLFLOW_TRACKING_URI", "").strip():
        return {}
    return {
        "tracking_uri": dg.EnvVar("MLFLOW_TRACKING_URI"),
        "experiment": os.environ.get("FORECAST_MLFLOW_EXPERIMENT", "forecast_assets"),
        "registered_model": os.environ.get("FORECAST_MLFLOW_MODEL", "forecast_assets_production_model"),
        "ui_url": os.environ.get("FORECAST_MLFLOW_UI_URL", ""),
    }


def notification_config() -> dict:
    """Keyword arguments for the Notifier: channel log (default), smtp or webhook."""
    channel = os.environ.get("FORECAST_NOTIFY", "log")
    config: dict = {
        "channel": channel,
        "webserver_url": os.environ.get("DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000"),
    }
    if channel == "smtp":
        config.update(
            smtp_host=os.environ.get("FORECAST_SMTP_HOST", "127.0.0.1"),
            smtp_port=int(os.environ.get("FORECAST_SMTP_PORT", "25")),
            smtp_user=os.environ.get("FORECAST_SMTP_USER", ""),
            smtp_password=dg.EnvVar("FORECAST_SMTP_PASSWORD") if os.environ.get("FORECAST_SMTP_PASSWORD") else "",
            mail_from=os.environ.get("FORECAST_MAIL_FROM", "forecast-assets@localhost"),
            mail_to=os.environ.get("FORECAST_MAIL_TO", "ml-team@localhost"),
        )
    elif channel == "webhook":
        config["webhook_url"] = dg.EnvVar("FORECAST_WEBHOOK_URL")
    return config
