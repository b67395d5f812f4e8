"""The weekly retraining schedule: Monday 06:00, for the latest complete `raw_sales` week."""

import dagster as dg

from forecast_assets import settings
from forecast_assets.jobs import ml_pipeline
from forecast_assets.partitions import weekly_partitions


def _default_status() -> dg.DefaultScheduleStatus:
    running = settings.automation_running_by_default()
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


@dg.schedule(
    cron_schedule="0 6 * * 1",
    job=ml_pipeline,
    execution_timezone=settings.schedule_timezone(),
    default_status=_default_status(),
    description="Retrain every Monday at 06:00 (FORECAST_TIMEZONE) on the latest complete week of sales.",
)
def weekly_retraining(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    week = weekly_partitions.get_partition_keys(current_time=context.scheduled_execution_time)[-1]
    return dg.RunRequest(
        run_key=f"weekly-{week}",
        partition_key=week,
        run_config=settings.automated_run_config(),
        tags={"forecast/trigger": "schedule"},
    )
