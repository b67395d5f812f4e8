"""The holiday features, measured: the candidates with and without a country's public holidays, same rows.

A data set's sales up to `--until` (so that the holdout's four weeks hold holidays: the last 4 Sundays whose 7
days lie in the data) go through `raw_sales` and `features` twice, in two fresh warehouses: without holidays and
with `features.holidays_country` = `--country`. Then `bench/candidates_bench.py` tunes and scores the candidates
on each feature_dataset (the product's CV and holdout scoring) and this prints both tables. Nothing here is
asserted in a test.

usage: python bench/holidays_bench.py SALES.parquet --name pharma --country RS --until 2019-01-13
                                      [--only xgboost,random_forest,linear_regression]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out" / "holidays"
sys.path.insert(0, str(REPO))

from bench.run_bench import fresh_warehouse, week_range  # noqa: E402


def features_for(sales: Path, work: Path, country: str) -> Path:
    """raw_sales and features of `sales` in a fresh warehouse under `work`; the warehouse."""
    env = fresh_warehouse(work, sales)
    config = work / "run.yaml"
    config.write_text(json.dumps({"ops": {"features": {"config": {"holidays_country": country}}}}))
    # The job's partial selection as the UI's "materialize selected" makes it (`dagster job execute -o` selects
    # ops, which this asset graph refuses; `dagster asset materialize` ranges need every asset single-run).
    materialize = (
        "import json, sys, dagster as dg; from forecast_assets import defs; d = defs();"
        "dg.materialize([*d.assets, *d.asset_checks], resources=d.resources, instance=dg.DagsterInstance.get(),"
        " selection=['raw_sales', 'feature_pipeline', 'feature_dataset'], run_config=json.loads(sys.argv[1]),"
        " tags=json.loads(sys.argv[2]))"
    )
    command = [sys.executable, "-c", materialize, config.read_text(), json.dumps(week_range(sales))]
    with (work / "run.log").open("w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return work / "warehouse"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sales", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--country", required=True, help="a holidays package code: RS, BR-SP, GB-SCT")
    parser.add_argument("--until", required=True, help="the last day of sales kept (YYYY-MM-DD)")
    parser.add_argument("--only", default="xgboost,random_forest,linear_regression")
    args = parser.parse_args()
    sales = pd.read_parquet(args.sales)
    days = pd.to_datetime(sales["data_venda"])
    kept = sales[days <= pd.Timestamp(args.until)].assign(data_venda=lambda f: pd.to_datetime(f["data_venda"]).dt.date)
    OUT.mkdir(parents=True, exist_ok=True)
    cut = OUT / f"{args.name}_until_{args.until}.parquet"
    kept.to_parquet(cut, index=False)
    print(f"{args.name}: {len(kept)} rows up to {args.until} ({kept['data_venda'].min()} ..)", flush=True)
    for country in ("", args.country):
        label = country or "none"
        warehouse = features_for(cut, OUT / f"{args.name}_{label}", country)
        print(f"\n=== {args.name}, holidays: {label} ===", flush=True)
        subprocess.run(
            [sys.executable, str(REPO / "bench" / "candidates_bench.py"), str(warehouse), "--only", args.only],
            check=True,
        )


if __name__ == "__main__":
    main()
