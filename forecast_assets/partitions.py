"""The weekly partitions of `raw_sales`, declared once: Monday-to-Sunday weeks of sales.

The first week is the Monday of FORECAST_HISTORY_START's week (settings.history_start; default 2023-01-02,
where the demo and the benchmark data start). Older sales need an earlier value: see README, "Your own data".
"""

import dagster as dg

from forecast_assets import settings

HISTORY_START = settings.history_start()
weekly_partitions = dg.WeeklyPartitionsDefinition(start_date=HISTORY_START.isoformat(), day_offset=1)

DEMO_WEEKS = 104  # `make run` loads the last two years of weeks in one run
