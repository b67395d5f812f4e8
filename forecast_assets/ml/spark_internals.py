"""Every use of a PySpark API that is not public, in one place, each behind a contract that
`forecast_assets_tests/test_spark_internals.py` checks against the installed pyspark (written for 4.3.0).

When a pyspark upgrade breaks one, that test fails naming it and what depends on it; the code here fails
loudly too rather than degrading in silence (a CrossValidator that stopped calling `_kFold` would fall back
to random folds: training on the future).

Not listed: `Params._dummy()`, `_set` and `_setDefault` in custom stages' Param declarations, which is how
PySpark's own documentation and stages declare parameters.
"""

from __future__ import annotations

from pyspark.ml.evaluation import Evaluator
from pyspark.ml.tuning import CrossValidator
from pyspark.ml.util import DefaultParamsReader
from pyspark.sql import DataFrame, SparkSession

PYSPARK_WRITTEN_FOR = "4.3.0"


class FoldOverride(CrossValidator):
    """CrossValidator whose folds come from `folds(dataset)`: `CrossValidator._fit` asks `self._kFold` for the
    (train, validation) pairs. The fit fails if a pyspark release no longer asks."""

    def folds(self, dataset: DataFrame) -> list[tuple[DataFrame, DataFrame]]:
        raise NotImplementedError

    def _kFold(self, dataset: DataFrame) -> list[tuple[DataFrame, DataFrame]]:  # private in pyspark
        self._folds_used = True
        return self.folds(dataset)

    def _fit(self, dataset: DataFrame):
        self._folds_used = False
        model = super()._fit(dataset)
        if not self._folds_used:
            raise RuntimeError(
                f"this pyspark's CrossValidator no longer calls _kFold (written for {PYSPARK_WRITTEN_FOR}): the "
                "time-ordered folds were not used; see forecast_assets/ml/spark_internals.py"
            )
        return model


class EvaluationHook(Evaluator):
    """An evaluator mixin whose `scored(dataset, metric)` sees every evaluation: `Evaluator.evaluate` calls the
    subclass's `_evaluate`."""

    def _evaluate(self, dataset: DataFrame) -> float:  # private in pyspark
        return self.scored(dataset, super()._evaluate(self.prepared(dataset)))

    def prepared(self, dataset: DataFrame) -> DataFrame:
        return dataset

    def scored(self, dataset: DataFrame, metric: float) -> float:
        return metric


def load_any_model(uri: str, spark: SparkSession):
    """A saved ML model or pipeline of any class (its class is read from the saved metadata), Python-defined
    stages included: DefaultParamsReader.loadParamsInstance, a developer API."""
    return DefaultParamsReader.loadParamsInstance(uri, spark)


def first_trees(model, count: int):
    """The ensemble made of `model`'s first `count` trees (for boosting, with their weights): for gradient
    boosting exactly the model `maxIter=count` fits (boosting adds trees in sequence, and we do not
    subsample); for a random forest a `count`-tree forest (its trees are independent draws). Built through
    py4j from the Scala models' constructors, which pyspark does not expose."""
    from pyspark import SparkContext
    from pyspark.ml.regression import GBTRegressionModel, RandomForestRegressionModel

    gateway = SparkContext._active_spark_context._gateway
    jvm = gateway.jvm
    regression = jvm.org.apache.spark.ml.regression
    trees = model._java_obj.trees()
    kept = gateway.new_array(regression.DecisionTreeRegressionModel, count)
    for i in range(count):
        kept[i] = trees[i]
    if isinstance(model, GBTRegressionModel):
        weights = model._java_obj.treeWeights()
        kept_weights = gateway.new_array(jvm.double, count)
        for i in range(count):
            kept_weights[i] = weights[i]
        java_model = regression.GBTRegressionModel(model.uid, kept, kept_weights, model.numFeatures)
        smaller = GBTRegressionModel(java_model)
    else:
        java_model = regression.RandomForestRegressionModel(model.uid, kept, model.numFeatures)
        smaller = RandomForestRegressionModel(java_model)
    # The same columns and settings as the full model (the Java constructor sets none).
    smaller._set(**{p.name: v for p, v in model.extractParamMap().items() if smaller.hasParam(p.name)})
    size = "maxIter" if isinstance(model, GBTRegressionModel) else "numTrees"
    smaller._set(**{size: count})
    smaller._transfer_params_to_java()
    return smaller


def reads_whole_files(frame: DataFrame) -> bool:
    """Whether `frame` is every row of the files it reads: its analyzed plan is a file relation, or projections
    of one (no filter, join or aggregate). Read from the JVM plan's node class names (Spark's LogicalRelation and
    Project), which PySpark does not expose."""
    plan = frame._jdf.queryExecution().analyzed()
    while plan.getClass().getSimpleName() == "Project":
        plan = plan.child()
    return plan.getClass().getSimpleName() == "LogicalRelation"
