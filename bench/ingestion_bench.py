"""Ingestion cost against history: the `raw_sales` time of a one-week run with years of sales files landed.

usage: python bench/ingestion_bench.py [--profile retail] [--size M] [--runs 2]

Lands ../shared/bench/make_sales.py data (3 years for size M) as one CSV file per week in a fresh local
warehouse's raw-data, then materializes raw_sales for one week (the last complete week of the data) `--runs`
times in this process (one Spark session), printing the raw_sales step's wall time for each run. The first run
pays for what is not cached yet (the JVM, and the landing index for newly landed files); the later runs show the
steady cost of a weekly run. History is landed in three steps (the last year, two years, all three), so a cost
that does not grow with history shows as flat steady figures.
"""

import argparse
import io
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from run_bench import generate  # noqa: E402  (bench/ is not a package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="retail")
    parser.add_argument("--size", default="M")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    import pandas as pd

    sales = pd.read_parquet(generate(args.size, args.profile))
    sales["data_venda"] = pd.to_datetime(sales["data_venda"])
    first, last = sales["data_venda"].min(), sales["data_venda"].max()
    monday = first - timedelta(days=first.weekday())
    week = (last - timedelta(days=last.weekday() + 7)).date()  # the last complete Monday-Sunday week

    home = Path(tempfile.mkdtemp(prefix="ingestion-bench-"))
    os.environ.update(
        FORECAST_STORAGE="local",
        FORECAST_WAREHOUSE=str(home / "warehouse"),
        FORECAST_HISTORY_START=monday.date().isoformat(),
        SPARK_LOCAL_IP="127.0.0.1",
    )
    import dagster as dg

    from forecast_assets.definitions import build_defs
    from forecast_assets.ingestion.assets import IngestionConfig
    from forecast_assets.intake import validate_landing
    from forecast_assets.landing.area import list_landing
    from forecast_assets.settings import Settings

    defs = build_defs(Settings.from_env())
    weekly = [
        ((monday + timedelta(days=7 * int(n))).date(), rows.assign(data_venda=rows["data_venda"].dt.date))
        for n, rows in sales.groupby((sales["data_venda"] - monday).dt.days // 7)
    ]
    print(
        f"{len(weekly)} weekly CSV files ({len(sales):,} rows, {first.date()} .. {last.date()}); the run: week {week}"
    )
    with defs.resources["warehouse"].process_config_and_initialize_cm() as warehouse:
        landed = 0
        for years in (1, 2, 3):  # history grows backwards from the week the run loads
            recent = weekly[-52 * years :] if years < 3 else weekly
            for day, rows in recent[: len(recent) - landed]:
                buffer = io.StringIO()
                rows.to_csv(buffer, index=False)
                warehouse.write_bytes("raw-data", f"exports/sales_{day}.csv", buffer.getvalue().encode())
            landed = len(recent)
            for run in range(1, args.runs + 1):
                started = time.perf_counter()
                report = validate_landing(
                    warehouse,
                    list_landing(warehouse).sales,
                    IngestionConfig().limits(first_day=monday.date()),
                    [week.isoformat()],
                    week,
                    week + timedelta(7),
                )
                landing_time = time.perf_counter() - started
                instance = dg.DagsterInstance.ephemeral()
                result = dg.materialize(
                    [defs.get_assets_def("raw_sales")],
                    resources=defs.resources,
                    partition_key=week.isoformat(),
                    instance=instance,
                )
                (stats,) = instance.get_run_step_stats(result.run_id)
                print(
                    f"{landed:4d} files landed, run {run}: raw_sales step {stats.end_time - stats.start_time:6.2f} s; "
                    f"listing + index + validation alone {landing_time:5.2f} s, {len(report.scope)} file(s) parsed "
                    f"for the week, {len(report.good)} rows"
                )


if __name__ == "__main__":
    main()
