"""Time-ordered cross-validation: Spark's CrossValidator with rolling-origin folds instead of random ones.

Fold i of k trains on every row before a cut date and validates on the block of dates after it
(an expanding window, as sklearn's TimeSeriesSplit), so no fold ever trains on its own future.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.regression import GBTRegressor, RandomForestRegressor
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.ml.features import LevelRescaler
from forecast_assets.ml.spark_internals import EvaluationHook, FoldOverride, first_trees


class TimeSeriesCrossValidator(FoldOverride):
    """CrossValidator whose k folds are consecutive date blocks: train on the past, validate on the next block."""

    timeCol = Param(Params._dummy(), "timeCol", "date column that orders the rows", TypeConverters.toString)

    def __init__(self, *, timeCol: str = "forecast_date", **kwargs):
        super().__init__(**kwargs)
        self._set(timeCol=timeCol)

    def fold_bounds(self, dataset: DataFrame) -> list[tuple]:
        """[(cut, end)] per fold: train on dates < cut, validate on cut <= date < end (end None = open)."""
        k = self.getOrDefault(self.numFolds)
        dates = [r[0] for r in dataset.select(self.getOrDefault(self.timeCol)).distinct().orderBy(1).collect()]
        if len(dates) < k + 1:
            raise ValueError(f"{len(dates)} distinct dates cannot make {k} time-ordered folds")
        block = len(dates) // (k + 1)
        cuts = [dates[block * (i + 1)] for i in range(k)]
        return [(cut, cuts[i + 1] if i + 1 < k else None) for i, cut in enumerate(cuts)]

    def folds(self, dataset: DataFrame) -> list[tuple[DataFrame, DataFrame]]:
        time = F.col(self.getOrDefault(self.timeCol))
        folds = []
        for cut, end in self.fold_bounds(dataset):
            validation = dataset.filter(time >= F.lit(cut))
            if end is not None:
                validation = validation.filter(time < F.lit(end))
            folds.append((dataset.filter(time < F.lit(cut)), validation))
        return folds


class ProgressEvaluator(EvaluationHook, RegressionEvaluator):
    """RegressionEvaluator that reports each evaluation, so tuning shows "grid point k of n". With `level_col`,
    the model predicts relative to that level and is scored in sales: prediction x level (at least 0) against
    `labelCol`, as the production model's LevelRescaler serves it."""

    def __init__(self, report: Callable[[int, float], None], level_col: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._report = report
        self._level = level_col
        self._count = 0

    def prepared(self, dataset: DataFrame) -> DataFrame:
        if self._level:
            prediction = self.getPredictionCol()
            dataset = LevelRescaler(inputCol=prediction, outputCol=prediction, levelCol=self._level).transform(dataset)
        return dataset

    def scored(self, dataset: DataFrame, metric: float) -> float:
        self._count += 1
        self._report(self._count, metric)
        return metric

    def copy(self, extra=None):
        that = super().copy(extra)
        that._report, that._level, that._count = self._report, self._level, 0
        return that


class _NestedFits:
    """fitMultiple's iterator for grids whose `size` parameter nests: the model of the largest size in each
    group of otherwise equal grid points is fitted once, the smaller ones are its first trees. Thread-safe,
    as CrossValidator's parallel tasks share it; the largest point of every group comes first, so parallel
    tasks fit different groups at once."""

    def __init__(self, estimator, dataset: DataFrame, param_maps: list[dict], size: str):
        self.estimator, self.dataset, self.param_maps, self.size = estimator, dataset, param_maps, size
        groups: dict[tuple, list[int]] = {}
        for index, params in enumerate(param_maps):
            groups.setdefault(self._group(params), []).append(index)
        self.largest = {key: max(indices, key=self._size_of) for key, indices in groups.items()}
        # Longest fits first (deepest trees), so the parallel tasks finish together rather than one
        # deep fit running alone at the end of each fold.
        first = sorted(self.largest.values(), key=self._depth_of, reverse=True)
        self.order = first + [i for i in range(len(param_maps)) if i not in first]
        self.fitted: dict[tuple, object] = {}
        self.group_locks = {key: threading.Lock() for key in groups}
        self.lock = threading.Lock()
        self.position = 0

    def _group(self, params: dict) -> tuple:
        return tuple(sorted((p.name, repr(v)) for p, v in params.items() if p.name != self.size))

    def _size_of(self, index: int) -> int:
        sizes = [v for p, v in self.param_maps[index].items() if p.name == self.size]
        return sizes[0] if sizes else self.estimator.getOrDefault(self.size)

    def _depth_of(self, index: int) -> int:
        depths = [v for p, v in self.param_maps[index].items() if p.name == "maxDepth"]
        return depths[0] if depths else 0

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            if self.position == len(self.order):
                raise StopIteration
            index = self.order[self.position]
            self.position += 1
        key = self._group(self.param_maps[index])
        with self.group_locks[key]:
            if key not in self.fitted:
                self.fitted[key] = self.estimator.fit(self.dataset, self.param_maps[self.largest[key]])
        full = self.fitted[key]
        size = self._size_of(index)
        return index, full if size == self._size_of(self.largest[key]) else first_trees(full, size)


class GrowingRandomForestRegressor(RandomForestRegressor):
    """RandomForestRegressor whose grid search fits the largest `numTrees` once per other grid point."""

    def fitMultiple(self, dataset, paramMaps):
        return _NestedFits(self, dataset, list(paramMaps), "numTrees")


class GrowingGBTRegressor(GBTRegressor):
    """GBTRegressor whose grid search fits the largest `maxIter` once per other grid point (without
    validation-based early stopping or subsampling, the smaller ones are exactly its first trees)."""

    def fitMultiple(self, dataset, paramMaps):
        if self.isSet(self.validationIndicatorCol) or self.getOrDefault(self.subsamplingRate) < 1.0:
            return super().fitMultiple(dataset, paramMaps)
        return _NestedFits(self, dataset, list(paramMaps), "maxIter")
