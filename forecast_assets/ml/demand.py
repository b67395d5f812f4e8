"""Demand classes: how a product sells, from its training history (Syntetos, Boylan & Croston, 2005).

ADI, the average inter-demand interval (days observed / days with a sale), says how often it sells; CV², the
squared coefficient of variation of the sizes of its sales, how much they vary. Smooth sells often and evenly,
erratic often and unevenly, intermittent rarely and evenly, lumpy rarely and unevenly. A product with too
little history is new. Model choice per class (evaluation/assets.py) serves each class the method that scores
best on its own holdout rows (evaluation/assets.py: choose_per_class), and `DemandClassRouter` serves that choice
per product.
"""

from __future__ import annotations

import math

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

SMOOTH, ERRATIC, INTERMITTENT, LUMPY, NEW = "smooth", "erratic", "intermittent", "lumpy", "new"
CLASSES = (SMOOTH, ERRATIC, INTERMITTENT, LUMPY, NEW)
ADI_CUT, CV2_CUT = 1.32, 0.49  # the cut-offs of Syntetos, Boylan & Croston
MIN_DAYS, MIN_SALE_DAYS = 28, 2  # less history than this: new


def demand_class(days: int, sale_days: int, cv2: float | None) -> str:
    """The class of a product observed on `days` days, selling on `sale_days` of them with sizes of squared
    coefficient of variation `cv2`."""
    if days < MIN_DAYS or sale_days < MIN_SALE_DAYS or cv2 is None or not math.isfinite(cv2):
        return NEW
    frequent = days / sale_days < ADI_CUT
    even = cv2 < CV2_CUT
    if frequent:
        return SMOOTH if even else ERRATIC
    return INTERMITTENT if even else LUMPY


def demand_classes(training_rows: DataFrame) -> DataFrame:
    """One row per product of the training rows (`produto`, `forecast_date`, `target`: each day's sales):
    days observed, days with a sale, ADI, CV² and the class. A day a product has several rows for (several
    origins reach it) counts once."""
    daily = (
        training_rows.filter(F.col("target").isNotNull())
        .select("produto", "forecast_date", "target")
        .dropDuplicates(["produto", "forecast_date"])
    )
    sold = F.col("target") > 0
    stats = daily.groupBy("produto").agg(
        F.count("*").alias("days"),
        F.sum(sold.cast("int")).alias("sale_days"),
        F.avg(F.when(sold, F.col("target"))).alias("mean_size"),
        F.var_pop(F.when(sold, F.col("target"))).alias("var_size"),
    )
    frame = stats.toPandas()
    frame["adi"] = frame["days"] / frame["sale_days"].where(frame["sale_days"] > 0)
    frame["cv2"] = frame["var_size"] / frame["mean_size"] ** 2
    frame["demand_class"] = [
        demand_class(int(d), int(s), None if c != c else float(c))
        for d, s, c in zip(frame["days"], frame["sale_days"], frame["cv2"], strict=True)
    ]
    return frame[["produto", "days", "sale_days", "adi", "cv2", "demand_class"]]


class DemandClassRouter(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """The last stage of a production model chosen per demand class: each product's class (fixed when the
    model was trained; products it did not know are new) picks the column its forecast is read from, and
    `method` says which model or baseline that is."""

    products = Param(Params._dummy(), "products", "the products the model knows", TypeConverters.toListString)
    classes = Param(Params._dummy(), "classes", "each product's demand class", TypeConverters.toListString)
    choiceClasses = Param(Params._dummy(), "choiceClasses", "the classes with a choice", TypeConverters.toListString)
    choiceColumns = Param(
        Params._dummy(), "choiceColumns", "each class's forecast column ('' = zero)", TypeConverters.toListString
    )
    choiceMethods = Param(Params._dummy(), "choiceMethods", "each class's method name", TypeConverters.toListString)
    outputCol = Param(Params._dummy(), "outputCol", "the forecast in sales", TypeConverters.toString)
    methodCol = Param(Params._dummy(), "methodCol", "which method forecast the row", TypeConverters.toString)

    @keyword_only
    def __init__(
        self,
        *,
        products=None,
        classes=None,
        choiceClasses=None,
        choiceColumns=None,
        choiceMethods=None,
        outputCol=None,
        methodCol=None,
    ):
        super().__init__()
        self._setDefault(outputCol="prediction", methodCol="method")
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        get = self.getOrDefault
        known = dataset.sparkSession.createDataFrame(
            list(zip(get(self.products), get(self.classes), strict=True)), "produto string, _demand_class string"
        )
        routed = dataset.join(F.broadcast(known), "produto", "left").fillna({"_demand_class": NEW})
        value, method = F.lit(None).cast("double"), F.lit(None).cast("string")
        for cls, column, name in zip(
            get(self.choiceClasses), get(self.choiceColumns), get(self.choiceMethods), strict=True
        ):
            chosen = F.col("_demand_class") == cls
            value = F.when(chosen, F.col(column).cast("double") if column else F.lit(0.0)).otherwise(value)
            method = F.when(chosen, F.lit(name)).otherwise(method)
        return (
            routed.withColumn(get(self.outputCol), value)
            .withColumn(get(self.methodCol), method)
            .withColumnRenamed("_demand_class", "demand_class")
        )
