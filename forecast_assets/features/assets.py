"""Features: the fitted `feature_pipeline` (a Spark PipelineModel) and the `feature_dataset` it makes."""

from datetime import date, timedelta
from typing import Literal

import dagster as dg
from pydantic import Field, field_validator
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StandardScaler, StringIndexer, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.ml.features import SalesWindowFeatures, check_holidays_country, stored_files
from forecast_assets.policies import spark_multi_asset

WINDOW_FEATURES = SalesWindowFeatures()


INDEXED = ["produto_idx", "categoria_idx"]  # the product and its category, as indices: the models' first inputs


def model_inputs(feature_pipeline: PipelineModel) -> list[str]:
    """The columns a fitted feature pipeline assembles into the models' `features` vector, in its order
    (INDEXED, then the window stage's feature_columns: with the holiday features when it has a country)."""
    return next(s.getInputCols() for s in feature_pipeline.stages if isinstance(s, VectorAssembler))


TRAIN, HOLDOUT = "train", "holdout"


class FeatureConfig(dg.Config):
    holdout_weeks: int = Field(
        default=4,
        ge=1,
        description="the last K weekly forecast origins are the holdout, each scored on its next H days: never "
        "seen by indexers, scaler or tuning",
    )
    horizon_days: int = Field(
        default=7, ge=1, le=28, description="H: days forecast after each origin (1 = the original next-day forecast)"
    )
    target: Literal["valor_total", "quantidade"] = Field(
        default="valor_total",
        description="what is forecast: valor_total (revenue, the original design's) or quantidade (units sold); "
        "the fitted pipeline keeps it, so every step after it follows (FORECAST_TARGET in automated runs)",
    )
    training_origins: Literal["auto", "weekly", "daily"] = Field(
        default="auto",
        description="the forecast origins of the training rows: weekly (Sundays, as served), daily (every day: "
        "about 7x the training rows) or auto (daily when that stays within daily_origins_max_rows). The holdout, "
        "drift and serving use weekly origins either way (FORECAST_TRAINING_ORIGINS in automated runs)",
    )
    holidays_country: str = Field(
        default="",
        description="public holidays of this country as features of the target day (holiday, days to and from the "
        "nearest): an ISO code of the holidays package, with an optional subdivision (BR, BR-SP, GB-SCT); '' for "
        "none (FORECAST_HOLIDAYS_COUNTRY in automated runs)",
    )
    daily_origins_max_rows: int = Field(
        default=250_000,
        ge=0,
        description="auto: the most training rows daily origins may make (measured: 3% lower RMSE on two real "
        "data sets of 8-20 series; on 100 products x 3 years they would be 7x the tuning time)",
    )

    @field_validator("holidays_country")
    @classmethod
    def _known_country(cls, code: str) -> str:
        if code.strip():
            check_holidays_country(code.strip())
        return code.strip().upper()


def holdout_origins(last_day: date, weeks: int, horizon: int) -> list[date]:
    """The last `weeks` Sundays whose next `horizon` days all lie in the data (ending on `last_day`)."""
    last_origin = last_day - timedelta(days=horizon)
    last_origin -= timedelta(days=(last_origin.weekday() + 1) % 7)  # back to a Sunday
    return [last_origin - timedelta(days=7 * (weeks - 1 - i)) for i in range(weeks)]


def daily_training_rows(sales: DataFrame, first_day: date, holdout_start: date, horizon: int) -> int:
    """About how many training rows daily origins make: per product, the days from its first origin (its first
    sale, and never before the features' minimum history) to the first holdout origin, times the horizon
    (before rows reading an unobserved week are left out)."""
    earliest = first_day + timedelta(days=WINDOW_FEATURES.min_history_days() - 1)
    first_origin = F.greatest(F.to_date(F.min("data_venda")), F.lit(earliest))
    days = F.greatest(F.datediff(F.lit(holdout_start), first_origin), F.lit(0))
    total = sales.groupBy("produto").agg(days.alias("days")).agg(F.sum("days")).first()[0]
    return horizon * int(total or 0)


def unobserved_weeks(raw_sales: DataFrame) -> list[str]:
    """Mondays of the weeks inside the data's range in which nothing at all sold (treated as unobserved)."""
    weeks = raw_sales.select(F.date_trunc("week", "data_venda").cast("date").alias("week")).distinct()
    present = sorted(r["week"] for r in weeks.collect())
    if not present:
        return []
    sold = set(present)
    every = [present[0] + timedelta(days=7 * i) for i in range((present[-1] - present[0]).days // 7 + 1)]
    return [str(week) for week in every if week not in sold]


def fit_feature_pipeline(
    sales: DataFrame,
    horizon: int = 7,
    fit_until: date | None = None,
    target: str = "valor_total",
    origin_days: int = 7,
    holidays_country: str = "",
    files: tuple[str, ...] | None = None,
) -> tuple[PipelineModel, DataFrame]:
    """Raw sales rows -> model-ready rows: the window features (computed once, cached), then indexers, assembler
    and scaler fitted on the rows of origins up to `fit_until` (all when None). A row's features read only days
    up to its origin, so these are the rows the sales up to `fit_until` alone would give. Returns the fitted
    PipelineModel and the window rows (cached: for sales read from stored `files`, kept for the run's later steps,
    see SalesWindowFeatures.transform_stored). `origin_days` 1 makes rows for every day's origin; the stored
    pipeline serves weekly (Sunday) origins either way."""
    windows = SalesWindowFeatures(horizon=horizon, target=target, holidaysCountry=holidays_country)
    rows = windows.copy({windows.originDays: origin_days}).transform_stored(sales, files)
    rows = rows if rows.is_cached else rows.cache()
    fitting = rows if fit_until is None else rows.filter(F.col("origin_date") <= F.lit(fit_until))
    fitted = Pipeline(
        stages=[
            # Products or categories unseen at training time get their own index instead of failing.
            StringIndexer(inputCol="produto", outputCol="produto_idx", handleInvalid="keep"),
            StringIndexer(inputCol="categoria_valor", outputCol="categoria_idx", handleInvalid="keep"),
            VectorAssembler(inputCols=[*INDEXED, *windows.feature_columns()], outputCol="features_raw"),
            StandardScaler(inputCol="features_raw", outputCol="features", withMean=True, withStd=True),
        ]
    ).fit(fitting)
    return PipelineModel(stages=[windows, *fitted.stages]), rows


@spark_multi_asset(
    group_name="features",
    outs={
        "feature_pipeline": dg.AssetOut(
            io_manager_key="ml_models_io",
            kinds={"spark"},
            description="The fitted feature PipelineModel (window features, indexers, assembler, scaler), "
            "fitted on the training period only. It turns raw sales rows into model-ready rows by itself.",
        ),
        "feature_dataset": dg.AssetOut(
            io_manager_key="ml_data_io",
            kinds={"spark", "parquet"},
            description="One row per product, weekly forecast origin and horizon (1..H days ahead): raw features, "
            "the scaled `features` vector, the `target`, and `split` (train: targets up to the first holdout "
            "origin; holdout: the last K origins). Rows reading an unobserved week are left out.",
        ),
    },
)
def features(context: dg.AssetExecutionContext, config: FeatureConfig, raw_sales: DataFrame):
    """Reads every stored `raw_sales` week; computes the window features once; fits indexers and scaler on the
    rows of origins up to the first holdout origin (features read only days up to their origin); transforms
    all. The series is the daily sum of `target` (revenue by default, or units). Weeks without any sale inside
    the data are unobserved: logged, never zeros."""
    stored = stored_files(raw_sales)  # the stored weeks: the window rows' identity for the run's later steps
    raw_sales = raw_sales.select("produto", "categoria_valor", "quantidade", "valor_total", "data_venda").cache()
    first_day, last_day = raw_sales.agg(F.min("data_venda"), F.max("data_venda")).first()
    if last_day is None:
        raise dg.Failure("raw_sales holds no rows: nothing to learn from")
    origins = holdout_origins(last_day, config.holdout_weeks, config.horizon_days)
    holdout_start = origins[0]
    gaps = unobserved_weeks(raw_sales)
    if gaps:
        context.log.warning(
            f"{len(gaps)} week(s) without any sale inside the data ({', '.join(gaps[:10])}): treated as unobserved; "
            "rows whose lags, seasonal anchor or target fall in them are left out of training and evaluation"
        )
    context.log.info(
        f"training targets up to {holdout_start}; holdout origins {', '.join(map(str, origins))} "
        f"(each forecasting {config.horizon_days} days)"
    )

    daily_rows = daily_training_rows(raw_sales, first_day, holdout_start, config.horizon_days)
    daily = config.training_origins == "daily" or (
        config.training_origins == "auto" and daily_rows <= config.daily_origins_max_rows
    )
    training_origins = "daily" if daily else "weekly"
    context.log.info(
        f"training origins: {training_origins} ({config.training_origins}; daily origins would make "
        f"about {daily_rows:,} training rows, auto's limit {config.daily_origins_max_rows:,})"
    )
    pipeline_model, window_rows = fit_feature_pipeline(
        raw_sales,
        config.horizon_days,
        fit_until=holdout_start,
        target=config.target,
        origin_days=1 if daily else 7,
        holidays_country=config.holidays_country,
        files=stored,
    )
    rows = PipelineModel(stages=pipeline_model.stages[1:]).transform(window_rows).drop("features_raw")
    split = F.when(F.col("origin_date").isin(*origins), HOLDOUT).when(
        F.col("forecast_date") <= F.lit(holdout_start), TRAIN
    )
    counted = rows.withColumn("split", split).cache()
    summary = {(r["split"], r["complete"]): r["count"] for r in counted.groupBy("split", "complete").count().collect()}
    dataset = counted.filter(F.col("complete") & F.col("split").isNotNull()).drop("complete")
    counts = {name: summary.get((name, True), 0) for name in (TRAIN, HOLDOUT)}
    excluded = sum(n for (name, complete), n in summary.items() if name and complete is False)
    raw_sales.unpersist()
    if not counts[TRAIN] or not counts[HOLDOUT]:
        raise dg.Failure(
            f"not enough history: {counts[TRAIN]} training and {counts[HOLDOUT]} holdout rows from sales "
            f"{first_day} .. {last_day}; features need {WINDOW_FEATURES.min_history_days()} days of data before the "
            f"first forecast origin, plus {config.holdout_weeks} holdout origin(s) of {config.horizon_days} days"
        )
    lineage = {
        "sales_range": f"{first_day} .. {last_day}",
        "holdout_start": str(holdout_start),
        "holdout_origins": [str(o) for o in origins],
        "holdout_weeks": config.holdout_weeks,
        "horizon_days": config.horizon_days,
        "target": config.target,
        "training_origins": training_origins,
        "holidays_country": config.holidays_country or "none",
        "unobserved_weeks": gaps,
    }
    yield dg.Output(
        pipeline_model, output_name="feature_pipeline", metadata={**lineage, "stages": len(pipeline_model.stages)}
    )
    yield dg.Output(
        dataset,
        output_name="feature_dataset",
        metadata={
            **lineage,
            "train_rows": counts[TRAIN],
            "holdout_rows": counts[HOLDOUT],
            "rows_left_out_unobserved": excluded,
            "features": ", ".join(model_inputs(pipeline_model)),
        },
    )
    counted.unpersist()
