"""automation/schedules.py: the weekly retraining schedule."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.training.assets import chosen
from forecast_assets_tests.conftest import settings_for_tests


@pytest.mark.parametrize(
    ("tick", "week"),
    [
        (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), "2026-11-23"),  # Monday 06:00: the week that just ended
        (datetime(2026, 12, 3, 6, 0, tzinfo=UTC), "2026-11-23"),  # any later tick that week: the same week
        (datetime(2025, 1, 6, 6, 0, tzinfo=UTC), "2024-12-30"),
    ],
)
def test_weekly_schedule_targets_the_latest_complete_week(tick, week):
    weekly_retraining = build_defs(settings_for_tests()).resolve_schedule_def("weekly_retraining")
    request = weekly_retraining(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == week and request.run_key == f"weekly-{week}"
    assert request.tags["forecast/trigger"] == "schedule"
    assert request.run_config["ops"] == {
        c.asset_name: {"config": {"profile": "full", "tuning": "auto"}} for c in chosen(settings_for_tests())
    }
