"""Serving: `sales_forecast`, the next H days from the production model with conformal intervals, and
`shadow_forecast`, the same days from the model that does not serve."""

import math
from datetime import date, timedelta

import dagster as dg
import pandas as pd
from pydantic import Field
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.features.assets import holdout_origins
from forecast_assets.ml.features import (
    BaselineForecaster,
    SalesWindowFeatures,
    forecast_column,
    target_of,
)
from forecast_assets.ml.metrics import conformal_quantile
from forecast_assets.ml.report import ComparisonReport
from forecast_assets.policies import spark_asset
from forecast_assets.reporting import plots
from forecast_assets.reporting.tables import frame_table
from forecast_assets.training.assets import candidate_ins, fitted_by_name, serving_model

FORECAST_COVERS_ACTIVE = "forecast_covers_active_products"


MODEL, NEW_PRODUCT = "model", "new_product_mean"


INTERVALS = (0.8, 0.95)  # nominal coverages of the prediction intervals


KEY_FORECAST_COLUMNS = ["produto", "categoria_valor", "origin_date", "horizon", "forecast_date"]


INTERVAL_COLUMNS = [f"{side}_{round(c * 100)}" for c in INTERVALS for side in ("lower", "upper")]


class ForecastConfig(dg.Config):
    active_weeks: int = Field(
        default=8, ge=1, description="products that sold within this many weeks before the last sale day are forecast"
    )
    calibration_weeks: int = Field(
        default=4,
        ge=1,
        description="the prediction intervals are calibrated on the serving model's errors over the holdout origins "
        "of the latest feature_dataset (never seen in its training), or, without one, the last K weekly origins "
        "whose H days lie in the data (split conformal, per horizon)",
    )
    plot_weeks: int = Field(default=8, ge=1, description="weeks of actual sales before the forecast in its plot")


def calibration_origins(context, last_day: date, weeks: int, horizon: int) -> list[date]:
    """The origins whose errors calibrate the intervals: the latest feature_dataset's holdout origins (out of
    sample for a model promoted from it and for any older champion), else the last `weeks` complete origins."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("feature_dataset"))
    stored = event.asset_materialization.metadata.get("holdout_origins") if event else None
    if stored is not None:
        return [date.fromisoformat(o) for o in stored.value]
    return holdout_origins(last_day, weeks, horizon)


def interval_widths(calibration, horizon: int) -> dict[int, dict[float, float]]:
    """Per horizon and nominal coverage, the conformal quantile of |actual - forecast| / level (the product's
    112-day mean + 1): an interval is forecast -+ that quantile times the product's level."""
    calibration = calibration.assign(
        score=(calibration["target"] - calibration["prediction"]).abs() / calibration["level"]
    )
    return {
        h: {c: conformal_quantile(rows["score"].to_numpy(), c) for c in INTERVALS}
        for h, rows in calibration.groupby("horizon")
    } | {h: {c: math.inf for c in INTERVALS} for h in range(1, horizon + 1) if h not in set(calibration["horizon"])}


def forecast_origin(last_day: date) -> date:
    """The end (a Sunday) of the last complete Monday-Sunday week of the data."""
    return last_day - timedelta(days=(last_day.weekday() + 1) % 7)


def widths_table(widths: dict[int, dict[float, float]]) -> pd.DataFrame:
    table = pd.DataFrame(widths).T.rename(columns=lambda c: f"q{round(c * 100)}").rename_axis("horizon")
    return table.round(4)


def spark_widths(spark, widths: dict[int, dict[float, float]]):
    """The interval widths as a small Spark frame: horizon, q80, q95 (null where too few errors to calibrate)."""
    rows = [(h, *[None if math.isinf(q[c]) else q[c] for c in INTERVALS]) for h, q in sorted(widths.items())]
    return spark.createDataFrame(rows, "horizon int, " + ", ".join(f"q{round(c * 100)} double" for c in INTERVALS))


def history_since(windows: SalesWindowFeatures, last_day: date, active_weeks: int) -> date:
    """The first day of sales a forecast reads: every window of the origin, and the whole active window."""
    origin = forecast_origin(last_day)
    return min(origin - timedelta(days=windows.history_days() + 7), last_day - timedelta(days=7 * active_weeks - 1))


def forecast_with(
    context, config: ForecastConfig, model: PipelineModel, raw_sales: DataFrame
) -> tuple[DataFrame, dict, tuple]:
    """The next H days for every active product from `model`, with conformal intervals: the forecast, its
    metadata, and (counts, active products, active since, H) for the coverage check."""
    windows = model.stages[0]
    target = target_of(model)  # what the production model forecasts: its stored window stage says
    value = forecast_column(target)
    served = model.stages[-1]
    method = MODEL
    if isinstance(served, BaselineForecaster):
        column = served.getOrDefault(served.column)
        statistical_name = column.removeprefix("stat_") if column.startswith("stat_") else None
        method = statistical_name or f"baseline_{column or 'zero'}"
    horizon = windows.getOrDefault(windows.horizon)
    last_day = raw_sales.agg(F.max("data_venda")).first()[0]
    origin = forecast_origin(last_day)
    active_since = last_day - timedelta(days=7 * config.active_weeks - 1)
    origins = calibration_origins(context, last_day, config.calibration_weeks, horizon)
    if windows.statistical_models():  # the statistical fits at the calibration origins too, not only the latest
        weeks = (origin - min(origins)).days // 7 + 1
        if weeks > windows.getOrDefault(windows.statisticalOrigins):
            windows = windows.copy({windows.statisticalOrigins: weeks})
            model = PipelineModel(stages=[windows, *model.stages[1:]])
    since = min(
        history_since(windows, last_day, config.active_weeks), min(origins) - timedelta(days=windows.history_days() + 7)
    )
    # A model reading statistical forecasts reads the whole stored history: the fits need years of it anyway, and
    # the same query as model_comparison's reuses its fits (ml/features.py, _FittedForecasts) instead of redoing them.
    history = raw_sales if windows.statistical_models() else raw_sales.filter(F.col("data_venda") >= F.lit(since))
    # In a run, features has made the window rows of these stored weeks (the same at every origin read here): only
    # the model's later stages run, on the origins read. Alone, the history the origins need is transformed.
    stored = windows.stored(raw_sales)
    rows = (
        windows.transform(history)
        if stored is None
        else stored.filter(F.col("origin_date").isin(*sorted({*origins, origin})))
    )
    # Read twice (the calibration errors, the forecast rows): the window transform runs once.
    scored = (
        PipelineModel(stages=model.stages[1:])
        .transform(rows)
        .withColumn("prediction", F.greatest(F.col("prediction"), F.lit(0.0)))
        .cache()
    )
    calibration = (
        scored.filter(F.col("origin_date").isin(*origins) & F.col("complete"))
        .select("horizon", "target", "prediction", "level")
        .toPandas()
    )
    widths = interval_widths(calibration, horizon)
    active = (
        history.groupBy("produto")
        .agg(
            F.max("data_venda").alias("last_sale"),
            F.min("data_venda").alias("first_sale"),
            F.max("categoria_valor").alias("categoria_valor"),
            F.sum(target).alias("total"),
        )
        .filter(F.col("last_sale") >= F.lit(active_since))
    )
    days = F.date_add(F.lit(origin), F.col("horizon"))
    modelled = (
        scored.filter(F.col("origin_date") == F.lit(origin))
        .join(active.select("produto"), "produto")
        .select(
            "produto",
            "categoria_valor",
            "origin_date",
            "horizon",
            "forecast_date",
            F.col("prediction").alias(value),
            # a model chosen per demand class says per product which of its choices served it
            (F.col("method") if "method" in scored.columns else F.lit(method)).alias("method"),
            "level",
        )
    )
    newcomers = (
        active.join(modelled.select("produto").distinct(), "produto", "left_anti")
        .withColumn("horizon", F.explode(F.sequence(F.lit(1), F.lit(horizon))))
        .select(
            "produto",
            "categoria_valor",
            F.lit(origin).alias("origin_date"),
            "horizon",
            days.alias("forecast_date"),
            (F.col("total") / (F.datediff(F.lit(last_day), "first_sale") + 1)).alias(value),
            F.lit(NEW_PRODUCT).alias("method"),
        )
        .withColumn("level", F.col(value) + F.lit(1.0))  # their mean + 1, as a level
    )
    width_rows = spark_widths(raw_sales.sparkSession, widths)
    bounds = []
    for coverage in INTERVALS:
        width = F.col(f"q{round(coverage * 100)}") * F.col("level")
        bounds += [
            F.greatest(F.col(value) - width, F.lit(0.0)).alias(f"lower_{round(coverage * 100)}"),
            (F.col(value) + width).alias(f"upper_{round(coverage * 100)}"),
        ]
    forecast = (
        modelled.unionByName(newcomers)
        .join(F.broadcast(width_rows), "horizon")
        .select(*KEY_FORECAST_COLUMNS, value, *bounds, "method")
        .orderBy("produto", "horizon")
        .cache()
    )
    methods = {
        r["method"]: r["count"]
        for r in forecast.groupBy("method").agg(F.countDistinct("produto").alias("count")).collect()
    }
    per_product = forecast.groupBy("produto").count()
    counts = per_product.agg(
        F.count("*").alias("products"), F.min("count").alias("fewest"), F.max("count").alias("most")
    ).first()
    active_count = active.count()
    scored.unpersist()  # the forecast itself is cached and counted
    preview = forecast.filter(F.col("horizon") == 1).limit(10).toPandas()
    plot = plots.forecast_by_category(
        history.filter(F.col("data_venda") > F.lit(origin - timedelta(weeks=config.plot_weeks)))
        .groupBy("categoria_valor", F.col("data_venda").alias("day"))
        .agg(F.sum(target).alias("sales"))
        .toPandas(),
        forecast.groupBy("categoria_valor", "forecast_date")
        .agg(F.sum(value).alias("forecast"), *[F.sum(c).alias(c) for c in INTERVAL_COLUMNS])
        .toPandas(),
        target,
    )
    metadata = {
        "forecast_origin": str(origin),
        "target": target,
        "forecast_days": f"{origin + timedelta(days=1)} .. {origin + timedelta(days=horizon)}",
        "horizon_days": horizon,
        "products": counts["products"],
        "active_products": active_count,
        "by_method": dg.MetadataValue.json(methods),
        "intervals": (
            f"Split-conformal on |actual - forecast| / level over origins {', '.join(map(str, origins))} "
            f"({len(calibration)} rows): interval = forecast -+ q x level, never below 0 (table: interval_widths)"
        ),
        "interval_widths": frame_table(widths_table(widths), index="horizon"),
        "preview": frame_table(preview),
        "forecast_plot": dg.MetadataValue.md(plot),
    }
    return forecast, metadata, (counts, active_count, active_since, horizon)


@spark_asset(
    group_name="serving",
    io_manager_key="ml_data_io",
    kinds={"spark", "parquet"},
    deps=["feature_dataset"],  # its holdout origins (metadata) calibrate the intervals: calibration_origins
    check_specs=[
        dg.AssetCheckSpec(
            FORECAST_COVERS_ACTIVE,
            asset="sales_forecast",
            blocking=True,
            description="every product that sold within the active window has one forecast for each of the H days",
        )
    ],
)
def sales_forecast(
    context: dg.AssetExecutionContext, config: ForecastConfig, production_model: PipelineModel, raw_sales: DataFrame
):
    """The next H days of sales (H = the production model's horizon, default 7) for every active product (sold
    within the last `active_weeks`), from the end of the last complete week of the latest stored `raw_sales`.
    `method` says how: `model` (the production model: feature pipeline + regressor, through exactly the code
    path used in training; `baseline_<column>` while a baseline serves) or `new_product_mean` (a product whose
    first sale came after that week: its mean daily sales since its first sale, on each day)."""
    forecast, metadata, (counts, active_count, active_since, horizon) = forecast_with(
        context, config, production_model, raw_sales
    )
    yield dg.Output(forecast, metadata=metadata)
    covered = counts["products"] == active_count and counts["fewest"] == horizon and counts["most"] == horizon
    yield dg.AssetCheckResult(
        check_name=FORECAST_COVERS_ACTIVE,
        passed=bool(covered),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{counts['products']} products forecast for {horizon} days each; {active_count} sold since "
        f"{active_since}" + ("" if covered else ": the forecast leaves products out or repeats days"),
        metadata={"forecast_products": counts["products"], "active_products": active_count},
    )


@spark_asset(
    group_name="serving",
    io_manager_key="ml_data_io",
    kinds={"spark", "parquet"},
    ins=lambda settings: {
        "model_comparison": dg.AssetIn(),
        "feature_pipeline": dg.AssetIn(),
        "raw_sales": dg.AssetIn(),
        **candidate_ins(settings),
    },
    deps=["production_model", "feature_dataset"],  # the ledger's previous model; the calibration origins
    output_required=False,
    required_resource_keys={"ml_models_io"},
)
def shadow_forecast(
    context: dg.AssetExecutionContext,
    config: ForecastConfig,
    model_comparison: dict,
    feature_pipeline: PipelineModel,
    raw_sales: DataFrame,
    **candidates,
):
    """The forecast of the model that does not serve, made beside the one that does (the original design's A/B
    test, done safely: only `sales_forecast` is the product's output): the best challenger when it was not
    promoted, or, after a promotion, the champion it replaced. The same products, days and intervals as
    sales_forecast, with `shadow_role` (challenger / previous_champion) and `shadow_model`; forecast_accuracy
    scores both when the actual sales land. Nothing after a first promotion (there is no earlier model)."""
    report = ComparisonReport.of(model_comparison)
    gate, champion = report.gate, report.champion
    if gate.passed and not champion:
        context.log.info("the first promoted model has no predecessor: no shadow forecast this run")
        return
    if gate.passed:
        role, name = "previous_champion", f"{champion['model']} (version {champion['version']})"
        model = context.resources.ml_models_io.load_key(champion["key"])
    else:
        role, name = "challenger", gate.best_model
        entry, weeks = report.models[name], len(report.holdout.origins)
        model = serving_model(name, feature_pipeline, fitted_by_name(candidates), entry, weeks)
    forecast, metadata, _ = forecast_with(context, config, model, raw_sales)
    forecast = forecast.withColumn("shadow_role", F.lit(role)).withColumn("shadow_model", F.lit(name))
    yield dg.Output(forecast, metadata={**metadata, "shadow_role": role, "shadow_model": name})
