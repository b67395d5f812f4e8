"""Time-ordered cross-validation: Spark's CrossValidator with rolling-origin folds instead of random ones.

Fold i of k trains on every row before a cut date and validates on the block of dates after it
(an expanding window, as sklearn's TimeSeriesSplit), so no fold ever trains on its own future.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.tuning import CrossValidator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


class TimeSeriesCrossValidator(CrossValidator):
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

    def _kFold(self, dataset: DataFrame) -> list[tuple[DataFrame, DataFrame]]:
        time = F.col(self.getOrDefault(self.timeCol))
        folds = []
        for cut, end in self.fold_bounds(dataset):
            validation = dataset.filter(time >= F.lit(cut))
            if end is not None:
                validation = validation.filter(time < F.lit(end))
            folds.append((dataset.filter(time < F.lit(cut)), validation))
        return folds


class ProgressEvaluator(RegressionEvaluator):
    """RegressionEvaluator that reports each evaluation, so tuning shows "grid point k of n"."""

    def __init__(self, report: Callable[[int, float], None], **kwargs):
        super().__init__(**kwargs)
        self._report = report
        self._count = 0

    def _evaluate(self, dataset: DataFrame) -> float:
        metric = super()._evaluate(dataset)
        self._count += 1
        self._report(self._count, metric)
        return metric

    def copy(self, extra=None):
        that = super().copy(extra)
        that._report, that._count = self._report, 0
        return that
