"""Demand classes and the choice per class: the classes from the history, each class's own best method, and the
router that serves it (stored and read back, on real Spark)."""

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import PipelineModel

from forecast_assets.evaluation.assets import BASELINES, choose_per_class
from forecast_assets.ml.demand import (
    ERRATIC,
    INTERMITTENT,
    LUMPY,
    NEW,
    SMOOTH,
    DemandClassRouter,
    demand_class,
    demand_classes,
)
from forecast_assets.ml.spark_internals import load_any_model


@pytest.mark.parametrize(
    ("days", "sale_days", "cv2", "expected"),
    [
        (100, 95, 0.1, SMOOTH),  # sells 95 days of 100, evenly
        (100, 95, 0.9, ERRATIC),
        (100, 20, 0.1, INTERMITTENT),  # one day in five
        (100, 20, 0.9, LUMPY),
        (100, 76, 0.48, SMOOTH),  # ADI 1.316: just under the 1.32 cut
        (100, 75, 0.49, LUMPY),  # ADI 1.333 and CV² at its cut: neither frequent nor even
        (20, 20, 0.1, NEW),  # under four weeks of history
        (100, 1, None, NEW),  # one sale: no size variation to speak of
    ],
)
def test_a_product_is_classed_by_how_often_and_how_evenly_it_sells(days, sale_days, cv2, expected):
    assert demand_class(days, sale_days, cv2) == expected


def holdout(rows_per_class: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """Holdout rows of two origins (two days each) for one product per class; the baselines far off but for
    the 28-day mean and zero."""
    frames = [
        pd.DataFrame(
            {
                "produto": f"P-{cls}",
                "demand_class": cls,
                "origin_date": ["2025-06-01", "2025-06-01", "2025-06-08", "2025-06-08"],
                "horizon": [1, 2, 1, 2],
                **columns,
            }
        )
        for cls, columns in rows_per_class.items()
    ]
    frame = pd.concat(frames, ignore_index=True)
    for baseline, column in BASELINES.items():
        frame[baseline] = frame[column] if column == "ma_28" else (0.0 if column is None else 100.0)
    return frame


def test_each_class_gets_the_best_candidate_only_when_it_beats_that_class_best_baseline():
    frame = holdout(
        {
            # rmse per origin: xgboost 0 and 0.35, the 28-day mean 3.16 and 2.24: the candidate serves
            SMOOTH: {"target": [10.0, 12.0, 11.0, 9.0], "xgboost": [10.0, 12.0, 11.0, 9.5], "ma_28": [8.0] * 4},
            # xgboost 4.47 a day, the 28-day mean 2, zero 2.83: the 28-day mean serves
            LUMPY: {"target": [0.0, 4.0, 0.0, 4.0], "xgboost": [6.0] * 4, "ma_28": [2.0] * 4},
        }
    )
    chosen = choose_per_class(frame, ["xgboost"], "rmse", 0.02, 1.0)
    assert (chosen[SMOOTH]["choice"], chosen[SMOOTH]["kind"], chosen[SMOOTH]["column"]) == (
        "xgboost",
        "model",
        "xgboost",
    )
    assert chosen[SMOOTH]["scores"]["xgboost"] == pytest.approx(np.sqrt(0.25 / 2) / 2)
    assert (chosen[LUMPY]["choice"], chosen[LUMPY]["kind"], chosen[LUMPY]["column"]) == (
        "moving_average_28d",
        "baseline",
        "ma_28",
    )
    assert chosen[LUMPY]["best_model"] == "xgboost" and chosen[LUMPY]["scores"]["zero"] == pytest.approx(np.sqrt(8))
    assert chosen[SMOOTH]["rows"] == 4 and chosen[SMOOTH]["products"] == 1
    # A class without holdout rows takes the choice made on all rows: there the 28-day mean (2.38 against 3.17).
    for empty in (ERRATIC, INTERMITTENT, NEW):
        assert chosen[empty]["rows"] == 0 and chosen[empty]["from_all_rows"]
        assert chosen[empty]["choice"] == "moving_average_28d"
    # With a margin the candidate cannot clear, the smooth class takes its best baseline too.
    assert choose_per_class(frame, ["xgboost"], "rmse", 0.95, 1.0)[SMOOTH]["kind"] == "baseline"


def test_the_demand_classes_come_from_the_days_of_the_training_rows(spark):
    days = pd.date_range("2025-01-01", periods=60, freq="D").date
    rows = pd.DataFrame(
        {
            "produto": ["dense"] * 60 + ["rare"] * 60 + ["fresh"] * 10,
            "forecast_date": list(days) + list(days) + list(days[:10]),
            "target": [10.0 + (i % 3) for i in range(60)]
            + [5.0 if i % 6 == 0 else 0.0 for i in range(60)]
            + [1.0] * 10,
        }
    )
    doubled = pd.concat([rows, rows])  # a day two origins reach counts once
    classes = demand_classes(spark.createDataFrame(doubled)).set_index("produto")
    assert classes.loc["dense", "demand_class"] == SMOOTH and classes.loc["dense", "days"] == 60
    assert classes.loc["rare", "demand_class"] == INTERMITTENT and classes.loc["rare", "adi"] == pytest.approx(6.0)
    assert classes.loc["fresh", "demand_class"] == NEW


def test_the_router_serves_each_product_its_class_choice_and_says_which(spark, tmp_path):
    router = DemandClassRouter(
        products=["a", "b"],
        classes=[SMOOTH, LUMPY],
        choiceClasses=[SMOOTH, LUMPY, NEW],
        choiceColumns=["xgboost_prediction", "ma_28", ""],
        choiceMethods=["xgboost", "baseline_ma_28", "baseline_zero"],
    )
    PipelineModel(stages=[router]).write().save(str(tmp_path / "router"))
    served = load_any_model(str(tmp_path / "router"), spark)
    rows = spark.createDataFrame(
        [("a", 10.0, 3.0), ("b", 10.0, 3.0), ("c", 10.0, 3.0)],
        "produto string, xgboost_prediction double, ma_28 double",
    )
    out = served.transform(rows).toPandas().set_index("produto")
    np.testing.assert_allclose(out["prediction"].to_numpy(), [10.0, 3.0, 0.0])
    assert out["method"].tolist() == ["xgboost", "baseline_ma_28", "baseline_zero"]
    assert out["demand_class"].tolist() == [SMOOTH, LUMPY, NEW]  # a product it did not know is new
