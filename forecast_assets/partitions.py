"""The weekly partitions of `raw_sales`, declared once: Monday-to-Sunday weeks of sales."""

import dagster as dg

# 2023-01-02 is a Monday; the benchmark data (../shared/bench/make_sales.py) starts there too.
weekly_partitions = dg.WeeklyPartitionsDefinition(start_date="2023-01-02", day_offset=1)

DEMO_WEEKS = 104  # `make run` loads the last two years of weeks in one run
