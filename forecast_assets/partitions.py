"""The weekly partitions of `raw_sales`: Monday-to-Sunday weeks of sales.

The first week is the Monday of FORECAST_HISTORY_START's week (Settings.first_week; default 2023-01-02, where
the demo and the benchmark data start). Older sales need an earlier value: see README, "Your own data".
"""

from datetime import date

import dagster as dg

DEMO_WEEKS = 104  # `make run` loads the last two years of weeks in one run


def weekly_partitions(first_week: date) -> dg.WeeklyPartitionsDefinition:
    """Weeks from the Monday `first_week` on; a week is a partition once it is complete."""
    return dg.WeeklyPartitionsDefinition(start_date=first_week.isoformat(), day_offset=1)
