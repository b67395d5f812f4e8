"""XGBoost on Spark, imported when a run trains it (xgboost and scikit-learn cost ~1 s to import)."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from xgboost.spark import SparkXGBRegressor

# xgboost.spark logs every fit's parameters at INFO: the candidate's progress lines already say what runs.
logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)


class TimeBlockXGBRegressor(SparkXGBRegressor):
    """XGBoost's Spark estimator (`tree_method=hist`) whose early stopping watches the latest block of dates of
    whatever it is fitted on: each cross-validation fold stops on its own last `VALIDATION_DAYS` days (never on
    the fold's validation block, which it must not see), the final refit on the last days of the training split.
    The rounds it keeps are the ones before the validation error stopped falling."""

    VALIDATION_DAYS = 28
    VALIDATION_COL = "early_stopping_block"

    def _fit(self, dataset: DataFrame):
        time = F.col("forecast_date")
        dates = [r[0] for r in dataset.select(time).distinct().orderBy(time).collect()]
        # A quarter of the dates at most, so a short early fold keeps most of its rows to learn from.
        cut = dates[-max(1, min(self.VALIDATION_DAYS, len(dates) // 4))]
        marked = dataset.withColumn(self.VALIDATION_COL, time >= F.lit(cut))
        return super(TimeBlockXGBRegressor, self.copy({self.validationIndicatorCol: self.VALIDATION_COL}))._fit(marked)
