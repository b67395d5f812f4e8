"""The sales window features as a persisted Spark ML Transformer, first stage of `feature_pipeline`.

Raw sales rows (any number per product and day) become one daily series per product, from the first day
of the data to the last, zero on days the product sold nothing, so "lag 7" means seven days, not seven
sales. A week in which *no product at all* sold (a feed outage, a closed shop, a missing export) is not
zero: its days are unobserved (null), features skip them, and rows that would read them are marked
incomplete (a lag, the seasonal anchor or the target in such a week), so they are kept out of training and
evaluation rather than scored as zero sales; moving and same-weekday means skip unobserved days. A product
has rows from its first sale on (its days before that, inside the data, are zeros: it did not sell).

Each output row is a forecast origin and a horizon: the features are known at the end of `origin_date`
(a Sunday, the end of a Monday-Sunday partition week: the retraining day; every day with originDays=1, which
gives training more rows), and `target` is the sales on `forecast_date` = origin_date + `horizon` days, for
horizon 1..H. One model serves every horizon (the horizon is a feature); features that look at the target's
weekday (`seasonal_naive`, same-weekday means) are taken from the most recent weeks known at the origin.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from forecast_assets.ml import statistical
from forecast_assets.ml.spark_internals import reads_whole_files

SUNDAY = 1  # Spark's dayofweek: the last day of a Monday-Sunday week
TARGETS = ("valor_total", "quantidade")  # what a series forecasts: revenue (the original's) or units sold
KEY_COLUMNS = ["produto", "origin_date", "horizon"]  # one row of the window features


def weekly_origin() -> Column:
    """The rows of weekly (Sunday) origins: the ones served, and the only ones of the holdout. Training rows may
    also come from other days (originDays=1); what is compared with what is served reads these."""
    return F.dayofweek("origin_date") == SUNDAY


def target_of(model) -> str:
    """The sales column a stored pipeline forecasts (its window stage's; revenue for one stored before the
    target was a parameter)."""
    first = model.stages[0]
    return first.target_column() if isinstance(first, SalesWindowFeatures) else TARGETS[0]


def forecast_column(target: str) -> str:
    """sales_forecast's column of the forecast values: its name says what they are in."""
    return f"forecast_{target}"


class SalesWindowFeatures(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """Daily series per product -> one row per (product, weekly origin, horizon) with features known at the origin.

    For an origin O (a Sunday) and horizon h, the target day T = O + h, and its anchor A = T - 7*ceil(h/7)
    (the latest day on or before O with T's weekday):
      lag_k            sales on O - k + 1 (lag_1 is the origin day itself)
      ma_n             mean daily sales over the n days up to O (unobserved days skipped)
      seasonal_naive   sales on A (the same weekday in the last known week)
      same_weekday_kw  mean sales on A, A - 7, ..., over k weeks
      days_since_sale  days from the last sale to O (capped at the history length)
      sale_share       share of the observed days of the longest window (112 days) with a sale
      trend            ma_short - ma_long
      horizon, day_of_week, month and year_sin/year_cos (day of the year on a circle) of T
      target           sales on T (null when unobserved or in the future)
      level            ma_long (112 days) + 1; the model reads rel_<feature> = feature / level and learns
                       target_relative = target / level (LevelRescaler turns its prediction back into sales)
      complete         the lag days, the anchor and T observed (means skip unobserved days instead)
    """

    lags = Param(Params._dummy(), "lags", "days before the forecast origin's next day", TypeConverters.toListInt)
    windows = Param(Params._dummy(), "windows", "moving-average lengths in days", TypeConverters.toListInt)
    weekdayWindows = Param(
        Params._dummy(), "weekdayWindows", "same-weekday means over k weeks", TypeConverters.toListInt
    )
    horizon = Param(Params._dummy(), "horizon", "days forecast after each origin (H)", TypeConverters.toInt)
    minHistoryDays = Param(
        Params._dummy(),
        "minHistoryDays",
        "days of data an origin needs behind it; longer windows use the days there are",
        TypeConverters.toInt,
    )
    target = Param(
        Params._dummy(), "target", "the sales column a series sums: valor_total or quantidade", TypeConverters.toString
    )
    originDays = Param(
        Params._dummy(),
        "originDays",
        "days between forecast origins: 7 = Sundays only (the retraining day), 1 = every day",
        TypeConverters.toInt,
    )
    holidaysCountry = Param(
        Params._dummy(),
        "holidaysCountry",
        "public holidays of this country (ISO code, e.g. BR, or with a subdivision, e.g. BR-SP, GB-SCT; the "
        "holidays package): holiday, days_to_holiday and days_from_holiday of the target day; '' for none",
        TypeConverters.toString,
    )
    statisticalModels = Param(
        Params._dummy(),
        "statisticalModels",
        "statistical models fitted per product at the latest origins (ml/statistical.py): their forecasts in "
        "stat_<model> columns",
        TypeConverters.toListString,
    )
    statisticalOrigins = Param(
        Params._dummy(),
        "statisticalOrigins",
        "how many of the latest weekly origins get the statistical forecasts (the others: null)",
        TypeConverters.toInt,
    )
    statisticalHistoryDays = Param(
        Params._dummy(),
        "statisticalHistoryDays",
        "days up to each origin a statistical model is fitted on",
        TypeConverters.toInt,
    )

    @keyword_only
    def __init__(
        self,
        *,
        lags=None,
        windows=None,
        weekdayWindows=None,
        horizon=None,
        minHistoryDays=None,
        target=None,
        originDays=None,
        holidaysCountry=None,
        statisticalModels=None,
        statisticalOrigins=None,
        statisticalHistoryDays=None,
    ):
        super().__init__()
        # The 112-day mean is the level: a steadier scale than 28 days (retail M, gradient boosting: rmse 1.103 ->
        # 1.072x the oracle's; with the 16-week same-weekday mean 1.067x). Origins need 62 days (the 8-week
        # same-weekday mean); before 112 days of data the long windows average the days there are.
        # A pipeline stored before `target` existed loads with the default: it forecast revenue.
        self._setDefault(
            lags=[1, 7, 28],
            windows=[7, 28, 112],
            weekdayWindows=[4, 8, 16],
            horizon=7,
            minHistoryDays=62,
            target="valor_total",
            originDays=7,
            holidaysCountry="",
            statisticalModels=[],
            # the forecast origin and the 4 holdout (calibration) origins before it
            statisticalOrigins=5,
            # three years: ETS(A,N,A) on the whole of the bench's series beat a year on three of four (RESULTS.md)
            statisticalHistoryDays=1095,
        )
        self._set(**self._input_kwargs)
        if self.getOrDefault(self.target) not in TARGETS:
            raise ValueError(f"target {self.getOrDefault(self.target)!r}: expected one of {', '.join(TARGETS)}")
        if self.getOrDefault(self.originDays) not in (1, 7):
            raise ValueError(f"originDays {self.getOrDefault(self.originDays)}: expected 7 (Sundays) or 1 (every day)")
        if country := self.getOrDefault(self.holidaysCountry):
            check_holidays_country(country)
        unknown = sorted(set(self.statistical_models()) - set(statistical.MODELS))
        if unknown:
            raise ValueError(f"statisticalModels {unknown}: expected some of {', '.join(statistical.MODELS)}")

    def statistical_models(self) -> list[str]:
        """The statistical models whose forecasts the rows carry (stat_<model> columns); none by default."""
        return list(self.getOrDefault(self.statisticalModels))

    def target_column(self) -> str:
        """The raw sales column this series sums (and its forecasts are in)."""
        return self.getOrDefault(self.target)

    def sales_columns(self) -> list[str]:
        """The features measured in sales (currency): baselines and drift read them as they are."""
        return (
            [f"lag_{k}" for k in self.getOrDefault(self.lags)]
            + [f"ma_{n}" for n in self.getOrDefault(self.windows)]
            + ["seasonal_naive"]
            + [f"same_weekday_{k}w" for k in self.getOrDefault(self.weekdayWindows)]
            + ["trend"]
        )

    def feature_columns(self) -> list[str]:
        """The model's inputs: the sales features divided by the product's level (one model learns shapes shared
        by products selling 1 or 1,000 a day), the level itself (as log1p), and the scale-free features."""
        return [f"rel_{c}" for c in self.sales_columns()] + [
            "log_level",
            "days_since_sale",
            "sale_share",
            "horizon",
            "day_of_week",
            "year_sin",
            "year_cos",
            *(HOLIDAY_FEATURES if self.getOrDefault(self.holidaysCountry) else []),
        ]

    def min_history_days(self) -> int:
        return self.getOrDefault(self.minHistoryDays)

    def history_days(self) -> int:
        """Days of data behind an origin (the origin day included) that every feature, and every statistical
        model's fit, reads in full."""
        statistical_days = self.getOrDefault(self.statisticalHistoryDays) if self.statistical_models() else 0
        return max(statistical_days, self._window_days())

    def _window_days(self) -> int:
        """Days of data behind an origin that every window feature reads in full."""
        return max(
            *self.getOrDefault(self.lags),
            *self.getOrDefault(self.windows),
            # the anchor is up to 6 days before the origin
            *(7 * k + 6 for k in self.getOrDefault(self.weekdayWindows)),
        )

    def _daily_series(self, dataset: DataFrame) -> DataFrame:
        """One row per product and day of the data from its first sale's data start (produto, categoria_valor,
        first_sale, day, first_day, last_day, observed, sales: null on unobserved days)."""
        daily = dataset.groupBy("produto", F.to_date("data_venda").alias("day")).agg(
            F.sum(self.target_column()).cast("double").alias("sales")
        )
        products = (
            daily.groupBy("produto")
            .agg(F.min("day").alias("first_sale"))
            .join(dataset.groupBy("produto").agg(F.max("categoria_valor").alias("categoria_valor")), "produto")
        )
        bounds = daily.agg(F.min("day").alias("first_day"), F.max("day").alias("last_day"))
        # A day is observed when its Monday-Sunday week holds at least one sale of any product.
        observed_weeks = daily.select(F.date_trunc("week", "day").cast("date").alias("week")).distinct()
        calendar = (
            bounds.select(F.explode(F.sequence("first_day", "last_day")).alias("day"), "first_day", "last_day")
            .withColumn("week", F.date_trunc("week", "day").cast("date"))
            .join(observed_weeks.withColumn("observed", F.lit(True)), "week", "left")
            .select("day", "first_day", "last_day", F.coalesce("observed", F.lit(False)).alias("observed"))
        )
        return (
            products.crossJoin(F.broadcast(calendar))
            .join(daily, ["produto", "day"], "left")
            .withColumn("sales", F.when(F.col("observed"), F.coalesce("sales", F.lit(0.0))))
        )

    def statistical_forecasts(self, dataset: DataFrame, origins: list | None = None) -> DataFrame:
        """The statistical models' forecasts (KEY_COLUMNS + stat_<model>) from raw sales rows, fitted per product in
        Spark tasks: at the given origins, or at the latest `statisticalOrigins` Sundays of the data."""
        models = self.statistical_models()
        history = self.getOrDefault(self.statisticalHistoryDays)
        latest = self.getOrDefault(self.statisticalOrigins)
        series = self._daily_series(dataset)
        # Only the days the fits read: from the first origin's fitting stretch on.
        if origins:
            since = F.lit(min(origins) - timedelta(days=history - 1))
        else:
            since = F.date_sub(F.col("last_day"), 7 * latest + history)
        options = {
            "models": models,
            "origins": list(origins) if origins else None,
            "latest": latest,
            "history_days": history,
            "horizon": self.getOrDefault(self.horizon),
            "min_history_days": self.min_history_days(),
        }
        key = tuple((name, tuple(v) if isinstance(v, list) else v) for name, v in options.items())
        if (fitted := _FITTED.find(dataset, key)) is not None:
            return fitted
        # One task per core: left to adaptive execution, the shuffle of this small table is coalesced into one
        # partition and every product's fits run on one core.
        cores = dataset.sparkSession.sparkContext.defaultParallelism
        fitted = (
            series.filter(F.col("day") >= since)
            .select("produto", "day", "sales", "first_day", "last_day", "first_sale")
            .repartition(cores, "produto")
            .groupBy("produto")
            .applyInPandas(lambda frame: statistical.forecast_product(frame, **options), statistical.schema(models))
            .cache()
        )
        _FITTED.add(dataset, key, fitted)
        return fitted

    def _transform(self, dataset: DataFrame) -> DataFrame:
        return self._with_statistical(dataset, self._window_rows(dataset))

    def transform_stored(self, sales: DataFrame, files: tuple[str, ...] | None = None) -> DataFrame:
        """`transform(sales)` for sales read whole from stored files (raw_sales as its IO manager loads it, or
        `files` naming them): the window rows are made once per process for the same files and parameters and
        reused (one run's features, the serving check, sales_forecast, shadow_forecast and forecast_accuracy read
        the same stored weeks). Sales that are not stored files are transformed as they are."""
        files = stored_files(sales) if files is None else files
        if not files:
            return self.transform(sales)
        rows = _WINDOW_ROWS.find(self, sales.sparkSession, files)
        if rows is None:
            rows = self._window_rows(sales).cache()
            _WINDOW_ROWS.add(self, sales.sparkSession, files, rows)
        return self._with_statistical(sales, rows)

    def stored(self, sales: DataFrame) -> DataFrame | None:
        """`transform(sales)` from window rows already made in this process for the same stored files (see
        transform_stored), or None: nothing is computed."""
        files = stored_files(sales)
        rows = _WINDOW_ROWS.find(self, sales.sparkSession, files) if files else None
        return None if rows is None else self._with_statistical(sales, rows)

    def rows_key(self) -> tuple:
        """What the window rows depend on: every parameter but the origins' spacing and the statistical ones
        (those join their own forecasts to the rows)."""
        skipped = {"originDays", "statisticalModels", "statisticalOrigins", "statisticalHistoryDays"}
        return tuple(
            (p.name, tuple(v) if isinstance(v := self.getOrDefault(p), list) else v)
            for p in sorted(self.params, key=lambda p: p.name)
            if p.name not in skipped
        )

    def _with_statistical(self, dataset: DataFrame, rows: DataFrame) -> DataFrame:
        if not self.statistical_models():
            return rows
        return rows.join(self.statistical_forecasts(dataset), KEY_COLUMNS, "left")

    def _window_rows(self, dataset: DataFrame) -> DataFrame:
        lags = self.getOrDefault(self.lags)
        windows = self.getOrDefault(self.windows)
        weekday_windows = self.getOrDefault(self.weekdayWindows)
        horizon = self.getOrDefault(self.horizon)
        history = self._window_days()
        series = self._daily_series(dataset)
        by_day = Window.partitionBy("produto").orderBy("day")

        def last(days: int):
            return by_day.rowsBetween(1 - days, 0)

        sales = F.col("sales")
        ma_long = F.avg(sales).over(last(max(windows)))
        # Unobserved days are null: a lag that lands on one falls back to the long mean of observed days.
        features = {f"lag_{k}": F.coalesce(F.lag(sales, k - 1).over(by_day), ma_long) for k in lags}
        features |= {f"ma_{n}": F.coalesce(F.avg(sales).over(last(n)), ma_long) for n in windows}
        features["days_since_sale"] = F.least(
            F.datediff("day", F.max(F.when(sales > 0, F.col("day"))).over(by_day.rowsBetween(-history, 0))),
            F.lit(history),
        )
        features["sale_share"] = F.avg((sales > 0).cast("double")).over(last(max(windows)))
        # The lags must read observed days (the means skip unobserved ones): count the unobserved among them.
        observed = F.col("observed").cast("int")
        features["lag_gaps"] = sum((1 - F.lag(observed, k - 1, 1).over(by_day) for k in lags), F.lit(0))
        # Same-weekday means ending on each day; an origin reads them at its horizons' anchors.
        weekday = {0: observed, 1: sales}  # unknown at the anchor: the long mean at the origin (below)
        weekday |= {
            k: _mean_skipping_nulls([sales, *[F.lag(sales, 7 * w).over(by_day) for w in range(1, k)]])
            for k in weekday_windows
        }
        daily_rows = series.select(
            "produto",
            "categoria_valor",
            F.col("day").alias("origin_date"),
            "first_day",
            "first_sale",
            *[column.alias(name) for name, column in features.items()],
            *[column.alias(f"_weekday_{k}") for k, column in weekday.items()],
            *[F.lead(sales, h).over(by_day).alias(f"_target_{h}") for h in range(1, horizon + 1)],
        )
        by_origin = Window.partitionBy("produto").orderBy("origin_date")
        anchor_names = [
            (0, "anchor_observed"),
            (1, "seasonal_naive"),
            *[(k, f"same_weekday_{k}w") for k in weekday_windows],
        ]

        def at_anchor(k: int, h: int) -> Column:
            back = 7 * -(-h // 7) - h  # days from the origin back to the anchor of horizon h
            column = F.col(f"_weekday_{k}")
            return column if back == 0 else F.lag(column, back).over(by_origin)

        every_day = self.getOrDefault(self.originDays) == 1
        origins = daily_rows.select(
            "*", *[at_anchor(k, h).alias(f"_{name}_{h}") for h in range(1, horizon + 1) for k, name in anchor_names]
        ).filter(
            (F.lit(True) if every_day else weekly_origin())
            & (F.datediff("origin_date", "first_day") >= self.min_history_days() - 1)
            & (F.col("origin_date") >= F.col("first_sale"))  # a product is known from its first sale on
        )
        per_horizon = F.array(
            *[
                F.struct(
                    F.lit(h).alias("horizon"),
                    F.col(f"_target_{h}").alias("target"),
                    *[F.col(f"_{name}_{h}").alias(name) for _, name in anchor_names],
                )
                for h in range(1, horizon + 1)
            ]
        )
        exploded = origins.select("*", F.explode(per_horizon).alias("_h")).select(
            *[c for c in origins.columns if not c.startswith("_")], "_h.*"
        )
        short, long_ = min(windows), max(windows)
        target_day = F.date_add("origin_date", F.col("horizon"))
        columns = exploded.select(
            "produto",
            "categoria_valor",
            "origin_date",
            "horizon",
            target_day.alias("forecast_date"),
            *[F.coalesce(F.col(f"lag_{k}"), F.lit(0.0)).alias(f"lag_{k}") for k in lags],
            *[F.coalesce(F.col(f"ma_{n}"), F.lit(0.0)).alias(f"ma_{n}") for n in windows],
            *[F.coalesce(F.col(name), F.col(f"ma_{long_}"), F.lit(0.0)).alias(name) for k, name in anchor_names if k],
            F.col("days_since_sale").cast("double").alias("days_since_sale"),
            F.coalesce(F.col("sale_share"), F.lit(0.0)).alias("sale_share"),
            F.coalesce(F.col(f"ma_{short}") - F.col(f"ma_{long_}"), F.lit(0.0)).alias("trend"),
            F.dayofweek(target_day).cast("double").alias("day_of_week"),
            F.month(target_day).cast("double").alias("month"),
            # The time of year as a point on a circle: December and January are neighbours (a linear model
            # reading month 12 -> 1 would drop every forecast that crosses New Year).
            *[
                fn(F.dayofyear(target_day) * (2 * math.pi / 365.25)).alias(name)
                for name, fn in (("year_sin", F.sin), ("year_cos", F.cos))
            ],
            "target",
            ((F.col("lag_gaps") == 0) & (F.col("anchor_observed") == 1) & F.col("target").isNotNull()).alias(
                "complete"
            ),
        )
        if country := self.getOrDefault(self.holidaysCountry):
            # The target day's place among the country's public holidays, from a calendar of the data's days.
            first, last = dataset.agg(F.min("data_venda"), F.max("data_venda")).first()
            calendar = holiday_features(country, _as_date(first), _as_date(last) + timedelta(days=horizon))
            days = dataset.sparkSession.createDataFrame(calendar, HOLIDAY_SCHEMA)
            columns = columns.join(F.broadcast(days), "forecast_date", "left")
        # The level: the product's mean daily sales over the long window, plus one (a currency unit) so that
        # products that have not sold lately keep a finite scale.
        level = F.col(f"ma_{long_}") + F.lit(1.0)
        rows = columns.select(
            "*",
            level.alias("level"),
            F.log1p(F.col(f"ma_{long_}")).alias("log_level"),
            *[(F.col(c) / level).alias(f"rel_{c}") for c in self.sales_columns()],
            (F.col("target") / level).alias("target_relative"),
        )
        return rows


class _FittedForecasts:
    """The statistical forecasts made in this process, cached in Spark, by the sales rows they were made from (the
    same query: Spark's sameSemantics) and their parameters. One run's model_comparison, the production model's
    check and sales_forecast fit the same products at the same origins from the same stored raw_sales: fitted
    once, read three times. Stored versions are never rewritten in place, so the same query means the same
    rows. The latest few are kept (each is a few rows per product)."""

    KEEP = 8

    def __init__(self):
        self._entries: list[tuple[DataFrame, tuple, DataFrame]] = []

    def find(self, dataset: DataFrame, key: tuple) -> DataFrame | None:
        for source, known, fitted in self._entries:
            if known == key and source.sparkSession is dataset.sparkSession and source.sameSemantics(dataset):
                return fitted
        return None

    def add(self, dataset: DataFrame, key: tuple, fitted: DataFrame) -> None:
        self._entries.append((dataset, key, fitted))
        for _, _, old in self._entries[: -self.KEEP]:
            old.unpersist()
        self._entries = self._entries[-self.KEEP :]


_FITTED = _FittedForecasts()


def stored_files(sales: DataFrame) -> tuple[str, ...]:
    """The files a DataFrame reads, when it reads every row of them (its identity in storage; stored versions are
    never rewritten in place, so the same files mean the same rows), else ()."""
    return tuple(sorted(sales.inputFiles())) if reads_whole_files(sales) else ()


class _WindowRows:
    """The window rows made in this process from stored sales files (SalesWindowFeatures.transform_stored), cached
    in Spark, by Spark application, files and the parameters the rows depend on. Rows made for every day's origin
    serve a request for Sundays only (filtered). The latest two are kept: one run makes one."""

    KEEP = 2

    def __init__(self):
        self._entries: list[tuple[str, tuple, tuple, int, DataFrame]] = []

    def find(self, windows: SalesWindowFeatures, spark, files: tuple) -> DataFrame | None:
        key, days = windows.rows_key(), windows.getOrDefault(windows.originDays)
        app = spark.sparkContext.applicationId
        for known_app, known_files, known_key, known_days, rows in reversed(self._entries):
            if (known_app, known_files, known_key) == (app, files, key) and known_days in (days, 1):
                return rows if known_days == days else rows.filter(weekly_origin())
        return None

    def add(self, windows: SalesWindowFeatures, spark, files: tuple, rows: DataFrame) -> None:
        days = windows.getOrDefault(windows.originDays)
        self._entries.append((spark.sparkContext.applicationId, files, windows.rows_key(), days, rows))
        for *_, old in self._entries[: -self.KEEP]:
            old.unpersist()
        self._entries = self._entries[-self.KEEP :]


_WINDOW_ROWS = _WindowRows()


HOLIDAY_FEATURES = ["holiday", "days_to_holiday", "days_from_holiday"]
HOLIDAY_SCHEMA = "forecast_date date, holiday double, days_to_holiday double, days_from_holiday double"
HOLIDAY_REACH = 14  # days to or from a holiday farther than this read as this: "no holiday near"


def check_holidays_country(code: str) -> tuple[str, str | None]:
    """A country code of the holidays package, with an optional subdivision ("BR", "BR-SP", "GB-SCT"), as
    (country, subdivision); a ValueError saying what is supported otherwise."""
    import holidays

    country, _, subdivision = code.upper().partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(
            f"holidays country {code!r}: not a country the holidays package knows (ISO 3166 codes such as BR, "
            f"US, GB, RS; {len(supported)} supported)"
        )
    if subdivision and subdivision not in supported[country]:
        raise ValueError(
            f"holidays country {code!r}: {country} has no subdivision {subdivision!r}; expected one of "
            f"{', '.join(supported[country][:40])}"
        )
    return country, subdivision or None


def holiday_features(code: str, first: date, last: date) -> list[tuple]:
    """For every day from `first` to `last`: (day, 1.0 if a public holiday of `code` else 0.0, days to the next
    holiday, days since the last one, both 0 on a holiday and capped at HOLIDAY_REACH)."""
    import holidays

    country, subdivision = check_holidays_country(code)
    years = range(first.year - 1, last.year + 2)
    dates = sorted(holidays.country_holidays(country, subdiv=subdivision, years=years))
    rows = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        after = next((d for d in dates if d >= day), None)
        before = next((d for d in reversed(dates) if d <= day), None)
        rows.append(
            (
                day,
                1.0 if after == day else 0.0,
                float(min((after - day).days, HOLIDAY_REACH)) if after else float(HOLIDAY_REACH),
                float(min((day - before).days, HOLIDAY_REACH)) if before else float(HOLIDAY_REACH),
            )
        )
    return rows


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def _mean_skipping_nulls(columns: list[Column]) -> Column:
    present = sum((c.isNotNull().cast("double") for c in columns[1:]), columns[0].isNotNull().cast("double"))
    total = sum((F.coalesce(c, F.lit(0.0)) for c in columns[1:]), F.coalesce(columns[0], F.lit(0.0)))
    return F.when(present > 0, total / present)


class LevelRescaler(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """The last stage of a production model: a prediction relative to the product's level, times the level,
    as sales (never below zero)."""

    inputCol = Param(Params._dummy(), "inputCol", "prediction relative to the level", TypeConverters.toString)
    outputCol = Param(Params._dummy(), "outputCol", "prediction in sales", TypeConverters.toString)
    levelCol = Param(Params._dummy(), "levelCol", "the level column", TypeConverters.toString)

    @keyword_only
    def __init__(self, *, inputCol=None, outputCol=None, levelCol=None):
        super().__init__()
        self._setDefault(inputCol="relative_prediction", outputCol="prediction", levelCol="level")
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        relative = F.col(self.getOrDefault(self.inputCol))
        level = F.col(self.getOrDefault(self.levelCol))
        return dataset.withColumn(self.getOrDefault(self.outputCol), F.greatest(relative * level, F.lit(0.0)))


class ForecastCombination(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """The equal-weight mean of several models' forecasts (each already in sales): the last stage of a production
    model that combines candidates, so it serves exactly what model_comparison scored."""

    inputCols = Param(Params._dummy(), "inputCols", "the forecasts combined, in sales", TypeConverters.toListString)
    outputCol = Param(Params._dummy(), "outputCol", "their mean", TypeConverters.toString)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None):
        super().__init__()
        self._setDefault(outputCol="prediction")
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        columns = [F.col(c) for c in self.getOrDefault(self.inputCols)]
        return dataset.withColumn(self.getOrDefault(self.outputCol), sum(columns[1:], columns[0]) / len(columns))


class BaselineForecaster(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """A baseline as the last stage of a production model: the prediction is a feature column known at the
    origin (e.g. `ma_28`), or zero when `column` is empty. Served when no candidate beats the baselines yet."""

    column = Param(
        Params._dummy(), "column", "the feature column to forecast with ('' = zero)", TypeConverters.toString
    )
    outputCol = Param(Params._dummy(), "outputCol", "prediction in sales", TypeConverters.toString)

    @keyword_only
    def __init__(self, *, column=None, outputCol=None):
        super().__init__()
        self._setDefault(column="", outputCol="prediction")
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        column = self.getOrDefault(self.column)
        value = F.col(column).cast("double") if column else F.lit(0.0)
        return dataset.withColumn(self.getOrDefault(self.outputCol), value)
