"""Training: the candidate regressors, each tuned by time-ordered cross-validation on the training split, or refit
at the parameters of its last search (training/retune.py)."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field
from pyspark.ml import Estimator, PipelineModel
from pyspark.ml.regression import LinearRegression
from pyspark.ml.tuning import ParamGridBuilder
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.features.assets import TRAIN
from forecast_assets.ml import statistical
from forecast_assets.ml.features import BaselineForecaster, ForecastCombination, LevelRescaler
from forecast_assets.ml.tuning import (
    GrowingGBTRegressor,
    GrowingRandomForestRegressor,
    ProgressEvaluator,
    TimeSeriesCrossValidator,
)
from forecast_assets.policies import TRIGGER_TAG, SparkAsset, spark_asset
from forecast_assets.reporting.tables import frame_table
from forecast_assets.resources.tracking import MlflowTracking
from forecast_assets.settings import CANDIDATE_NAMES, Settings
from forecast_assets.training import retune

FINITE_METRICS = "finite_cv_metrics"


class TrainingConfig(dg.Config):
    profile: Literal["full", "small"] = Field(
        default="full", description="full: the original design's grids; small: one or two points, for tests"
    )
    cv_folds: int = Field(default=3, description="time-ordered folds (expanding window)")
    parallelism: int = Field(default=2, description="grid points fitted at once")
    tuning: Literal["search", "refit", "auto"] = Field(
        default="search",
        description="search: every run searches the grid; refit: one fit at the parameters of this candidate's "
        "last search; auto (the schedule's): a search when the last one is retune_weeks of data old, drift "
        "triggered the run, the data changed shape, the grid changed or the champion's realized accuracy fell "
        "behind, else a refit (training/retune.py)",
    )
    retune_weeks: int = Field(default=4, ge=1, description="auto: weeks of new data after which the grid is searched")


@dataclass(frozen=True)
class Candidate:
    name: str  # what the comparison, the ledger and MLflow call it: random_forest, linear_regression, ...
    label: str
    estimator: Callable[[], Estimator]
    grids: dict[str, dict[str, list]]  # profile -> param name -> values

    @property
    def asset_name(self) -> str:
        return f"{self.name}_model"

    def param_maps(self, estimator: Estimator, profile: str) -> list[dict]:
        builder = ParamGridBuilder()
        for name, values in self.grids[profile].items():
            builder.addGrid(estimator.getParam(name), values)
        return builder.build()


def _forest():
    # Deep forests (maxDepth 15): cached node ids and a larger histogram budget save passes over the data
    # (bench/RESULTS.md: 22.5 s -> 18.2 s for 30 trees of depth 15 on the S data).
    # Growing: the grid's numTrees 10/20/30 are the first trees of one 30-tree fit per depth and fold.
    return GrowingRandomForestRegressor(
        featuresCol="features", labelCol="target_relative", seed=42, maxBins=64, cacheNodeIds=True, maxMemoryInMB=512
    )


def _boosting():
    # Boosting is bound by Spark's per-job overhead on this data (one job per tree level and iteration):
    # the defaults (32 bins, no node-id cache) do less per job (25.8 s -> 17.4 s per depth-10 fit on S).
    # Growing: maxIter 10 is exactly the first 10 trees of the maxIter 20 fit, so one fit per depth and fold.
    return GrowingGBTRegressor(featuresCol="features", labelCol="target_relative", seed=42)


def _xgboost():
    # XGBoost's histogram trees, hundreds of small learning-rate rounds, early-stopped on the latest four weeks
    # of what it is fitted on (ml/boosting.py). One thread per fit: cross-validation fits two grid points at once.
    from forecast_assets.ml.boosting import TimeBlockXGBRegressor

    return TimeBlockXGBRegressor(
        features_col="features",
        label_col="target_relative",
        tree_method="hist",
        n_estimators=1000,
        learning_rate=0.05,
        early_stopping_rounds=30,
        subsample=0.8,
        colsample_bytree=0.8,
        random_state=42,
        verbose=False,  # no line per boosting round in the run's log
    )


CANDIDATES = (
    Candidate(
        "random_forest",
        "random forest",
        _forest,
        {"full": {"numTrees": [10, 20, 30], "maxDepth": [5, 10, 15]}, "small": {"numTrees": [10], "maxDepth": [5, 8]}},
    ),
    Candidate(
        "linear_regression",
        "linear regression",
        lambda: LinearRegression(featuresCol="features", labelCol="target_relative"),
        {"full": {"regParam": [0.01, 0.1, 1.0]}, "small": {"regParam": [0.01, 1.0]}},
    ),
    Candidate(
        "gradient_boosting",
        "gradient boosting",
        _boosting,
        {"full": {"maxIter": [10, 20], "maxDepth": [5, 10]}, "small": {"maxIter": [10], "maxDepth": [3]}},
    ),
    Candidate(
        "xgboost",
        "XGBoost",
        _xgboost,
        {
            "full": {"max_depth": [4, 6, 8], "min_child_weight": [1.0, 20.0]},
            "small": {"max_depth": [3], "min_child_weight": [1.0]},
        },
    ),
)


if tuple(c.name for c in CANDIDATES) != CANDIDATE_NAMES:  # FORECAST_CANDIDATES is validated against that list
    raise RuntimeError("settings.CANDIDATE_NAMES must list the candidates of training/assets.py, in their order")


def chosen(settings: Settings) -> list[Candidate]:
    """The candidates the settings' graph tunes (FORECAST_CANDIDATES), in their catalogue order."""
    return [c for c in CANDIDATES if c.name in settings.candidates]


def candidate_ins(settings: Settings) -> dict[str, dg.AssetIn]:
    """The chosen candidates as inputs of the assets that compare or serve them."""
    return {c.asset_name: dg.AssetIn(c.asset_name) for c in chosen(settings)}


def fitted_by_name(inputs: dict) -> dict:
    """The fitted candidates an asset received as inputs (keyed by asset name), by the candidates' names."""
    return {c.name: inputs[c.asset_name] for c in CANDIDATES if c.asset_name in inputs}


def predicting_into(model, column: str):
    """A copy of a fitted candidate that writes its prediction to `column` (XGBoost's Spark model has no
    setPredictionCol; every model has the Param)."""
    return model.copy({model.getParam("predictionCol"): column})


def feature_importances(model, features: int) -> list[float] | None:
    """Each feature's share of the model's importance: Spark's trees' own (impurity decrease), XGBoost's total
    gain (the features it never split on have none); None for a model without importances (linear)."""
    if hasattr(model, "featureImportances"):
        return [float(v) for v in model.featureImportances.toArray()]
    if hasattr(model, "get_feature_importances"):
        gains = model.get_feature_importances(importance_type="total_gain")
        total = sum(gains.values()) or 1.0
        return [float(gains.get(f"f{i}", 0.0)) / total for i in range(features)]
    return None


COMBINATION = "combination"  # model_comparison's candidate that averages the best candidates' forecasts


PER_CLASS = "per_class"  # and the one that serves each demand class its own choice (ml/demand.py)


def prediction_column(name: str) -> str:
    """Where a served model's forecast in sales is on the rows: a regressor's `<name>_prediction` (its model and
    rescaler write it), a statistical model's `stat_<name>` (the window stage writes it)."""
    return statistical.column_of(name) if statistical.is_statistical(name) else f"{name}_prediction"


def statistical_served(name: str, entry: dict | None) -> list[str]:
    """The statistical models whose forecasts what model_comparison calls `name` reads (itself, the combination's
    members, each demand class's choice): the served window stage must write their columns."""
    entry = entry or {}
    names = {name} | set(entry.get("members") or [])
    if name == PER_CLASS:
        names |= {c["choice"] for c in entry["routing"]["choices"].values() if c["kind"] == "model"}
        names |= set(entry.get("combination_members") or [])
    return sorted(n for n in names if statistical.is_statistical(n))


def serving_model(
    name: str, feature_pipeline: PipelineModel, fitted: dict, entry: dict | None = None, holdout_weeks: int = 4
) -> PipelineModel:
    """The production model for what model_comparison calls `name`: the feature pipeline (its window stage writing
    the statistical forecasts that `name` reads, at the latest origins: the forecast origin and the holdout's, which
    its check and the forecast's calibration score) and then regressor_stages."""
    windows, *rest = feature_pipeline.stages
    if needed := statistical_served(name, entry):
        # the latest Sunday (the next forecast's origin) and the holdout's before it, as model_comparison fits them
        windows = windows.copy({windows.statisticalModels: needed, windows.statisticalOrigins: holdout_weeks + 1})
    return PipelineModel(stages=[windows, *rest, *regressor_stages(name, fitted, entry)])


def _in_sales(fitted: dict, names) -> list:
    """Each named regressor's model and rescaler: its forecast in sales in `<name>_prediction` (a statistical
    model's is written by the window stage)."""
    stages = []
    for name in names:
        if statistical.is_statistical(name):
            continue
        stages += [
            predicting_into(fitted[name], f"{name}_relative"),
            LevelRescaler(inputCol=f"{name}_relative", outputCol=f"{name}_prediction"),
        ]
    return stages


def regressor_stages(name: str, fitted: dict, entry: dict | None = None) -> list:
    """The stages after the feature pipeline that turn its rows into `prediction` in sales, for what
    model_comparison's report calls `name` (its `entry` there): a candidate's model and the LevelRescaler; for the
    combination, each member's model and rescaler, then their mean (averaged in sales, each clipped at zero, as
    model_comparison scored them); per demand class, every model a class chose, then the router that reads each
    product's forecast from its class's choice and says which it was in `method`."""
    from forecast_assets.ml.demand import DemandClassRouter

    entry = entry or {}
    if name == COMBINATION:
        members = entry["members"]
        return [*_in_sales(fitted, members), ForecastCombination(inputCols=[prediction_column(m) for m in members])]
    if statistical.is_statistical(name):  # the window stage wrote it: served as that column
        return [BaselineForecaster(column=statistical.column_of(name))]
    if name != PER_CLASS:
        return [
            predicting_into(fitted[name], "relative_prediction"),
            LevelRescaler(inputCol="relative_prediction", outputCol="prediction"),
        ]
    routing = entry["routing"]
    chosen = {c["choice"] for c in routing["choices"].values() if c["kind"] == "model"}
    members = (entry.get("combination_members") or []) if COMBINATION in chosen else []
    stages = _in_sales(fitted, sorted((chosen - {COMBINATION}) | set(members)))
    if COMBINATION in chosen:
        combined = [prediction_column(m) for m in members]
        stages.append(ForecastCombination(inputCols=combined, outputCol=f"{COMBINATION}_prediction"))
    classes = list(routing["choices"])
    return [
        *stages,
        DemandClassRouter(
            products=routing["products"],
            classes=routing["classes"],
            choiceClasses=classes,
            choiceColumns=[
                prediction_column(c["choice"]) if c["kind"] == "model" else c["column"]
                for c in routing["choices"].values()
            ],
            choiceMethods=[
                c["choice"] if c["kind"] == "model" else f"baseline_{c['column'] or 'zero'}"
                for c in routing["choices"].values()
            ],
        ),
    ]


def best_params(candidate: Candidate, model) -> dict:
    """The tuned values of the candidate's grid parameters, read off the fitted model."""
    return {name: model.getOrDefault(model.getParam(name)) for name in candidate.grids["full"]}


def build_candidate_asset(candidate: Candidate) -> SparkAsset:
    @spark_asset(
        name=candidate.asset_name,
        group_name="training",
        io_manager_key="ml_models_io",
        kinds={"spark"},
        description=f"The {candidate.label} regressor, tuned over its grid by time-ordered cross-validation "
        "on the training split of `feature_dataset`, refitted on the whole training split.",
        output_required=False,
        check_specs=[
            dg.AssetCheckSpec(
                FINITE_METRICS,
                asset=candidate.asset_name,
                blocking=True,
                description="every grid point's cross-validation RMSE is a finite number; otherwise the model "
                "is not stored and nothing downstream runs",
            )
        ],
    )
    def _candidate(
        context: dg.AssetExecutionContext, config: TrainingConfig, tracking: MlflowTracking, feature_dataset: DataFrame
    ):
        estimator = candidate.estimator()
        shape, data_end = retune.data_of(context.instance)
        behind, why = retune.champion_fell_behind(context.instance) if config.tuning == "auto" else (False, "")
        tuning = retune.decide(
            config.tuning,
            retune.last_search(context.instance, context.asset_key) if config.tuning != "search" else None,
            profile=config.profile,
            shape=shape,
            data_end=data_end,
            retune_weeks=config.retune_weeks,
            drift=context.run.tags.get(TRIGGER_TAG) == "drift",
            fell_behind=why if behind else None,
        )
        context.log.info(f"{candidate.label}: {tuning.reason}")
        # As many partitions as cores: tree fits on this data are bound by tasks per job, not by rows.
        cores = feature_dataset.sparkSession.sparkContext.defaultParallelism
        train = (
            feature_dataset.filter(F.col("split") == TRAIN)
            .select("features", "target_relative", "target", "level", "forecast_date")
            .repartition(cores)
            .cache()
        )
        tuned_on = {"data_shape": shape, "data_end": str(data_end) if data_end else None}
        if not tuning.search:
            yield from refit(context, config, tracking, candidate, estimator, train, tuning, tuned_on)
            return
        grid = candidate.param_maps(estimator, config.profile)
        fits = len(grid) * config.cv_folds  # scored; nested grid points share one fit (ml/tuning.py)

        def report(done: int, rmse: float) -> None:
            context.log.info(
                f"{candidate.label}: grid point {done} of {fits} scored "
                f"({len(grid)} points x {config.cv_folds} folds), rmse {rmse:.3f}"
            )

        validator = TimeSeriesCrossValidator(
            estimator=estimator,
            estimatorParamMaps=grid,
            # Learned relative to each product's level, scored in sales, as production serves it.
            evaluator=ProgressEvaluator(
                report, level_col="level", labelCol="target", predictionCol="prediction", metricName="rmse"
            ),
            numFolds=config.cv_folds,
            parallelism=config.parallelism,
            timeCol="forecast_date",
        )
        started = time.perf_counter()
        tuned = validator.fit(train)
        seconds = time.perf_counter() - started
        train.unpersist()
        points = [
            ({p.name: v for p, v in point.items()}, rmse) for point, rmse in zip(grid, tuned.avgMetrics, strict=True)
        ]
        grid_table = pd.DataFrame([{**point, "cv_rmse": rmse} for point, rmse in points]).sort_values("cv_rmse")
        params = best_params(candidate, tuned.bestModel)
        broken = [str(point) for point, rmse in zip(grid, tuned.avgMetrics, strict=True) if not math.isfinite(rmse)]
        check = dg.AssetCheckResult(
            check_name=FINITE_METRICS,
            passed=not broken,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"grid_points": len(grid), "non_finite": len(broken)},
            description=f"non-finite cv rmse at {', '.join(broken)}: the model was not stored" if broken else None,
        )
        if broken:
            yield check
            return
        context.log.info(f"{candidate.label}: best {params}, cv rmse {min(tuned.avgMetrics):.3f}, {seconds:.1f}s")
        tracked = tracking.log_candidate(
            context,
            candidate.name,
            {**params, "profile": config.profile, "cv_folds": config.cv_folds},
            points,
            {"cv_rmse": float(min(tuned.avgMetrics)), "training_seconds": seconds},
        )
        yield dg.Output(
            tuned.bestModel,
            metadata={
                "tuning": "search",
                "tuning_reason": tuning.reason,
                "params_from_run": context.run_id,
                "profile": config.profile,
                "best_params": params,
                "cv_rmse": float(min(tuned.avgMetrics)),
                "cv_folds": config.cv_folds,
                "grid_points": len(grid),
                "training_seconds": round(seconds, 2),
                "cv_grid": frame_table(grid_table),
                **tuned_on,
                **tracked,
            },
        )
        yield check

    return _candidate


def refit(context, config: TrainingConfig, tracking, candidate: Candidate, estimator, train, tuning, tuned_on: dict):
    """One fit on the whole training split at the parameters `tuning.source`'s search chose (no folds, no grid);
    its cross-validation RMSE is that search's, named as such."""
    source = tuning.source
    params = {estimator.getParam(name): value for name, value in source.params.items()}
    started = time.perf_counter()
    model = estimator.copy(params).fit(train)
    seconds = time.perf_counter() - started
    train.unpersist()
    context.log.info(f"{candidate.label}: refit at {source.params} in {seconds:.1f}s")
    tracked = tracking.log_candidate(
        context,
        candidate.name,
        {**source.params, "profile": config.profile, "tuning": "refit", "params_from_run": source.run_id},
        [],
        {"training_seconds": seconds},
    )
    yield dg.Output(
        model,
        metadata={
            "tuning": "refit",
            "tuning_reason": tuning.reason,
            "params_from_run": source.run_id,
            "profile": config.profile,
            "best_params": best_params(candidate, model),
            "cv_rmse": source.cv_rmse,  # the search's: model_comparison ranks combination members by it
            "grid_points": 1,
            "training_seconds": round(seconds, 2),
            **tuned_on,
            **tracked,
        },
    )
    yield dg.AssetCheckResult(
        check_name=FINITE_METRICS,
        passed=True,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"grid_points": 1, "non_finite": 0},
        description=f"refit at the parameters of run {source.run_id[:8]}: no grid point was scored",
    )


CANDIDATE_ASSETS = {c.name: build_candidate_asset(c) for c in CANDIDATES}
