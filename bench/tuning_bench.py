"""What a refit week gives up (TrainingConfig.tuning, training/retune.py): search against refit, per candidate.

On the current `feature_dataset` of a warehouse that `bench/run_bench.py` left, it replays two weeks of the
schedule: last week's search (the training split without its latest `--weeks` weeks of forecast dates: what the
data held a week ago), then this week either searching again (the product's time-ordered cross-validation over
the candidate's full grid, refitted on the whole split) or refitting once at last week's parameters. Both are
scored on the holdout rows as `model_comparison` scores them (predictions x level; RMSE, the mean over origins).
It prints each candidate's holdout RMSE both ways, their ratio, and the time of each. Nothing here is asserted.

usage: python bench/tuning_bench.py bench/out/retail_M/warehouse [--only random_forest] [--weeks 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from forecast_assets.features.assets import HOLDOUT, TRAIN  # noqa: E402
from forecast_assets.ml.features import LevelRescaler, weekly_origin  # noqa: E402
from forecast_assets.ml.metrics import evaluate_forecasts  # noqa: E402
from forecast_assets.ml.tuning import ProgressEvaluator, TimeSeriesCrossValidator  # noqa: E402
from forecast_assets.training.assets import CANDIDATES, best_params, predicting_into  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from candidates_bench import stored_feature_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("--only", default="random_forest", help="comma-separated candidates (default random_forest)")
    ap.add_argument("--weeks", type=int, default=1, help="how many weeks old last week's search is")
    ap.add_argument("--folds", type=int, default=3)
    args = ap.parse_args()
    spark, path, data = stored_feature_dataset(args.warehouse)
    cores = spark.sparkContext.defaultParallelism
    columns = ("features", "target_relative", "target", "level", "forecast_date")
    train = data.filter(F.col("split") == TRAIN).select(*columns).repartition(cores).cache()
    last_day = train.agg(F.max("forecast_date")).first()[0]
    earlier = train.filter(F.col("forecast_date") <= F.lit(last_day - timedelta(weeks=args.weeks))).cache()
    holdout = data.filter(F.col("split") == HOLDOUT).cache()
    print(
        f"{path}: {train.count()} training rows ({earlier.count()} {args.weeks} week(s) earlier), "
        f"{holdout.count()} holdout rows"
    )
    scale = (
        data.filter((F.col("split") == TRAIN) & (F.col("horizon") <= 7) & weekly_origin())
        .agg(F.avg(F.abs(F.col("target") - F.col("seasonal_naive"))))
        .first()[0]
    )
    frame = holdout.select("produto", "origin_date", "horizon", "forecast_date", "target", "level").toPandas()

    def score(name: str, model) -> dict:
        relative = predicting_into(model, "relative").transform(holdout)
        scored = LevelRescaler(inputCol="relative", outputCol="prediction").transform(relative)
        predicted = scored.select("produto", "origin_date", "horizon", "prediction").toPandas()
        merged = frame.merge(predicted, on=["produto", "origin_date", "horizon"], how="left")
        frame[name] = merged["prediction"].to_numpy()
        return evaluate_forecasts(frame, name, scale)["origin_mean"]

    def search(candidate, rows):
        estimator = candidate.estimator()
        grid = candidate.param_maps(estimator, "full")
        validator = TimeSeriesCrossValidator(
            estimator=estimator,
            estimatorParamMaps=grid,
            evaluator=ProgressEvaluator(
                lambda *_: None, level_col="level", labelCol="target", predictionCol="prediction", metricName="rmse"
            ),
            numFolds=args.folds,
            parallelism=2,
            timeCol="forecast_date",
        )
        return validator.fit(rows).bestModel

    table = []
    for candidate in [c for c in CANDIDATES if c.name in args.only.split(",")]:
        started = time.perf_counter()
        previous = best_params(candidate, search(candidate, earlier))
        previous_seconds = time.perf_counter() - started
        started = time.perf_counter()
        searched = search(candidate, train)
        search_seconds = time.perf_counter() - started
        estimator = candidate.estimator()
        started = time.perf_counter()
        refitted = estimator.copy({estimator.getParam(k): v for k, v in previous.items()}).fit(train)
        refit_seconds = time.perf_counter() - started
        searched_rmse = score(f"{candidate.name}_search", searched)["rmse"]
        refit_rmse = score(f"{candidate.name}_refit", refitted)["rmse"]
        table.append(
            {
                "candidate": candidate.name,
                "params a week earlier": previous,
                "params now": best_params(candidate, searched),
                "holdout rmse, search": round(searched_rmse, 4),
                "holdout rmse, refit": round(refit_rmse, 4),
                "refit / search": round(refit_rmse / searched_rmse, 4),
                "search s": round(search_seconds, 1),
                "refit s": round(refit_seconds, 1),
                "earlier search s": round(previous_seconds, 1),
            }
        )
        print(json.dumps(table[-1], default=str), flush=True)
    print(pd.DataFrame(table).to_markdown(index=False))
    spark.stop()


if __name__ == "__main__":
    main()
