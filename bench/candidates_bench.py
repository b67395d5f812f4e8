"""Boosting candidates on a stored feature_dataset: Spark's GBTRegressor against XGBoost's Spark estimator.

Reads the current `feature_dataset` of a warehouse that `bench/run_bench.py` (or `make run`) left, tunes each
variant with the product's own time-ordered cross-validation on the training split, refits the best on the whole
split, and scores it on the holdout rows exactly as `model_comparison` does (predictions x level, RMSE averaged
over the origins), printing accuracy, the best grid point and wall time. Nothing here is asserted in a test.

usage: python bench/candidates_bench.py bench/out/retail_M/warehouse [--only xgboost,gbt_original] [--per-horizon]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from forecast_assets.evaluation.assets import BASELINES
from forecast_assets.features.assets import HOLDOUT, TRAIN
from forecast_assets.ml.features import LevelRescaler, weekly_origin  # noqa: E402
from forecast_assets.ml.metrics import evaluate_forecasts  # noqa: E402
from forecast_assets.ml.tuning import GrowingGBTRegressor, ProgressEvaluator, TimeSeriesCrossValidator  # noqa: E402
from forecast_assets.resources.spark import python_for_spark_tasks  # noqa: E402
from forecast_assets.training.assets import CANDIDATES, predicting_into


def variants(grid: str = "full") -> dict:
    """name -> (estimator factory, grid as {param: values}); the original design's GBT grid is kept for the
    comparison, whatever the product's candidates are."""
    from pyspark.ml.tuning import ParamGridBuilder  # noqa: F401

    found = {c.name: (c.estimator, c.grids[grid]) for c in CANDIDATES}
    found["gbt_original"] = (
        lambda: GrowingGBTRegressor(featuresCol="features", labelCol="target_relative", seed=42),
        {"maxIter": [10, 20], "maxDepth": [5, 10]},
    )
    return found


def grid_of(estimator, grid: dict) -> list[dict]:
    from pyspark.ml.tuning import ParamGridBuilder

    builder = ParamGridBuilder()
    for name, values in grid.items():
        builder.addGrid(estimator.getParam(name), values)
    return builder.build()


def stored_feature_dataset(warehouse: Path):
    """A local Spark session (the product's driver memory and shuffle partitions) and the current feature_dataset
    of `warehouse`: (spark, its path, the frame)."""
    manifest = json.loads((warehouse / "ml-data" / "feature_dataset" / "_manifest.json").read_text())
    path = warehouse / "ml-data" / manifest["current"]["__all__"]["key"]
    python_for_spark_tasks()
    spark = (
        SparkSession.builder.master("local[*]")
        .config("spark.driver.memory", "6g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark, path, spark.read.parquet(str(path))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("--only", default="", help="comma-separated variant names")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--grid", default="full", choices=["full", "small"], help="the candidates' grids")
    ap.add_argument(
        "--per-horizon",
        action="store_true",
        help="also tune and fit each variant once per horizon (direct models) beside the horizon-as-a-feature one",
    )
    args = ap.parse_args()
    spark, path, data = stored_feature_dataset(args.warehouse)
    cores = spark.sparkContext.defaultParallelism
    train = (
        data.filter(F.col("split") == TRAIN)
        .select("features", "target_relative", "target", "level", "forecast_date", "horizon")
        .repartition(cores)
        .cache()
    )
    holdout = data.filter(F.col("split") == HOLDOUT).cache()
    print(f"{path}: {train.count()} training rows, {holdout.count()} holdout rows, {cores} cores")
    scale = (
        data.filter((F.col("split") == TRAIN) & (F.col("horizon") <= 7) & weekly_origin())
        .agg(F.avg(F.abs(F.col("target") - F.col("seasonal_naive"))))
        .first()[0]
    )
    frame = holdout.select("produto", "origin_date", "horizon", "forecast_date", "target", "level").toPandas()
    base = holdout.select(*sorted({c for c in BASELINES.values() if c})).toPandas()
    rows = []
    for name, column in BASELINES.items():
        frame[name] = base[column] if column else 0.0
        rows.append((name, evaluate_forecasts(frame, name, scale), None, None))
    chosen = [v for v in args.only.split(",") if v] or list(variants())
    horizons = sorted(frame["horizon"].unique())

    def tune(name: str, rows_to_fit, rows_to_score):
        factory, grid = variants(args.grid)[name]
        estimator = factory()
        maps = grid_of(estimator, grid)
        validator = TimeSeriesCrossValidator(
            estimator=estimator,
            estimatorParamMaps=maps,
            evaluator=ProgressEvaluator(
                lambda *_: None, level_col="level", labelCol="target", predictionCol="prediction", metricName="rmse"
            ),
            numFolds=args.folds,
            parallelism=2,
            timeCol="forecast_date",
        )
        tuned = validator.fit(rows_to_fit)
        best = {p.name: v for p, v in maps[min(range(len(maps)), key=lambda i: tuned.avgMetrics[i])].items()}
        relative = predicting_into(tuned.bestModel, "relative").transform(rows_to_score)
        scored = LevelRescaler(inputCol="relative", outputCol="prediction").transform(relative)
        return scored.select("produto", "origin_date", "horizon", "prediction").toPandas(), best, min(tuned.avgMetrics)

    def add(name: str, predicted: pd.DataFrame, seconds: float, best) -> None:
        merged = frame.merge(predicted, on=["produto", "origin_date", "horizon"], how="left")
        frame[name] = merged["prediction"].to_numpy()
        rows.append((name, evaluate_forecasts(frame, name, scale), seconds, best))

    for name in chosen:
        started = time.perf_counter()
        predicted, best, cv = tune(name, train, holdout)
        seconds = time.perf_counter() - started
        add(name, predicted, seconds, best)
        print(f"{name}: {seconds:.1f} s, best {best}, cv rmse {cv:.3f}", flush=True)
        if args.per_horizon:  # direct: one model per horizon, each tuned on its own horizon's rows
            started, parts, bests = time.perf_counter(), [], {}
            for h in horizons:
                part, bests[int(h)], _ = tune(
                    name, train.filter(F.col("horizon") == int(h)), holdout.filter(F.col("horizon") == int(h))
                )
                parts.append(part)
            seconds = time.perf_counter() - started
            add(f"{name}_per_horizon", pd.concat(parts, ignore_index=True), seconds, bests)
            print(f"{name}_per_horizon: {seconds:.1f} s", flush=True)
    fitted = [r[0] for r in rows if r[2] is not None and not r[0].endswith("_per_horizon")]
    best_base = min((r for r in rows if r[2] is None), key=lambda r: r[1]["origin_mean"]["rmse"])[0]
    # Equal-weight combinations of every pair and of all fitted variants, with and without the best baseline.
    combos = [(a, b) for i, a in enumerate(fitted) for b in fitted[i + 1 :]] + [tuple(fitted)]
    for members in {*combos, *((*c, best_base) for c in combos)}:
        if len(members) > 1:
            name = "+".join(members)
            frame[name] = frame[list(members)].mean(axis=1)
            rows.append((name, evaluate_forecasts(frame, name, scale), 0.0, None))
    best_baseline = min((r for r in rows if r[2] is None), key=lambda r: r[1]["origin_mean"]["rmse"])
    table = pd.DataFrame(
        [
            {
                "model": name,
                "rmse (origin mean)": round(s["origin_mean"]["rmse"], 3),
                "wape": round(s["metrics"]["wape"], 4),
                "vs best baseline": round(s["origin_mean"]["rmse"] / best_baseline[1]["origin_mean"]["rmse"], 4),
                "tuning s": None if seconds is None else round(seconds, 1),
                "best": best,
            }
            for name, s, seconds, best in rows
        ]
    ).sort_values("rmse (origin mean)")
    print(table.to_markdown(index=False) if hasattr(table, "to_markdown") else table.to_string(index=False))
    spark.stop()


if __name__ == "__main__":
    main()
