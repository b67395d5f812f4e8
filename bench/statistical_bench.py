"""The statistical candidates' variants on the bench's holdout rows: holdout RMSE (origin mean) and CPU seconds.

Each variant is a statistical model (forecast_assets/ml/statistical.py: ets, auto_ets, auto_theta, auto_arima, and
the ETS forms below) and the days of history it is fitted on. The fits are `forecast_product`, the function the
product's Spark tasks run per product, called here in one process; the rows are the peers' rows of the same data
set (`bench/out/peers/<name>_rows.parquet`, written by `make bench-peer`: exactly model_comparison's holdout rows),
so the figures compare with `make bench-peer`'s tables.

usage: python bench/statistical_bench.py NAME SALES.parquet VARIANT[,VARIANT...]
       e.g. retail_M bench/out/data/sales_retail_M.parquet ets:1095,auto_ets:1095,ets:364
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forecast_assets.ml import statistical  # noqa: E402


def _ets(model: str, damped: bool | None = None):
    def make():
        from statsforecast.models import AutoETS

        return AutoETS(season_length=statistical.SEASON_DAYS, model=model, damped=damped)

    return make


# ETS forms beside the catalogue's: ZZA (any error and trend, additive season), AAdA (damped trend).
statistical.MODELS |= {"ets_zza": _ets("ZZA"), "ets_aada": _ets("AAA", damped=True)}


def daily_series(sales: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per product, the frame forecast_product reads: every day from its first sale (null in unobserved weeks)."""
    sales = sales.assign(day=pd.to_datetime(sales["data_venda"]).dt.date)
    daily = sales.groupby(["produto", "day"], as_index=False)["valor_total"].sum()
    first_day, last_day = daily["day"].min(), daily["day"].max()
    days = pd.date_range(first_day, last_day)
    seen = set(pd.to_datetime(daily["day"]).dt.to_period("W-SUN"))
    observed = np.array([week in seen for week in days.to_period("W-SUN")])
    series = {}
    for product, group in daily.groupby("produto"):
        values = pd.Series(0.0, index=days.date)
        values[group["day"].to_numpy()] = group["valor_total"].to_numpy()
        frame = pd.DataFrame(
            {
                "produto": product,
                "day": days.date,
                "sales": np.where(observed, values.to_numpy(), np.nan),
                "first_day": first_day,
                "last_day": last_day,
                "first_sale": group["day"].min(),
            }
        )
        series[product] = frame[frame["day"] >= group["day"].min()]
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("sales")
    parser.add_argument("variants", help="model:history_days, comma-separated")
    args = parser.parse_args()
    rows = pd.read_parquet(REPO / "bench" / "out" / "peers" / f"{args.name}_rows.parquet")
    origins = sorted(pd.to_datetime(rows["origin"]).dt.date.unique())
    series = daily_series(pd.read_parquet(args.sales))
    print(f"{args.name}: {len(series)} products, origins {origins[0]} .. {origins[-1]}, {len(rows)} holdout rows")
    for variant in args.variants.split(","):
        model, history = variant.split(":")
        started = time.process_time()
        fits = [
            statistical.forecast_product(
                frame,
                models=[model],
                origins=origins,
                latest=0,
                history_days=int(history),
                horizon=7,
                min_history_days=62,
            )
            for frame in series.values()
        ]
        seconds = time.process_time() - started
        forecasts = pd.concat(fits).assign(origin=lambda f: pd.to_datetime(f["origin_date"]))
        scored = rows.assign(origin=pd.to_datetime(rows["origin"]), produto=rows["produto"].astype(str)).merge(
            forecasts, on=["produto", "origin", "horizon"], how="left"
        )
        column = statistical.column_of(model)
        if scored[column].isna().any():
            raise SystemExit(f"{variant}: {int(scored[column].isna().sum())} holdout rows without a forecast")
        errors = (scored[column] - scored["actual"]) ** 2
        rmse = errors.groupby(scored["origin"]).mean().pow(0.5).mean()
        print(f"  {variant:18s} rmse {rmse:8.3f}   cpu {seconds:6.1f} s   {len(forecasts) // 7} fits", flush=True)


if __name__ == "__main__":
    main()
