"""The sales window features as a persisted Spark ML Transformer, first stage of `feature_pipeline`.

Raw sales rows (any number per product and day) become one row per product per day, with days without
sales filled with zero *before* any window, so "lag 7" means seven days, not seven sales. Each output
row is a forecast origin: the features are known at the end of day `data_venda`, and `target` is the
sales of the next day (`forecast_date`). The last day of the data has no target yet: that row is what
`sales_forecast` predicts.
"""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

SALES_COLUMNS = ("produto", "categoria_valor", "quantidade", "valor_total", "data_venda")


class SalesWindowFeatures(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """Daily zero-filled series per product -> lags, moving averages, trend, calendar, next-day target.

    For a forecast date D (= data_venda + 1):
      lag_k            sales on D - k (lag_1 is the last observed day, lag_7 the same weekday last week)
      ma_n             mean daily sales over the n days before D
      same_weekday_k   mean sales on D's weekday over the k previous weeks
      trend            ma_7 - ma_30
      day_of_week, month of D;  target = sales on D
    """

    lags = Param(Params._dummy(), "lags", "days before the forecast date", TypeConverters.toListInt)
    windows = Param(Params._dummy(), "windows", "moving-average lengths in days", TypeConverters.toListInt)
    weekdayWindows = Param(
        Params._dummy(), "weekdayWindows", "same-weekday means over k weeks", TypeConverters.toListInt
    )

    @keyword_only
    def __init__(self, *, lags=None, windows=None, weekdayWindows=None):
        super().__init__()
        self._setDefault(lags=[1, 7, 30], windows=[7, 30], weekdayWindows=[4, 8])
        self._set(**self._input_kwargs)

    def feature_columns(self) -> list[str]:
        return (
            [f"lag_{k}" for k in self.getOrDefault(self.lags)]
            + [f"ma_{n}" for n in self.getOrDefault(self.windows)]
            + [f"same_weekday_{k}w" for k in self.getOrDefault(self.weekdayWindows)]
            + ["trend", "day_of_week", "month"]
        )

    def history_days(self) -> int:
        """Days of history a row needs before its forecast date."""
        return max(
            *self.getOrDefault(self.lags),
            *self.getOrDefault(self.windows),
            *(7 * k for k in self.getOrDefault(self.weekdayWindows)),
        )

    def _transform(self, dataset: DataFrame) -> DataFrame:
        lags = self.getOrDefault(self.lags)
        windows = self.getOrDefault(self.windows)
        weekday_windows = self.getOrDefault(self.weekdayWindows)
        daily = dataset.groupBy("produto", F.to_date("data_venda").alias("data_venda")).agg(
            F.sum("valor_total").cast("double").alias("valor_total"),
            F.max("categoria_valor").alias("categoria_valor"),
        )
        # Every product from its first sale to the last day of the data, zero where nothing was sold.
        products = daily.groupBy("produto").agg(
            F.min("data_venda").alias("first_day"), F.max("categoria_valor").alias("categoria_valor")
        )
        last_day = daily.agg(F.max("data_venda").alias("last_day"))
        calendar = products.crossJoin(last_day).select(
            "produto", "categoria_valor", F.explode(F.sequence("first_day", "last_day")).alias("data_venda")
        )
        series = calendar.join(daily.select("produto", "data_venda", "valor_total"), ["produto", "data_venda"], "left")
        value = F.coalesce(F.col("valor_total"), F.lit(0.0))
        by_day = Window.partitionBy("produto").orderBy("data_venda")

        def before(days: int):  # sales on forecast date - days  (the row's own day is D - 1)
            return F.lag(value, days - 1).over(by_day)

        def mean_of(columns):
            return sum(columns[1:], columns[0]) / F.lit(float(len(columns)))

        features = [before(k).alias(f"lag_{k}") for k in lags]
        features += [F.avg(value).over(by_day.rowsBetween(1 - n, 0)).alias(f"ma_{n}") for n in windows]
        features += [
            mean_of([before(7 * w) for w in range(1, k + 1)]).alias(f"same_weekday_{k}w") for k in weekday_windows
        ]
        rows = series.select(
            "produto",
            "categoria_valor",
            "data_venda",
            F.date_add("data_venda", 1).alias("forecast_date"),
            *features,
            F.lead(value, 1).over(by_day).alias("target"),
            F.row_number().over(by_day).alias("_day_number"),
        )
        short, long_ = min(windows), max(windows)
        return (
            rows.filter(F.col("_day_number") >= self.history_days())  # full history for every feature
            .drop("_day_number")
            .withColumn("trend", F.col(f"ma_{short}") - F.col(f"ma_{long_}"))
            .withColumn("day_of_week", F.dayofweek("forecast_date").cast("double"))
            .withColumn("month", F.month("forecast_date").cast("double"))
        )
