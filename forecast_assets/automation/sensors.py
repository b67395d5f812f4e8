"""Sensors: newly landed sales files, drift-triggered retraining, and run notifications."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from forecast_assets.ingestion.assets import IngestionConfig
from forecast_assets.jobs import automated_run_config, ml_pipeline, read_options
from forecast_assets.landing.area import (
    DEMO_PREFIX,
    NOT_A_SALES_FORMAT,
    WeekIndex,
    list_landing,
    monday,
    parse_landed,
    quarantine_file,
    unusable,
    weeks_of,
)
from forecast_assets.landing.schema import FileProblem
from forecast_assets.partitions import weekly_partitions
from forecast_assets.resources.notifications import Notifier
from forecast_assets.resources.storage import StorageError, Warehouse
from forecast_assets.settings import Settings
from forecast_assets.training.retune import champion_fell_behind


def _range_tags(keys: list[str]) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def new_sales_files_tick(
    context: dg.SensorEvaluationContext, warehouse: Warehouse, settings: Settings
) -> dg.SensorResult:
    """One tick of new_sales_files: a run request per new or changed file version."""
    weekly = weekly_partitions(settings.first_week)
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests, problems = [], []
    complete_weeks = set(weekly.get_partition_keys())
    landing = list_landing(warehouse)
    for stored in landing.unsupported:
        if seen.get(stored.key) != stored.version:
            seen[stored.key] = stored.version
            problems.append(f"{stored.key}: {NOT_A_SALES_FORMAT}")
    problems += [f"{key!r}: skipped ({why})" for key, why in landing.unaddressable.items() if key not in seen]
    seen.update(dict.fromkeys(landing.unaddressable, ""))
    index, limits = WeekIndex(warehouse), IngestionConfig().limits(first_day=settings.first_week)
    run_config, options = automated_run_config(settings), read_options(settings)
    for stored in landing.sales:
        if stored.key.startswith(DEMO_PREFIX) or seen.get(stored.key) == stored.version:
            continue
        seen[stored.key] = stored.version  # read once, whatever happens below: the cursor always moves on
        try:
            request = _request_for(
                stored, warehouse, index, limits, weekly, complete_weeks, problems, run_config, options
            )
        except Exception as error:  # noqa: BLE001 - one file (or one storage hiccup) never stops the tick
            problems.append(f"{stored.key}: not handled ({type(error).__name__}: {str(error)[:200]})")
            continue
        if request is not None:
            requests.append(request)
    try:
        index.save([o for o in landing.sales])
    except StorageError as error:
        problems.append(f"the landing index was not saved: {error}")
    for problem in problems:
        context.log.warning(problem)
    cursor = json.dumps(seen, sort_keys=True)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    return dg.SensorResult(
        skip_reason=dg.SkipReason("; ".join(problems)[:1000] or "no new or changed sales file"), cursor=cursor
    )


def _request_for(
    stored, warehouse, index, limits, weekly, complete_weeks, problems, run_config, options
) -> dg.RunRequest | None:
    """The run for one new file version, or None (with the reason appended to problems)."""
    try:
        parsed = parse_landed(warehouse, stored, limits, options)
        if problem := unusable(parsed, limits):
            raise problem
    except FileProblem as problem:
        target = quarantine_file(warehouse, stored, problem.problem)
        problems.append(f"quarantined {stored.key} -> {target}: {problem}")
        return None
    index.record(stored, weeks_of(parsed))
    if parsed.good.empty:
        problems.append(f"{stored.key}: no usable row ({len(parsed.bad)} bad row(s)); not ingested")
        return None
    first, last = min(parsed.good["data_venda"]), max(parsed.good["data_venda"])
    window = dg.TimeWindow(  # from the Monday of the first sale: a file starting mid-week still has that week
        datetime.combine(monday(first), datetime.min.time(), UTC),
        datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC),
    )
    weeks = [k for k in weekly.get_partition_keys_in_time_window(window) if k in complete_weeks]
    if not weeks:
        problems.append(f"{stored.key}: sales {first} .. {last} fall in no complete week yet; not ingested")
        return None
    return dg.RunRequest(
        run_key=f"{stored.key}@{stored.version}",
        run_config=run_config,
        tags={**_range_tags(weeks), "forecast/trigger": "new_sales_file", "forecast/file": stored.key[:200]},
    )


def drift_retraining_tick(context: dg.SensorEvaluationContext, settings: Settings) -> dg.SensorResult:
    """One tick of drift_retraining: a run request when the new drift scores call for one."""
    state = json.loads(context.cursor) if context.cursor else {"events": None, "streak": 0, "last_retrain": None}
    found = context.instance.fetch_materializations(
        dg.AssetKey("drift_score"), limit=1000, cursor=state["events"], ascending=True
    )
    requests = []
    retrain_after, cooldown = settings.drift_retrain_after, timedelta(hours=settings.drift_cooldown_hours)
    needs_worse = settings.drift_needs_worse_accuracy
    for record in found.records:
        metadata = record.asset_materialization.metadata
        drifted = bool(metadata["drifted"].value) if "drifted" in metadata else False
        state["streak"] = state["streak"] + 1 if drifted else 0
        at = datetime.fromtimestamp(record.timestamp, UTC)
        last = datetime.fromisoformat(state["last_retrain"]) if state["last_retrain"] else None
        if state["streak"] < retrain_after:
            continue
        worse, why = champion_fell_behind(context.instance) if needs_worse else (True, "")
        if not worse:
            context.log.info(f"drift at {at:%Y-%m-%d %H:%M}, but the champion's realized accuracy is not worse: {why}")
            continue
        if last is not None and at - last < cooldown:
            context.log.info(
                f"drift at {at:%Y-%m-%d %H:%M}, but the last retraining ({last:%Y-%m-%d %H:%M}) is within the cooldown"
            )
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"drift-{record.storage_id}",
                partition_key=weekly_partitions(settings.first_week).get_last_partition_key(),
                run_config=automated_run_config(settings),
                tags={
                    "forecast/trigger": "drift",
                    "forecast/drift_score": f"{metadata['drift_score'].value:.3f}" if "drift_score" in metadata else "",
                    "forecast/drifted_columns": str(metadata["drifted_columns"].value)[:200]
                    if "drifted_columns" in metadata
                    else "",
                },
            )
        )
        state["streak"], state["last_retrain"] = 0, at.isoformat()
    state["events"] = found.cursor
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(state))
    return dg.SensorResult(
        skip_reason=f"no retraining needed (drifted streak {state['streak']})", cursor=json.dumps(state)
    )


def _production_summary(instance: dg.DagsterInstance) -> str:
    event = instance.get_latest_materialization_event(dg.AssetKey("production_model"))
    if event is None:
        return "no production model yet"
    m = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    metrics = ", ".join(
        f"{name} {m[key]:.3f}"
        for name, key in (("rmse", "holdout_rmse"), ("wape", "holdout_wape"), ("mase", "holdout_mase"))
        if key in m
    )
    return f"production model: {m.get('model')} version {m.get('version')}, holdout {metrics}"


def notify_success(context: dg.RunStatusSensorContext, notifier: Notifier) -> None:
    run = context.dagster_run
    latest = context.instance.get_latest_materialization_event(dg.AssetKey("production_model"))
    promoted = latest is not None and latest.run_id == run.run_id
    body = "\n".join(
        [
            f"run: {notifier.run_url(run.run_id)}",
            f"trigger: {run.tags.get('forecast/trigger', 'manual')}",
            _production_summary(context.instance) + ("" if promoted else " (unchanged: no promotion in this run)"),
        ]
    )
    notifier.send(f"ml_pipeline succeeded ({run.run_id[:8]})", body, context.log)


def _root_cause(error) -> str:
    """The user's error under Dagster's wrappers (DagsterExecutionStepExecutionError and the like)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def notify_failure(context: dg.RunFailureSensorContext, notifier: Notifier) -> None:
    run = context.dagster_run
    failures = [
        f"step {event.step_key}: {_root_cause(event.event_specific_data.error)[:500]}"
        for event in context.get_step_failure_events()
    ]
    body = "\n".join(
        [f"run: {notifier.run_url(run.run_id)}", *(failures or [context.failure_event.message or "run failed"])]
    )
    notifier.send(f"ml_pipeline FAILED ({run.run_id[:8]})", body, context.log)


def build_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    """The four sensors, with the settings' default status (FORECAST_AUTOMATION), weeks and run config."""
    status = dg.DefaultSensorStatus.RUNNING if settings.automation_running else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(
        job=ml_pipeline,
        minimum_interval_seconds=60,
        default_status=status,
        description="One retraining run per new or changed sales file in the landing area, over the weeks it "
        "covers. Each file version is read once; files that can never be ingested are moved to "
        "raw-data/quarantine/files/ and reported, files of other formats are reported; no file stops the tick.",
    )
    def new_sales_files(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
        return new_sales_files_tick(context, warehouse, settings)

    @dg.sensor(
        job=ml_pipeline,
        minimum_interval_seconds=60,
        default_status=status,
        description="Retrains when drift_score flags drift: after FORECAST_DRIFT_RETRAIN_AFTER consecutive "
        "drifted scores (debounce), never twice within FORECAST_DRIFT_COOLDOWN_HOURS (cooldown); with "
        "FORECAST_DRIFT_NEEDS_WORSE_ACCURACY=true, only when forecast_accuracy's latest scored week found the "
        "champion worse than the best baseline or the shadow.",
    )
    def drift_retraining(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return drift_retraining_tick(context, settings)

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[ml_pipeline],
        default_status=status,
        description="Notifies (FORECAST_NOTIFY: log, smtp or webhook) when ml_pipeline succeeds.",
    )
    def notify_on_success(context: dg.RunStatusSensorContext, notifier: Notifier) -> None:
        notify_success(context, notifier)

    @dg.run_failure_sensor(
        monitored_jobs=[ml_pipeline],
        default_status=status,
        description="Notifies (FORECAST_NOTIFY: log, smtp or webhook) when ml_pipeline fails, naming the failing step.",
    )
    def notify_on_failure(context: dg.RunFailureSensorContext, notifier: Notifier) -> None:
        notify_failure(context, notifier)

    return [new_sales_files, drift_retraining, notify_on_success, notify_on_failure]
