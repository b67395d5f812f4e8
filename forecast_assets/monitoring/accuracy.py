"""Realized accuracy: every stored forecast scored against the sales that actually happened."""

import math
from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from forecast_assets.evaluation.assets import BASELINES
from forecast_assets.ml.features import KEY_COLUMNS, TARGETS, SalesWindowFeatures, forecast_column
from forecast_assets.ml.metrics import forecast_metrics
from forecast_assets.policies import spark_asset
from forecast_assets.reporting import plots
from forecast_assets.resources.storage import Warehouse
from forecast_assets.serving.assets import INTERVAL_COLUMNS, INTERVALS
from forecast_assets.settings import DATA_BUCKET

CHAMPION, SHADOW = "champion", "shadow"


SOURCES = {"sales_forecast": CHAMPION, "shadow_forecast": SHADOW}


WORSE_CHECK, COVERAGE_CHECK = "champion_not_worse_than_alternatives", "interval_coverage_near_nominal"


class AccuracyConfig(dg.Config):
    worse_weeks: int = Field(
        default=3,
        ge=1,
        description="warn when the champion's realized RMSE was worse than the best baseline's, or the shadow's, "
        "for this many consecutive scored forecast weeks",
    )
    coverage_margin: float = Field(
        default=0.1, gt=0, lt=1, description="warn when an interval's realized coverage is this far from nominal"
    )


def stored_forecasts(warehouse: Warehouse, spark) -> tuple[DataFrame | None, str]:
    """Every stored version of sales_forecast (the champion's) and shadow_forecast in the target the newest
    sales_forecast forecasts (a version's column says: forecast_valor_total or forecast_quantidade; versions of
    the other target are left out), the latest version of each forecast origin kept: source, version, produto,
    origin_date, horizon, forecast_date, forecast, intervals. Returns them and that target."""
    stored_versions = []
    for asset, source in SOURCES.items():
        versions = sorted({o.key.split("/")[1] for o in warehouse.list_objects(DATA_BUCKET, f"{asset}/v")})
        for version in versions:
            frame = spark.read.parquet(warehouse.uri(DATA_BUCKET, f"{asset}/{version}"))
            its = next(t for t in TARGETS if forecast_column(t) in frame.columns)
            stored_versions.append((source, version, its, frame))
    champion = [its for source, _, its, _ in stored_versions if source == CHAMPION]
    target = champion[-1] if champion else TARGETS[0]
    frames = []
    for source, version, its, frame in stored_versions:
        if its != target:
            continue
        for column in INTERVAL_COLUMNS:
            if column not in frame.columns:  # stored before intervals existed
                frame = frame.withColumn(column, F.lit(None).cast("double"))
        frames.append(
            frame.select(
                F.lit(source).alias("source"),
                F.lit(int(version.removeprefix("v"))).alias("version"),
                *KEY_COLUMNS,
                "forecast_date",
                F.col(forecast_column(target)).alias("forecast"),
                *INTERVAL_COLUMNS,
            )
        )
    if not frames:
        return None, target
    stored = frames[0]
    for frame in frames[1:]:
        stored = stored.unionByName(frame)
    latest = Window.partitionBy("source", "origin_date").orderBy(F.col("version").desc())
    newest = stored.select("source", "origin_date", "version").distinct().withColumn("rank", F.rank().over(latest))
    return stored.join(newest.filter("rank = 1").drop("rank"), ["source", "origin_date", "version"]), target


def baseline_forecasts(raw_sales: DataFrame, scored: DataFrame, horizon: int, target: str) -> DataFrame:
    """The baselines' forecasts for the champion's scored rows, from the window features at each origin."""
    transformer = SalesWindowFeatures(horizon=horizon, target=target)
    first = scored.agg(F.min("origin_date")).first()[0]
    # The run's window rows when features made them from these stored weeks with the same parameters; else the
    # windows of the scored origins only (as sales_forecast reads them): not the whole history each week.
    since = first - timedelta(days=transformer.history_days() + 7)
    stored = transformer.stored(raw_sales)
    windows = transformer.transform(raw_sales.filter(F.col("data_venda") >= F.lit(since))) if stored is None else stored
    columns = {name: column for name, column in BASELINES.items() if column}
    rows = scored.filter(F.col("source") == CHAMPION).select(*KEY_COLUMNS, "forecast_date", "actual")
    joined = rows.join(windows.select(*KEY_COLUMNS, *set(columns.values())), KEY_COLUMNS)
    frames = [
        joined.select(
            F.lit(name).alias("source"),
            F.lit(0).alias("version"),
            *KEY_COLUMNS,
            "forecast_date",
            (F.col(column).cast("double") if column else F.lit(0.0)).alias("forecast"),
            "actual",
        )
        for name, column in BASELINES.items()
    ]
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per source and forecast origin: rows, rmse, mae, wape, bias and (where there are intervals) coverage."""
    out = []
    for (source, origin), group in rows.groupby(["source", "origin_date"], sort=True):
        metrics = forecast_metrics(group["actual"].to_numpy(), group["forecast"].to_numpy(), 1.0)
        record = {"source": source, "origin_date": str(origin), "rows": len(group)}
        record |= {m: metrics[m] for m in ("rmse", "mae", "wape", "bias")}
        for coverage in INTERVALS:
            pct = round(coverage * 100)
            inside = (group["actual"] >= group[f"lower_{pct}"]) & (group["actual"] <= group[f"upper_{pct}"])
            known = group[f"lower_{pct}"].notna()
            record[f"coverage_{pct}"] = float(inside[known].mean()) if known.any() else float("nan")
        out.append(record)
    return pd.DataFrame(out)


def worse_streak(table: pd.DataFrame, against: list[str]) -> int:
    """How many of the latest scored origins in a row the champion's RMSE was above the best of `against`."""
    pivot = table.pivot(index="origin_date", columns="source", values="rmse").sort_index()
    present = [name for name in against if name in pivot.columns]
    if CHAMPION not in pivot.columns or not present:
        return 0
    worse = pivot[CHAMPION] > pivot[present].min(axis=1)
    streak = 0
    for value in reversed(worse.to_numpy()):
        if not value:
            break
        streak += 1
    return streak


@spark_asset(
    group_name="monitoring",
    io_manager_key="ml_data_io",
    kinds={"spark", "parquet"},
    # shadow_forecast's versions are read too, but not waited for: a first promotion has no shadow, and the
    # forecasts of this very run lie after the last actual day (nothing of them can be scored yet).
    deps=["sales_forecast"],
    check_specs=[
        dg.AssetCheckSpec(
            WORSE_CHECK,
            asset="forecast_accuracy",
            description="a warning when the champion's realized RMSE was worse than the best baseline's or the "
            "shadow's for worse_weeks consecutive forecast weeks",
        ),
        dg.AssetCheckSpec(
            COVERAGE_CHECK,
            asset="forecast_accuracy",
            description="a warning when the champion's 80% or 95% intervals held the actual sales on a share of "
            "days further than coverage_margin from 80% or 95%",
        ),
    ],
)
def forecast_accuracy(
    context: dg.AssetExecutionContext, config: AccuracyConfig, raw_sales: DataFrame, warehouse: Warehouse
):
    """Realized accuracy, a growing time series: every stored forecast (each sales_forecast version, the
    champion's; each shadow_forecast version; and the baselines at the same origins) whose days the stored
    raw_sales now cover, scored against the actual sales, one row per source, product, origin and day (a day
    without a sale row is a zero). Metadata: per forecast week RMSE, MAE, WAPE, bias and the champion's
    interval coverage, a plot of both over time. Recomputed whole from the stored versions each run."""
    spark = raw_sales.sparkSession
    last_day = raw_sales.agg(F.max("data_venda")).first()[0]
    stored, target = stored_forecasts(warehouse, spark)
    schema = (
        "source string, version int, produto string, origin_date date, horizon int, forecast_date date, "
        "forecast double, actual double, " + ", ".join(f"{column} double" for column in INTERVAL_COLUMNS)
    )
    if stored is None or last_day is None:
        scored = spark.createDataFrame([], schema)
    else:
        daily = raw_sales.groupBy("produto", F.col("data_venda").alias("forecast_date")).agg(
            F.sum(target).alias("actual")
        )
        scored = (
            stored.filter(F.col("forecast_date") <= F.lit(last_day))
            .join(daily, ["produto", "forecast_date"], "left")
            .withColumn("actual", F.coalesce("actual", F.lit(0.0)))
        )
        horizon = scored.agg(F.max("horizon")).first()[0]
        if horizon:
            scored = scored.unionByName(
                baseline_forecasts(raw_sales, scored, int(horizon), target), allowMissingColumns=True
            )
    scored = scored.cache()
    rows = scored.toPandas()
    table = summary(rows) if len(rows) else pd.DataFrame(columns=["source", "origin_date", "rmse"])
    origins = sorted(table["origin_date"].unique()) if len(table) else []
    against_baselines, against_shadow = worse_streak(table, list(BASELINES)), worse_streak(table, [SHADOW])
    yield dg.Output(
        scored,
        metadata={
            "scored_rows": len(rows),
            "forecast_weeks_scored": len(origins),
            "last_actual_day": str(last_day),
            # Read by the drift sensor (FORECAST_DRIFT_NEEDS_WORSE_ACCURACY): latest weeks in a row worse than ...
            "weeks_worse_than_best_baseline": against_baselines,
            "weeks_worse_than_shadow": against_shadow,
            "by_week": _table(table),
            "plot": dg.MetadataValue.md(accuracy_plot(table) if len(table) else "nothing to score yet"),
        },
    )

    worse = max(against_baselines, against_shadow) >= config.worse_weeks
    yield dg.AssetCheckResult(
        check_name=WORSE_CHECK,
        passed=not worse,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"the champion's realized RMSE was above the best baseline's for the last {against_baselines} and above "
            f"the shadow's for the last {against_shadow} scored week(s) (warning at {config.worse_weeks})"
        ),
        metadata={"weeks_worse_than_best_baseline": against_baselines, "weeks_worse_than_shadow": against_shadow},
    )
    champion = rows[rows["source"] == CHAMPION] if len(rows) else rows
    realized = {}
    for coverage in INTERVALS:
        pct = round(coverage * 100)
        known = champion[champion[f"lower_{pct}"].notna()] if len(champion) else champion
        inside = (known["actual"] >= known[f"lower_{pct}"]) & (known["actual"] <= known[f"upper_{pct}"])
        realized[pct] = float(inside.mean()) if len(known) else float("nan")
    off = {
        pct: value
        for pct, value in realized.items()
        if math.isfinite(value) and abs(value - pct / 100) > config.coverage_margin
    }
    yield dg.AssetCheckResult(
        check_name=COVERAGE_CHECK,
        passed=not off,
        severity=dg.AssetCheckSeverity.WARN,
        description=", ".join(
            f"{pct}% intervals held {value:.1%} of the actual days" for pct, value in realized.items()
        )
        if any(math.isfinite(v) for v in realized.values())
        else "no interval has met its actual sales yet",
        metadata={f"coverage_{pct}": (value if math.isfinite(value) else None) for pct, value in realized.items()},
    )
    scored.unpersist()


def _table(table: pd.DataFrame) -> dg.MetadataValue:
    columns = list(table.columns)
    records = [
        dg.TableRecord({c: (None if isinstance(v, float) and not np.isfinite(v) else v) for c, v in row.items()})
        for row in table.to_dict(orient="records")
    ]
    kinds = {"source": "string", "origin_date": "string", "rows": "int"}
    schema = dg.TableSchema(columns=[dg.TableColumn(c, kinds.get(c, "float")) for c in columns])
    return dg.MetadataValue.table(records=records, schema=schema)


def accuracy_plot(table: pd.DataFrame) -> str:
    """Realized RMSE per forecast week: the champion, the shadow, the best baseline; and interval coverage."""
    plt = plots._pyplot()
    pivot = table.pivot(index="origin_date", columns="source", values="rmse").sort_index()
    baselines = [c for c in pivot.columns if c not in (CHAMPION, SHADOW)]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    for name in (CHAMPION, SHADOW):
        if name in pivot.columns:
            left.plot(pivot.index, pivot[name], marker="o", label=name)
    if baselines:
        left.plot(pivot.index, pivot[baselines].min(axis=1), marker="x", linestyle="--", label="best baseline")
    left.set_title("realized RMSE per forecast week")
    left.legend()
    left.tick_params(axis="x", labelrotation=45)
    champion = table[table["source"] == CHAMPION].set_index("origin_date").sort_index()
    for coverage in INTERVALS:
        pct = round(coverage * 100)
        right.plot(champion.index, champion[f"coverage_{pct}"], marker="o", label=f"{pct}% interval")
        right.axhline(coverage, linestyle=":", color="grey")
    right.set_ylim(0, 1.05)
    right.set_title("realized interval coverage (champion)")
    right.legend()
    right.tick_params(axis="x", labelrotation=45)
    return plots.as_markdown_image(figure, "realized accuracy")
