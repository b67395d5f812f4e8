"""The contracts forecast_assets/ml/spark_internals.py relies on, checked against the installed pyspark: a
pyspark upgrade that breaks one fails here, naming what breaks."""

import inspect

import pytest
from pyspark.ml.evaluation import Evaluator, RegressionEvaluator
from pyspark.ml.regression import GBTRegressionModel, RandomForestRegressionModel
from pyspark.ml.tuning import CrossValidator
from pyspark.ml.util import DefaultParamsReader

from forecast_assets.ml import spark_internals
from forecast_assets.ml.tuning import ProgressEvaluator, TimeSeriesCrossValidator

WHY = f"forecast_assets/ml/spark_internals.py relies on it (written for pyspark {spark_internals.PYSPARK_WRITTEN_FOR})"


def test_cross_validator_takes_its_folds_from_kfold():
    source = inspect.getsource(CrossValidator._fit)
    assert "self._kFold(" in source, f"CrossValidator._fit no longer calls self._kFold: time-ordered folds. {WHY}"
    parameters = list(inspect.signature(CrossValidator._kFold).parameters)
    assert parameters == ["self", "dataset"], f"CrossValidator._kFold{parameters}: {WHY}"


def test_a_cross_validator_that_stops_asking_for_folds_fails_the_fit(monkeypatch):
    monkeypatch.setattr(CrossValidator, "_fit", lambda self, dataset: "a model from random folds")
    with pytest.raises(RuntimeError, match="no longer calls _kFold"):
        TimeSeriesCrossValidator()._fit(None)


def test_evaluators_score_through_evaluate_and_the_hook_sees_every_score():
    assert "self._evaluate(" in inspect.getsource(Evaluator.evaluate), f"Evaluator.evaluate: {WHY}"
    assert ProgressEvaluator.__mro__.index(spark_internals.EvaluationHook) < ProgressEvaluator.__mro__.index(
        RegressionEvaluator
    ), "the hook must run before RegressionEvaluator's own _evaluate"


def test_any_saved_model_loads_through_the_developer_api():
    parameters = list(inspect.signature(DefaultParamsReader.loadParamsInstance).parameters)
    assert parameters == ["path", "sc"], f"DefaultParamsReader.loadParamsInstance{parameters}: {WHY}"


def test_tree_ensembles_can_be_rebuilt_from_their_first_trees(spark):
    """first_trees builds Scala models through py4j: their constructors and the Python wrappers'."""
    jvm = spark.sparkContext._gateway.jvm
    forms = {}
    for name in ("GBTRegressionModel", "RandomForestRegressionModel"):
        constructors = jvm.java.lang.Class.forName(f"org.apache.spark.ml.regression.{name}").getDeclaredConstructors()
        forms[name] = {str(c.toString()).split(name + "(", 1)[-1] for c in constructors}
    tree = "org.apache.spark.ml.regression.DecisionTreeRegressionModel[]"
    assert f"java.lang.String,{tree},double[],int)" in forms["GBTRegressionModel"], f"{forms}: {WHY}"
    assert f"java.lang.String,{tree},int)" in forms["RandomForestRegressionModel"], f"{forms}: {WHY}"
    for wrapper in (GBTRegressionModel, RandomForestRegressionModel):
        assert "java_model" in inspect.signature(wrapper.__init__).parameters, f"{wrapper.__name__}: {WHY}"
        assert hasattr(wrapper, "_transfer_params_to_java"), f"{wrapper.__name__}: {WHY}"


def test_a_frame_that_reads_whole_files_is_told_from_a_filtered_one(spark, tmp_path):
    """reads_whole_files reads the analyzed plan's node class names: the stored rows' identity for the window
    rows made once per process (ml/features.py)."""
    spark.range(10).write.parquet(str(tmp_path / "stored"))
    whole = spark.read.parquet(str(tmp_path / "stored"))
    reads_whole_files = spark_internals.reads_whole_files
    assert reads_whole_files(whole) and reads_whole_files(whole.select("id")), WHY
    assert not reads_whole_files(whole.filter("id > 3")) and not reads_whole_files(whole.groupBy("id").count())
    assert not reads_whole_files(spark.range(3)), WHY
