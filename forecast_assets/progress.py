"""The console of a run (`make run`, `dagster job execute`, the run workers of `make dev`): one line when a step
starts and one when it ends with its time, the assets' own messages (the CV progress among them), warnings and
errors. Dagster's engine events (inputs loaded, outputs handled, ...) stay in the UI's event log, where every
event is kept whatever the console shows.

It is the Definitions' `console` logger; a run uses it when its run config names it (`loggers: {console: {}}`,
which `make run` passes: `python -m forecast_assets.cli run-config`). Runs without a `loggers` section (the UI,
the schedule, `FORECAST_CONSOLE=full make run`) print Dagster's own console lines."""

import logging
import sys
from datetime import datetime

import dagster as dg

# Run-level events never reach a run's loggers (measured): the CLI's summary and exit code say how it ended.
SHOWN_EVENTS = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_UP_FOR_RETRY"}


def progress_line(record: logging.LogRecord, minimum: int = logging.INFO) -> str | None:
    """The console line for a record the run's log manager emits, or None to leave it to the event log."""
    meta = getattr(record, "dagster_meta", None) or {}
    event = meta.get("dagster_event")
    step = meta.get("step_key") or "run"
    if event is not None:
        kind = event.event_type_value
        if kind not in SHOWN_EVENTS:
            return None
        if kind == "STEP_START":
            text = "started"
        elif kind == "STEP_SUCCESS":
            text = f"done in {event.event_specific_data.duration_ms / 1000:.1f} s"
        else:  # STEP_FAILURE, STEP_UP_FOR_RETRY
            error = getattr(event.event_specific_data, "error", None)
            while error is not None and error.cause is not None:  # the user's error, not Dagster's wrapper
                error = error.cause
            first = (error.message.strip().splitlines() or [""])[0] if error else ""
            text = ("FAILED: " if kind == "STEP_FAILURE" else "will retry: ") + first[:300]
    elif record.levelno >= minimum:
        text = meta.get("orig_message", record.getMessage())
        if record.levelno >= logging.WARNING:
            text = f"{record.levelname}: {text}"
    else:
        return None
    return f"{datetime.fromtimestamp(record.created):%H:%M:%S}  {step:<26} {text}"


class _ProgressHandler(logging.StreamHandler):
    minimum = logging.INFO

    def emit(self, record: logging.LogRecord) -> None:
        line = progress_line(record, self.minimum)
        if line is not None:
            self.stream.write(line + "\n")
            self.flush()


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, default_value="INFO", description="the lowest level of the assets' messages"),
        "name": dg.Field(str, default_value="forecast_assets"),
    },
    description="One line per step start and end with its time, the assets' messages, warnings and errors.",
)
def progress_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLoggerClass()(init_context.logger_config["name"], level=logging.DEBUG)  # events are DEBUG
    handler = _ProgressHandler(sys.stdout)
    handler.minimum = logging.getLevelName(init_context.logger_config["log_level"].upper())
    logger.addHandler(handler)
    return logger
