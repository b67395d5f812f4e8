"""Settings: the environment, read once into one `Settings` object when the definitions are built.

`Settings` is a pydantic-settings model: each field names the variable it is read from (`validation_alias`) and
says what it is (`description`); `.env.example` lists every variable with its default. `Settings.from_env()` is
the one place that reads the environment (definitions.py calls it in its lazy `@dg.definitions` loader); tests
build `Settings(...)` directly, which reads nothing. Unset or empty means the default: the embedded default (a
`./warehouse` folder, Spark `local[*]`, automation stopped). A malformed value is refused in one line naming the
variable and what is expected.

Secrets are not held here: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, MLFLOW_TRACKING_URI, FORECAST_SMTP_PASSWORD
and FORECAST_WEBHOOK_URL stay `dg.EnvVar`s that Dagster resolves when a resource is initialized (and Spark's S3A
reads the AWS pair from the run process's environment); `mlflow` and `smtp_password` only record that they are set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

# The original design's buckets; the local warehouse uses the same names as folders.
LANDING_BUCKET = "raw-data"
PROCESSED_BUCKET = "processed-data"
DATA_BUCKET = "ml-data"
MODELS_BUCKET = "ml-models"
EXPERIMENTS_BUCKET = "ml-experiments"
BUCKETS = (LANDING_BUCKET, PROCESSED_BUCKET, DATA_BUCKET, MODELS_BUCKET, EXPERIMENTS_BUCKET)

S3_REGION = "us-east-1"
HISTORY_START_VARIABLE = "FORECAST_HISTORY_START"
# The regressors a run can tune (training/): the original design's three and XGBoost, which replaces Spark's GBT
# by default (bench/RESULTS.md: as accurate or better, in less time).
CANDIDATE_NAMES = ("random_forest", "linear_regression", "gradient_boosting", "xgboost")
DEFAULT_CANDIDATES = ("random_forest", "linear_regression", "xgboost")
DEFAULT_HISTORY_START = date(2023, 1, 2)  # a Monday; the demo generator and the benchmark data start there

SPARK_MASTER_FORM = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|spark://[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*")
ENDPOINT_FORM = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?/?")
OWNER_FORM = re.compile(r"team:\S+|[^@\s]+@[^@\s]+")
# pydantic's error type -> what a malformed value is not, and what is expected instead
MALFORMED = {
    "date_from_datetime_parsing": ("a date", f"YYYY-MM-DD, e.g. {DEFAULT_HISTORY_START}"),
    "date_parsing": ("a date", f"YYYY-MM-DD, e.g. {DEFAULT_HISTORY_START}"),
    "int_parsing": ("a whole number", "e.g. 4"),
    "int_from_float": ("a whole number", "e.g. 4"),
    "float_parsing": ("a number", "e.g. 10 or 0.5"),
}


def _text(transform: Callable[[str], Any]) -> BeforeValidator:
    """Applies `transform` to a value given as text (the environment's), after trimming it."""
    return BeforeValidator(lambda value: transform(value.strip()) if isinstance(value, str) else value)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _switch(on: str, off: str) -> BeforeValidator:
    """A flag spelt `on`/`off` (or true/false, 1/0, yes/no); anything else is refused naming the variable."""

    def read(value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text in (on, "true", "1", "yes"):
            return True
        if text in (off, "false", "0", "no"):
            return False
        raise ValueError(f"{variable(info.field_name)}={value.strip()!r}: expected {on} or {off}")

    return BeforeValidator(read)


def _choice(*options: str) -> Any:
    return Annotated[Literal[options], _text(str.lower)]


Names = Annotated[tuple[str, ...], NoDecode, _text(_names)]
Set = Annotated[bool, _text(bool)]  # a secret's variable is set; its value stays in the environment


def _variable(name: str, default: Any = ..., description: str = "", **kwargs) -> Any:
    return Field(default, validation_alias=name, description=description, **kwargs)


class Settings(BaseSettings):
    """Everything the definitions depend on, validated when built. The defaults are the embedded default:
    a local warehouse, Spark local[*], automation stopped."""

    model_config = SettingsConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, env_ignore_empty=True, extra="forbid"
    )

    # -- storage and compute
    storage: _choice("local", "minio") = _variable("FORECAST_STORAGE", "local", "local (a folder) or minio")
    warehouse: str = _variable("FORECAST_WAREHOUSE", "warehouse", "the local warehouse folder")
    s3_endpoint: str = _variable("FORECAST_S3_ENDPOINT", "", "MinIO, e.g. http://127.0.0.1:9000 (storage minio)")
    spark_master: str = _variable("SPARK_MASTER", "local[*]", "local[*], local[N] or spark://host:port")
    spark_driver_host: str = _variable(
        "SPARK_DRIVER_HOST", "127.0.0.1", "where executors reach the driver (the container name in compose)"
    )
    spark_driver_memory: str = _variable(
        "SPARK_DRIVER_MEMORY", "6g", "the full random-forest grid (maxDepth 15) dies on Spark's default 1g"
    )
    spark_executor_memory: str = _variable("SPARK_EXECUTOR_MEMORY", "", "on a cluster (Spark's default 1g)")
    spark_cores_max: str = _variable("SPARK_CORES_MAX", "", "on a cluster: cores one run may take (default all)")
    spark_shuffle_partitions: int = _variable("SPARK_SHUFFLE_PARTITIONS", 4)
    spark_log_level: str = _variable("SPARK_LOG_LEVEL", "WARN", "Spark's own console: warnings and errors")
    s3a_jars: str = _variable(
        "FORECAST_S3A_JARS", "", "jar paths (comma-separated) or a folder of jars (the images' /opt/s3a-jars)"
    )
    # -- the calendar and the automation
    history_start: date = _variable(
        HISTORY_START_VARIABLE, DEFAULT_HISTORY_START, "the first weekly partition: the Monday of this day's week"
    )
    timezone: str = _variable("FORECAST_TIMEZONE", "UTC", "of the schedule and the freshness deadline")
    automation_running: Annotated[bool, _switch("running", "stopped")] = _variable(
        "FORECAST_AUTOMATION", False, "schedules and sensors start RUNNING (the docker-compose deployment)"
    )
    deadline_hour: int = _variable(
        "FORECAST_DEADLINE_HOUR", 12, "Monday hour by which production_model and sales_forecast are overdue"
    )
    owners: Names = _variable("FORECAST_OWNERS", ("team:forecasting",), "e-mail addresses or team:<name>")
    source_url: str = _variable("FORECAST_SOURCE_URL", "", "where the UI's code links open (default: local files)")
    source_branch: str = _variable("FORECAST_SOURCE_BRANCH", "main")
    retry_delay_seconds: float = _variable(
        "FORECAST_RETRY_DELAY_SECONDS", 10.0, "a step's first retry; the second waits twice as long"
    )
    drift_retrain_after: int = _variable(
        "FORECAST_DRIFT_RETRAIN_AFTER", 1, "consecutive drifted scores before a drift-triggered retraining"
    )
    drift_cooldown_hours: float = _variable(
        "FORECAST_DRIFT_COOLDOWN_HOURS", 24.0, "no second drift-triggered retraining within this many hours"
    )
    drift_needs_worse_accuracy: Annotated[bool, _switch("true", "false")] = _variable(
        "FORECAST_DRIFT_NEEDS_WORSE_ACCURACY", False, "retrain on drift only when realized accuracy is worse too"
    )
    console_full: Annotated[bool, _switch("full", "steps")] = _variable(
        "FORECAST_CONSOLE", False, "make run prints Dagster's every event instead of one line per step"
    )
    # -- what automated runs train (the assets' config of the schedule and the sensors: jobs.py)
    profile: _choice("full", "small") = _variable(
        "FORECAST_PROFILE", "full", "the grids of automated runs: the original design's, or small"
    )
    target: _choice("valor_total", "quantidade") = _variable(
        "FORECAST_TARGET", "valor_total", "what automated runs forecast: revenue or units"
    )
    candidates: Names = _variable("FORECAST_CANDIDATES", DEFAULT_CANDIDATES, "the regressors tuned and compared")
    cv_folds: int | None = _variable("FORECAST_CV_FOLDS", None)
    tuning: _choice("auto", "search", "refit") = _variable(
        "FORECAST_TUNING", "auto", "automated runs: search the grids, refit at the last search's parameters, or auto"
    )
    retune_weeks: int = _variable("FORECAST_RETUNE_WEEKS", 4, "auto: weeks of new data after which grids are searched")
    holdout_weeks: int | None = _variable("FORECAST_HOLDOUT_WEEKS", None)
    training_origins: _choice("auto", "weekly", "daily") = _variable(
        "FORECAST_TRAINING_ORIGINS", "auto", "the training rows' forecast origins"
    )
    holidays_country: Annotated[str, _text(str.upper)] = _variable(
        "FORECAST_HOLIDAYS_COUNTRY", "", "public holidays as features (BR, BR-SP, GB-SCT: the holidays package)"
    )
    statistical: Annotated[
        tuple[str, ...] | None, NoDecode, _text(lambda t: () if t.lower() == "none" else _names(t.lower()))
    ] = _variable("FORECAST_STATISTICAL", None, "the statistical candidates (none: no statistical fits)")
    min_improvement: float | None = _variable("FORECAST_MIN_IMPROVEMENT", None)
    # -- how automated runs (and the new-files sensor) read landed files: raw_sales's config (jobs.read_options)
    columns: str = _variable("FORECAST_COLUMNS", "", "role=column pairs, e.g. produto=sku,data_venda=order_date")
    locale: str = _variable("FORECAST_LOCALE", "", "e.g. pt_BR: decimal comma, day-first dates")
    date_format: str = _variable("FORECAST_DATE_FORMAT", "", "e.g. %d/%m/%Y")
    sheet: str = _variable("FORECAST_SHEET", "", "a workbook's sales sheet")
    # -- tracking and notifications
    mlflow: Set = _variable("MLFLOW_TRACKING_URI", False, "log to MLflow (the URI itself stays a dg.EnvVar)")
    mlflow_experiment: str = _variable("FORECAST_MLFLOW_EXPERIMENT", "forecast_assets")
    mlflow_model: str = _variable("FORECAST_MLFLOW_MODEL", "forecast_assets_production_model")
    mlflow_ui_url: str = _variable("FORECAST_MLFLOW_UI_URL", "")
    notify: _choice("log", "smtp", "webhook") = _variable("FORECAST_NOTIFY", "log")
    webserver_url: str = _variable("DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000")
    smtp_host: str = _variable("FORECAST_SMTP_HOST", "127.0.0.1")
    smtp_port: int = _variable("FORECAST_SMTP_PORT", 25)
    smtp_user: str = _variable("FORECAST_SMTP_USER", "")
    smtp_password: Set = _variable("FORECAST_SMTP_PASSWORD", False, "set (its value is read through dg.EnvVar)")
    mail_from: str = _variable("FORECAST_MAIL_FROM", "forecast-assets@localhost")
    mail_to: str = _variable("FORECAST_MAIL_TO", "ml-team@localhost")
    today: date = Field(default_factory=lambda: datetime.now(UTC).date(), repr=False, exclude=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **sources):
        """`Settings(...)` is its arguments and the defaults, nothing else; `from_env` adds the environment."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, today: date | None = None) -> Settings:
        """The settings of `environ` (default os.environ): unset or empty variables take the defaults; a
        malformed value is refused with one line that names the variable."""
        values = _Environment(cls, os.environ if environ is None else environ)()
        try:
            return cls(**values, **({"today": today} if today else {}))
        except ValidationError as error:
            raise ValueError("; ".join(_say(problem) for problem in error.errors())) from None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        def refuse(name: str, value, expected: str):
            raise ValueError(f"{variable(name)}={value!r}: {expected}")

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
        return self

    def __eq__(self, other: object) -> bool:  # the same settings, whatever day they were read on
        return type(other) is type(self) and self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(tuple(self.model_dump().items()))

    def replace(self, **changes) -> Settings:
        """These settings with `changes`, validated again."""
        return type(self)(**{**self.model_dump(), "today": self.today, **changes})

    # -- derived -------------------------------------------------------------------------------------
    @property
    def first_week(self) -> date:
        """The first weekly partition: the Monday of history_start's week."""
        return self.history_start - timedelta(days=self.history_start.weekday())

    @property
    def warehouse_root(self) -> str:
        return str(Path(self.warehouse).resolve())


# Settings field -> the variable it is read from (every field but `today`): what .env.example lists.
VARIABLES = {name: f.validation_alias for name, f in Settings.model_fields.items() if f.validation_alias}


def variable(name: str) -> str:
    return VARIABLES.get(name, name)


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (os.environ, or a test's): only the variables
    the fields name (never a field's bare name: the shell's COLUMNS is not FORECAST_COLUMNS), each value trimmed.
    (`_load_env_vars` is where the source reads os.environ.)"""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        named = set(VARIABLES.values())
        self.environ = {name: value.strip() for name, value in environ.items() if name in named}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self.environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _say(problem: dict) -> str:
    """One of pydantic's errors as one line naming the variable: `FORECAST_CV_FOLDS='three' is not a whole
    number; expected e.g. 4`."""
    name = variable(str(problem["loc"][0])) if problem["loc"] else ""
    value = problem.get("input")
    if problem["type"] == "value_error":  # ours (_consistent): already names the variable
        return str(problem["ctx"]["error"])
    if problem["type"] == "literal_error":
        return f"{name}={value!r}: expected {problem['ctx']['expected'].replace(chr(39), '')}"
    if problem["type"] == "bool_parsing":
        return f"{name}={value!r}: expected true or false"
    if problem["type"] in MALFORMED:
        what, expected = MALFORMED[problem["type"]]
        return f"{name}={value!r} is not {what}; expected {expected}"
    return f"{name}={value!r}: {problem['msg']}"
