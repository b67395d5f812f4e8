"""Statistical forecasts per product (statsforecast's ETS, AutoETS, AutoTheta, AutoARIMA), fitted inside Spark.

Each product's daily series goes to one Python worker (`groupBy("produto").applyInPandas`), so the fits spread
over the cluster's cores like any other Spark task. For every forecast origin asked for, the model is fitted on
the product's days up to that origin (at most `history_days` of them, from its first sale on) and forecasts the
next H days: the same rows, origins and horizons as the window features, so model_comparison scores these
forecasts beside the regressors' and a production model serves them through the same stages.

Unobserved days (a week in which no product sold: ml/features.py) are not zeros: they are filled with the mean of
the product's observed days in the fitted stretch. A stretch shorter than four weeks is too short for a weekly
season: it is forecast by the mean of its last seven days (so is one the model cannot fit, which statsforecast
reports by raising). Forecasts below zero are clipped to zero, as every forecast the product serves is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd

SEASON_DAYS = 7  # a weekly season on daily sales
MIN_SEASONAL_DAYS = 28  # shorter stretches: the mean of the last seven days


def _ets():
    from statsforecast.models import AutoETS

    return AutoETS(season_length=SEASON_DAYS, model="ANA")


def _auto_ets():
    from statsforecast.models import AutoETS

    return AutoETS(season_length=SEASON_DAYS)


def _auto_theta():
    from statsforecast.models import AutoTheta

    return AutoTheta(season_length=SEASON_DAYS)


def _auto_arima():
    from statsforecast.models import AutoARIMA

    return AutoARIMA(season_length=SEASON_DAYS)


# name -> a fresh statsforecast model. `ets` is ETS(A,N,A): additive errors, no trend, an additive weekly season;
# `auto_ets` searches every ETS form by AICc. On the bench's four data sets (bench/RESULTS.md, "Statistical
# candidates") `ets` scores within 0.7% of `auto_ets` at 7-15% of its time (0.012 s per fit on 364 days, against
# 0.07-0.20 s); AutoTheta 0.03-0.06 s, AutoARIMA 0.9 s on 364 days and 15 s on 5.7 years.
MODELS: dict[str, Callable] = {
    "ets": _ets,
    "auto_ets": _auto_ets,
    "auto_theta": _auto_theta,
    "auto_arima": _auto_arima,
}


def column_of(name: str) -> str:
    """The window rows' column that holds a statistical model's forecast, in sales."""
    return f"stat_{name}"


def is_statistical(name: str) -> bool:
    return name in MODELS


def latest_sundays(last_day: date, count: int) -> list[date]:
    """The `count` latest Sundays on or before `last_day`, oldest first."""
    last = last_day - timedelta(days=(last_day.weekday() + 1) % 7)
    return [last - timedelta(days=7 * (count - 1 - i)) for i in range(count)]


def forecast_product(
    series: pd.DataFrame,
    *,
    models: list[str],
    origins: list[date] | None,
    latest: int,
    history_days: int,
    horizon: int,
    min_history_days: int,
) -> pd.DataFrame:
    """One product's daily series (produto, day, sales: null when unobserved, first_day, last_day, first_sale)
    -> one row per origin and horizon (produto, origin_date, horizon, stat_<model>...). The origins are the given
    ones, or the `latest` Sundays of the data; each needs the window features' minimum history and the first sale."""
    series = series.sort_values("day")
    product = series["produto"].iloc[0]
    first_day, last_day, first_sale = (series[c].iloc[0] for c in ("first_day", "last_day", "first_sale"))
    days = pd.to_datetime(series["day"]).dt.date.to_numpy()
    sales = series["sales"].to_numpy(dtype="float64", na_value=np.nan)
    wanted = origins if origins is not None else latest_sundays(last_day, latest)
    rows = []
    for origin in wanted:
        if origin < first_sale or (origin - first_day).days < min_history_days - 1 or origin > last_day:
            continue
        start = max(first_sale, origin - timedelta(days=history_days - 1))
        stretch = sales[(days >= start) & (days <= origin)]
        observed = stretch[~np.isnan(stretch)]
        fill = observed.mean() if len(observed) else 0.0
        y = np.where(np.isnan(stretch), fill, stretch)
        recent = float(y[-SEASON_DAYS:].mean()) if len(y) else 0.0
        forecasts = {}
        for name in models:
            values = np.full(horizon, recent)
            if len(y) >= MIN_SEASONAL_DAYS and np.ptp(y) > 0:
                # statsforecast raises many kinds for a series it cannot fit: the recent mean stands in
                with contextlib.suppress(Exception):
                    values = np.asarray(MODELS[name]().forecast(y=y, h=horizon)["mean"], dtype="float64")
            forecasts[column_of(name)] = np.clip(np.nan_to_num(values, nan=recent), 0.0, None)
        for h in range(1, horizon + 1):
            rows.append(
                {"produto": product, "origin_date": origin, "horizon": h}
                | {col: float(v[h - 1]) for col, v in forecasts.items()}
            )
    columns = ["produto", "origin_date", "horizon", *[column_of(n) for n in models]]
    return pd.DataFrame(rows, columns=columns)


def schema(models: list[str]) -> str:
    """The Spark schema of forecast_product's rows."""
    return ", ".join(["produto string", "origin_date date", "horizon int", *[f"{column_of(n)} double" for n in models]])
