"""Ingestion cost against history: the `raw_sales` time of a one-week run with years of sales files landed.

usage: python bench/ingestion_bench.py [--profile retail] [--size M] [--runs 3]

Lands ../shared/bench/make_sales.py data (3 years for size M) as one CSV file per week in a fresh local
warehouse's raw-data, then materializes raw_sales for one week (the last complete week of the data) `--runs`
times in this process (one Spark session), printing the raw_sales step's wall time for each run. The first run
pays for what is not cached yet (the JVM, and the landing index when there is one); the later runs show the
steady cost of a weekly run. A cost that does not grow with history stays flat as more weeks are landed.
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
    parser.add_argument("--runs", type=int, default=3)
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

    defs = build_defs()
    with defs.resources["warehouse"].process_config_and_initialize_cm() as warehouse:
        files = 0
        for start, rows in sales.groupby((sales["data_venda"] - monday).dt.days // 7):
            rows = rows.assign(data_venda=rows["data_venda"].dt.date)
            day = (monday + timedelta(days=7 * int(start))).date()
            buffer = io.StringIO()
            rows.to_csv(buffer, index=False)
            warehouse.write_bytes("raw-data", f"exports/sales_{day}.csv", buffer.getvalue().encode())
            files += 1
    print(f"landed {files} weekly CSV files ({len(sales):,} rows, {first.date()} .. {last.date()}); week {week}")
    for run in range(1, args.runs + 1):
        started = time.perf_counter()
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(
            [defs.get_assets_def("raw_sales")],
            resources=defs.resources,
            partition_key=week.isoformat(),
            instance=instance,
        )
        wall = time.perf_counter() - started
        (stats,) = instance.get_run_step_stats(result.run_id)
        step = stats.end_time - stats.start_time
        rows = result.output_for_node("raw_sales").count() if run == 1 else None
        print(
            f"run {run}: raw_sales step {step:6.2f} s (materialize {wall:6.2f} s)" + (f", {rows} rows" if rows else "")
        )


if __name__ == "__main__":
    main()
