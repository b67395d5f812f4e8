"""The weekly retraining schedule: Monday 06:00, for the latest complete `raw_sales` week."""

import dagster as dg

from forecast_assets.jobs import automated_run_config, ml_pipeline
from forecast_assets.partitions import weekly_partitions
from forecast_assets.settings import Settings


def build_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    weeks, run_config = weekly_partitions(settings.first_week), automated_run_config(settings)

    @dg.schedule(
        cron_schedule="0 6 * * 1",
        job=ml_pipeline,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING
        if settings.automation_running
        else dg.DefaultScheduleStatus.STOPPED,
        description="Retrain every Monday at 06:00 (FORECAST_TIMEZONE) on the latest complete week of sales.",
    )
    def weekly_retraining(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        week = weeks.get_partition_keys(current_time=context.scheduled_execution_time)[-1]
        return dg.RunRequest(
            run_key=f"weekly-{week}", partition_key=week, run_config=run_config, tags={"forecast/trigger": "schedule"}
        )

    return [weekly_retraining]
