"""Tuning: time-ordered folds, and grids of tree ensembles fitted once per nested group."""

from datetime import date, timedelta

import numpy as np
import pytest
from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.linalg import Vectors
from pyspark.ml.regression import GBTRegressor, RandomForestRegressor
from pyspark.ml.tuning import ParamGridBuilder

from forecast_assets.ml.tuning import (
    GrowingGBTRegressor,
    GrowingRandomForestRegressor,
    TimeSeriesCrossValidator,
    first_trees,
)


@pytest.fixture(scope="module")
def rows(spark):
    rng = np.random.default_rng(3)
    data = []
    for day in range(120):
        for _product in range(3):
            x = rng.normal(size=3)
            target = 2 * x[0] - x[1] + 0.5 * np.sin(day / 7) + rng.normal(scale=0.3)
            data.append((Vectors.dense(x.tolist()), float(target), date(2025, 1, 1) + timedelta(days=day)))
    return spark.createDataFrame(data, ["features", "target", "forecast_date"]).repartition(2).cache()


def predictions(model, frame) -> np.ndarray:
    return np.array([r[0] for r in model.transform(frame).select("prediction").collect()])


def test_first_trees_of_a_boosted_model_are_the_model_with_fewer_iterations(rows):
    full = GBTRegressor(labelCol="target", maxIter=6, maxDepth=3, seed=1).fit(rows)
    fewer = GBTRegressor(labelCol="target", maxIter=3, maxDepth=3, seed=1).fit(rows)
    truncated = first_trees(full, 3)
    assert truncated.getNumTrees == 3 and truncated.getOrDefault("maxIter") == 3
    np.testing.assert_allclose(predictions(truncated, rows), predictions(fewer, rows), rtol=0, atol=1e-12)
    assert not np.allclose(predictions(full, rows), predictions(fewer, rows))


def test_first_trees_of_a_forest_average_those_trees(rows):
    forest = RandomForestRegressor(labelCol="target", numTrees=6, maxDepth=4, seed=1).fit(rows)
    smaller = first_trees(forest, 2)
    assert smaller.getNumTrees == 2
    by_tree = np.array([predictions(tree, rows) for tree in forest.trees[:2]])
    np.testing.assert_allclose(predictions(smaller, rows), by_tree.mean(axis=0), atol=1e-9)


@pytest.mark.parametrize(
    ("plain", "growing", "size", "values"),
    [
        (GBTRegressor, GrowingGBTRegressor, "maxIter", [2, 4]),
        (RandomForestRegressor, GrowingRandomForestRegressor, "numTrees", [3, 6]),
    ],
)
def test_growing_grid_search_scores_every_point_with_one_fit_per_group(rows, plain, growing, size, values):
    def search(estimator_class):
        estimator = estimator_class(labelCol="target", seed=1)
        grid = (
            ParamGridBuilder()
            .addGrid(estimator.getParam(size), values)
            .addGrid(estimator.getParam("maxDepth"), [2, 3])
            .build()
        )
        fits = []
        original_fit = estimator_class._fit

        def counting_fit(self, dataset):
            fits.append(self.getOrDefault(size))
            return original_fit(self, dataset)

        estimator_class._fit = counting_fit
        try:
            validator = TimeSeriesCrossValidator(
                estimator=estimator,
                estimatorParamMaps=grid,
                evaluator=RegressionEvaluator(labelCol="target"),
                numFolds=2,
                parallelism=2,
                timeCol="forecast_date",
            )
            model = validator.fit(rows)
        finally:
            estimator_class._fit = original_fit
        return model, fits

    reference, reference_fits = search(plain)
    grown, grown_fits = search(growing)
    assert len(reference_fits) == 4 * 2 + 1  # every grid point in each fold, then the refit
    assert sorted(grown_fits[:-1]) == [max(values)] * 4  # two depths x two folds, largest size only
    if plain is GBTRegressor:  # exact: the smaller boosted models are the first trees
        np.testing.assert_allclose(grown.avgMetrics, reference.avgMetrics, rtol=1e-12)
    else:  # a forest's first trees are a smaller forest, not the one a separate fit would draw
        grid = reference.getEstimatorParamMaps()
        folds = TimeSeriesCrossValidator(numFolds=2, timeCol="forecast_date").folds(rows)
        evaluator = RegressionEvaluator(labelCol="target")
        for index, point in enumerate(grid):
            params = {p.name: v for p, v in point.items()}
            if params[size] == max(values):  # the largest size is the same fit as a plain search's
                np.testing.assert_allclose(grown.avgMetrics[index], reference.avgMetrics[index], rtol=1e-12)
                continue
            # a smaller size scores the first trees of that fit, fold by fold
            expected = []
            for train, validation in folds:
                full = plain(labelCol="target", seed=1, maxDepth=params["maxDepth"], **{size: max(values)}).fit(train)
                expected.append(evaluator.evaluate(first_trees(full, params[size]).transform(validation)))
            np.testing.assert_allclose(grown.avgMetrics[index], np.mean(expected), rtol=1e-9)
    assert type(grown.bestModel).__name__ == type(reference.bestModel).__name__
