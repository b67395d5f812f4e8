"""Settings: the environment, read once into one `Settings` object when the definitions are built.

`Settings.from_env()` is the one place that reads the environment (definitions.py calls it in its lazy
`@dg.definitions` loader); tests build `Settings(...)` directly. Secrets are not held here: they stay
`dg.EnvVar`s that Dagster resolves when a resource is initialized.

The variables: `VARIABLES` maps each to its `Settings` field, whose comment says what it is; `.env.example`
lists every one with its default. Unset or empty means the default: the embedded default (a `./warehouse`
folder, Spark `local[*]`, automation stopped). Secrets (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
MLFLOW_TRACKING_URI, FORECAST_SMTP_PASSWORD, FORECAST_WEBHOOK_URL) are read by dg.EnvVar, and by Spark's S3A from
the run process's environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
LOG4J2_CONFIG = Path(__file__).resolve().parent / "resources" / "log4j2.properties"  # Spark's console levels
HISTORY_START_VARIABLE = "FORECAST_HISTORY_START"
# The regressors a run can tune (assets/training.py): the original design's three and XGBoost, which replaces
# Spark's GBT by default (bench/RESULTS.md: as accurate or better, in less time).
CANDIDATE_NAMES = ("random_forest", "linear_regression", "gradient_boosting", "xgboost")
DEFAULT_CANDIDATES = ("random_forest", "linear_regression", "xgboost")
DEFAULT_HISTORY_START = date(2023, 1, 2)  # a Monday; the demo generator and the benchmark data start there

SPARK_MASTER_FORM = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|spark://[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*")
ENDPOINT_FORM = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?/?")
OWNER_FORM = re.compile(r"team:\S+|[^@\s]+@[^@\s]+")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
KINDS = {  # a field's type -> what a malformed value is not, and what is expected instead
    "date": ("a date", f"YYYY-MM-DD, e.g. {DEFAULT_HISTORY_START}"),
    "int": ("a whole number", "e.g. 4"),
    "int | None": ("a whole number", "e.g. 3"),
    "float": ("a number", "e.g. 10 or 0.5"),
    "float | None": ("a number", "e.g. 0.02"),
}

# Settings field -> the variable it is read from (Settings.from_env). Fields not here have no variable.
VARIABLES = {
    "storage": "FORECAST_STORAGE",
    "warehouse": "FORECAST_WAREHOUSE",
    "s3_endpoint": "FORECAST_S3_ENDPOINT",
    "spark_master": "SPARK_MASTER",
    "spark_driver_host": "SPARK_DRIVER_HOST",
    "spark_driver_memory": "SPARK_DRIVER_MEMORY",
    "spark_executor_memory": "SPARK_EXECUTOR_MEMORY",
    "spark_cores_max": "SPARK_CORES_MAX",
    "spark_shuffle_partitions": "SPARK_SHUFFLE_PARTITIONS",
    "spark_log_level": "SPARK_LOG_LEVEL",
    "s3a_jars": "FORECAST_S3A_JARS",
    "history_start": HISTORY_START_VARIABLE,
    "timezone": "FORECAST_TIMEZONE",
    "automation_running": "FORECAST_AUTOMATION",
    "deadline_hour": "FORECAST_DEADLINE_HOUR",
    "owners": "FORECAST_OWNERS",
    "source_url": "FORECAST_SOURCE_URL",
    "source_branch": "FORECAST_SOURCE_BRANCH",
    "retry_delay_seconds": "FORECAST_RETRY_DELAY_SECONDS",
    "drift_retrain_after": "FORECAST_DRIFT_RETRAIN_AFTER",
    "drift_cooldown_hours": "FORECAST_DRIFT_COOLDOWN_HOURS",
    "drift_needs_worse_accuracy": "FORECAST_DRIFT_NEEDS_WORSE_ACCURACY",
    "console_full": "FORECAST_CONSOLE",
    "profile": "FORECAST_PROFILE",
    "target": "FORECAST_TARGET",
    "candidates": "FORECAST_CANDIDATES",
    "cv_folds": "FORECAST_CV_FOLDS",
    "holdout_weeks": "FORECAST_HOLDOUT_WEEKS",
    "training_origins": "FORECAST_TRAINING_ORIGINS",
    "holidays_country": "FORECAST_HOLIDAYS_COUNTRY",
    "statistical": "FORECAST_STATISTICAL",
    "min_improvement": "FORECAST_MIN_IMPROVEMENT",
    "columns": "FORECAST_COLUMNS",
    "locale": "FORECAST_LOCALE",
    "date_format": "FORECAST_DATE_FORMAT",
    "sheet": "FORECAST_SHEET",
    "mlflow": "MLFLOW_TRACKING_URI",
    "mlflow_experiment": "FORECAST_MLFLOW_EXPERIMENT",
    "mlflow_model": "FORECAST_MLFLOW_MODEL",
    "mlflow_ui_url": "FORECAST_MLFLOW_UI_URL",
    "notify": "FORECAST_NOTIFY",
    "webserver_url": "DAGSTER_WEBSERVER_URL",
    "smtp_host": "FORECAST_SMTP_HOST",
    "smtp_port": "FORECAST_SMTP_PORT",
    "smtp_user": "FORECAST_SMTP_USER",
    "smtp_password": "FORECAST_SMTP_PASSWORD",
    "mail_from": "FORECAST_MAIL_FROM",
    "mail_to": "FORECAST_MAIL_TO",
}


def _flag(variable: str, text: str, on: str = "true", off: str = "false") -> bool:
    value = text.strip().lower()
    if value in (on, *TRUE):
        return True
    if value in (off, *FALSE):
        return False
    raise ValueError(f"{variable}={text!r}: expected {on} or {off}")


@dataclass(frozen=True)
class Settings:
    """Everything the definitions depend on, validated when built. The defaults are the embedded default:
    a local warehouse, Spark local[*], automation stopped."""

    storage: str = "local"  # local | minio
    warehouse: str = "warehouse"  # the local warehouse folder
    s3_endpoint: str = ""  # MinIO, e.g. http://127.0.0.1:9000 (storage minio)
    spark_master: str = "local[*]"
    spark_driver_host: str = "127.0.0.1"  # where executors reach the driver (the container name in compose)
    spark_driver_memory: str = "6g"  # the full random-forest grid (maxDepth 15) dies on Spark's default 1g
    spark_executor_memory: str = ""  # on a cluster (Spark's default 1g)
    spark_cores_max: str = ""  # on a cluster: cores one run may take (default all)
    spark_shuffle_partitions: int = 4
    spark_log_level: str = "WARN"  # Spark's own console: warnings and errors
    s3a_jars: str = ""  # jar paths (comma-separated) or a folder of jars (the Docker images' /opt/s3a-jars)
    history_start: date = DEFAULT_HISTORY_START  # the first weekly partition: the Monday of this day's week
    timezone: str = "UTC"  # of the schedule and the freshness deadline
    automation_running: bool = False  # schedules and sensors start RUNNING (the docker-compose deployment)
    deadline_hour: int = 12  # Monday hour by which production_model and sales_forecast are overdue
    owners: tuple[str, ...] = ("team:forecasting",)
    source_url: str = ""  # where the UI's code links open (default: the local files)
    source_branch: str = "main"
    retry_delay_seconds: float = 10.0  # a step's first retry; the second waits twice as long
    drift_retrain_after: int = 1  # consecutive drifted scores before a drift-triggered retraining (debounce)
    drift_cooldown_hours: float = 24.0  # no second drift-triggered retraining within this many hours
    drift_needs_worse_accuracy: bool = False  # retrain on drift only when realized accuracy is worse too
    console_full: bool = False  # make run prints Dagster's every event instead of one line per step
    profile: str = "full"  # the grids of automated runs: full (the original design's) or small
    target: str = "valor_total"  # what automated runs forecast: valor_total (revenue) or quantidade (units)
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES  # the regressors the graph tunes and compares
    cv_folds: int | None = None
    holdout_weeks: int | None = None
    training_origins: str = "auto"  # auto | weekly | daily: the training rows' forecast origins
    holidays_country: str = ""  # public holidays as features (BR, BR-SP, GB-SCT: the holidays package); none
    statistical: tuple[str, ...] | None = None  # the statistical candidates of automated runs (none: ()); the default
    min_improvement: float | None = None
    # How automated runs (and the new-files sensor) read landed files: raw_sales config columns, locale,
    # date_format, sheet (jobs.read_options checks them)
    columns: str = ""  # role=column pairs, e.g. produto=sku,data_venda=order_date
    locale: str = ""  # e.g. pt_BR: decimal comma, day-first dates
    date_format: str = ""  # e.g. %d/%m/%Y
    sheet: str = ""  # a workbook's sales sheet
    mlflow: bool = False  # MLFLOW_TRACKING_URI is set: log to MLflow (the URI itself stays a dg.EnvVar)
    mlflow_experiment: str = "forecast_assets"
    mlflow_model: str = "forecast_assets_production_model"
    mlflow_ui_url: str = ""
    notify: str = "log"  # log | smtp | webhook
    webserver_url: str = "http://127.0.0.1:3000"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: bool = False  # FORECAST_SMTP_PASSWORD is set (read through dg.EnvVar)
    mail_from: str = "forecast-assets@localhost"
    mail_to: str = "ml-team@localhost"
    today: date = field(default_factory=lambda: datetime.now(UTC).date(), compare=False, repr=False)

    def __post_init__(self):
        def refuse(name: str, value, expected: str):
            raise ValueError(f"{VARIABLES.get(name, name)}={value!r}: {expected}")

        if self.storage not in ("local", "minio"):
            refuse("storage", self.storage, "expected local or minio")
        if self.storage == "minio" and not ENDPOINT_FORM.fullmatch(self.s3_endpoint):
            refuse("s3_endpoint", self.s3_endpoint, "expected http(s)://host:port, e.g. http://127.0.0.1:9000")
        if not SPARK_MASTER_FORM.fullmatch(self.spark_master):
            refuse("spark_master", self.spark_master, "expected local[*], local[N] or spark://host:port")
        if self.history_start > self.today:
            raise ValueError(
                f"{HISTORY_START_VARIABLE}={self.history_start} is in the future (today is {self.today}); expected "
                "the first day of your sales history"
            )
        if not 7 <= self.deadline_hour <= 23:
            refuse("deadline_hour", self.deadline_hour, "expected an hour after the 06:00 run, 7 to 23")
        for owner in self.owners:
            if not OWNER_FORM.fullmatch(owner):
                raise ValueError(f"FORECAST_OWNERS: {owner!r} is neither an e-mail address nor team:<name>")
        if self.profile not in ("full", "small"):
            refuse("profile", self.profile, "expected full or small")
        if self.target not in ("valor_total", "quantidade"):
            refuse("target", self.target, "expected valor_total (revenue) or quantidade (units sold)")
        if self.training_origins not in ("auto", "weekly", "daily"):
            refuse("training_origins", self.training_origins, "expected auto, weekly or daily")
        if self.holidays_country:
            from forecast_assets.ml.features import check_holidays_country

            try:
                check_holidays_country(self.holidays_country)
            except ValueError as error:
                refuse("holidays_country", self.holidays_country, str(error).partition(": ")[2])
        if self.statistical is not None:
            from forecast_assets.ml.statistical import MODELS

            if [n for n in self.statistical if n not in MODELS] or len(set(self.statistical)) < len(self.statistical):
                refuse(
                    "statistical",
                    ",".join(self.statistical),
                    f"expected none, or some of {', '.join(MODELS)}, each once, separated by commas",
                )
        unknown = [c for c in self.candidates if c not in CANDIDATE_NAMES]
        if unknown or not self.candidates or len(set(self.candidates)) < len(self.candidates):
            refuse(
                "candidates",
                ",".join(self.candidates),
                f"expected one or more of {', '.join(CANDIDATE_NAMES)}, each once, separated by commas",
            )
        if self.notify not in ("log", "smtp", "webhook"):
            refuse("notify", self.notify, "expected log, smtp or webhook")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, today: date | None = None) -> Settings:
        """The settings of `environ` (default os.environ): unset or empty variables take the defaults; a
        malformed value is refused with a message that names the variable."""
        environ = os.environ if environ is None else environ
        values: dict = {"today": today} if today else {}
        types = {f.name: f.type for f in fields(cls)}
        for name, variable in VARIABLES.items():
            text = environ.get(variable, "").strip()
            if not text:
                continue
            kind = types[name]
            try:
                if name == "history_start":
                    values[name] = date.fromisoformat(text)
                elif name == "automation_running":
                    values[name] = _flag(variable, text, on="running", off="stopped")
                elif name == "console_full":
                    values[name] = _flag(variable, text, on="full", off="steps")
                elif name in ("mlflow", "smtp_password"):
                    values[name] = True
                elif kind == "bool":
                    values[name] = _flag(variable, text)
                elif kind in ("int", "int | None"):
                    values[name] = int(text)
                elif kind in ("float", "float | None"):
                    values[name] = float(text)
                elif name in ("owners", "candidates"):
                    values[name] = tuple(o.strip() for o in text.split(",") if o.strip())
                elif name == "statistical":
                    names = tuple(o.strip().lower() for o in text.split(",") if o.strip())
                    values[name] = () if names == ("none",) else names
                elif name in ("storage", "notify", "profile", "target", "training_origins"):
                    values[name] = text.lower()
                elif name == "holidays_country":
                    values[name] = text.upper()
                else:
                    values[name] = text
            except ValueError as error:
                if str(error).startswith(variable):
                    raise
                what, expected = KINDS.get(kind, (kind, kind))
                raise ValueError(f"{variable}={text!r} is not {what}; expected {expected}") from None
        return cls(**values)

    # -- derived -------------------------------------------------------------------------------------
    @property
    def first_week(self) -> date:
        """The first weekly partition: the Monday of history_start's week."""
        return self.history_start - timedelta(days=self.history_start.weekday())

    @property
    def warehouse_root(self) -> str:
        return str(Path(self.warehouse).resolve())

    def spark_config(self) -> dict[str, str]:
        """Spark settings for one session per run process: local mode, or a standalone cluster when
        spark_master names one (the run process is then the driver; executors reach it at spark_driver_host)."""
        config = {
            "spark.master": self.spark_master,
            "spark.app.name": "forecast_assets",
            "spark.driver.memory": self.spark_driver_memory,
            "spark.sql.shuffle.partitions": str(self.spark_shuffle_partitions),
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.log.level": self.spark_log_level,
            # Per-logger levels: no warnings a user cannot act on (resources/log4j2.properties).
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J2_CONFIG.as_uri()}",
            "spark.driver.host": self.spark_driver_host,
            "spark.driver.bindAddress": "127.0.0.1" if self.spark_driver_host == "127.0.0.1" else "0.0.0.0",
            "spark.sql.sources.partitionOverwriteMode": "static",
            "spark.sql.parquet.compression.codec": "snappy",
            "spark.sql.execution.arrow.pyspark.enabled": "true",  # validated pandas rows -> Spark in one batch
        }
        if self.spark_executor_memory:
            config["spark.executor.memory"] = self.spark_executor_memory
        if self.spark_cores_max:
            config["spark.cores.max"] = self.spark_cores_max
        if self.storage == "minio":
            config.update(self.s3a_config())
        return config

    def s3a_config(self, endpoint: str | None = None) -> dict[str, str]:
        """S3A settings for MinIO. Credentials are not in here: S3A reads them from the environment."""
        endpoint = endpoint or self.s3_endpoint
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
        if jars := self.jars():
            config["spark.jars"] = jars
        return config

    def jars(self) -> str:
        if self.s3a_jars and Path(self.s3a_jars).is_dir():
            return ",".join(str(p) for p in sorted(Path(self.s3a_jars).glob("*.jar")))
        return self.s3a_jars

    def warehouse_config(self) -> dict:
        """Keyword arguments for the Warehouse resource: a folder, or MinIO through dagster-aws's S3Resource."""
        if self.storage == "local":
            return {"root_uri": "file://" + self.warehouse_root}
        from dagster_aws.s3 import S3Resource

        s3 = S3Resource(
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
            region_name=S3_REGION,
            max_attempts=2,
        )
        return {"root_uri": "s3a://", "s3": s3}

    def tracking_config(self) -> dict:
        """Keyword arguments for MlflowTracking: off unless MLFLOW_TRACKING_URI is set (then read through
        dg.EnvVar: the URI may carry credentials)."""
        if not self.mlflow:
            return {}
        return {
            "tracking_uri": dg.EnvVar("MLFLOW_TRACKING_URI"),
            "experiment": self.mlflow_experiment,
            "registered_model": self.mlflow_model,
            "ui_url": self.mlflow_ui_url,
        }

    def notification_config(self) -> dict:
        """Keyword arguments for the Notifier: channel log (default), smtp or webhook."""
        config: dict = {"channel": self.notify, "webserver_url": self.webserver_url}
        if self.notify == "smtp":
            config.update(
                smtp_host=self.smtp_host,
                smtp_port=self.smtp_port,
                smtp_user=self.smtp_user,
                smtp_password=dg.EnvVar("FORECAST_SMTP_PASSWORD") if self.smtp_password else "",
                mail_from=self.mail_from,
                mail_to=self.mail_to,
            )
        elif self.notify == "webhook":
            config["webhook_url"] = dg.EnvVar("FORECAST_WEBHOOK_URL")
        return config
