"""The window features equal hand-computed values, in days (not rows), with missing days as zero."""

from datetime import date, timedelta

import pytest
from pyspark.ml import PipelineModel

from forecast_assets.ml.features import SalesWindowFeatures

START = date(2025, 1, 1)
DAYS = 70


def daily_values() -> dict[str, list[float]]:
    """The true daily sales per product; P_GAPS has no sale on every 5th day and two rows on every 3rd."""
    return {
        "P_FULL": [float(n + 1) for n in range(DAYS)],
        "P_GAPS": [0.0 if n % 5 == 4 else 10.0 + (n % 7) for n in range(DAYS)],
    }


def sales_rows() -> list[tuple]:
    rows = []
    for product, values in daily_values().items():
        for n, value in enumerate(values):
            day = START + timedelta(days=n)
            if value == 0:
                continue  # a day without sales has no row at all
            if n % 3 == 0:  # two sales on the same day: the daily total is their sum
                rows += [(product, "casa", 1, value / 4, day), (product, "casa", 2, value * 3 / 4, day)]
            else:
                rows.append((product, "casa", 1, value, day))
    return rows


def expected_row(values: list[float], t: int) -> dict:
    """Features for forecast date D = day t + 1, by hand: before(k) is the sales on D - k."""

    def before(k: int) -> float:
        return values[t + 1 - k]

    return {
        "lag_1": before(1),
        "lag_7": before(7),
        "lag_30": before(30),
        "ma_7": sum(before(k) for k in range(1, 8)) / 7,
        "ma_30": sum(before(k) for k in range(1, 31)) / 30,
        "same_weekday_4w": sum(before(7 * w) for w in range(1, 5)) / 4,
        "same_weekday_8w": sum(before(7 * w) for w in range(1, 9)) / 8,
        "trend": sum(before(k) for k in range(1, 8)) / 7 - sum(before(k) for k in range(1, 31)) / 30,
        "target": values[t + 1] if t + 1 < len(values) else None,
        "day_of_week": float((START + timedelta(days=t + 1)).isoweekday() % 7 + 1),  # Spark: Sunday = 1
        "month": float((START + timedelta(days=t + 1)).month),
    }


@pytest.fixture(scope="module")
def features(spark):
    sales = spark.createDataFrame(
        sales_rows(), "produto string, categoria_valor string, quantidade long, valor_total double, data_venda date"
    )
    return {(r["produto"], r["data_venda"]): r.asDict() for r in SalesWindowFeatures().transform(sales).collect()}


def test_one_row_per_product_per_day_from_full_history(features):
    transformer = SalesWindowFeatures()
    assert transformer.history_days() == 56
    per_product = DAYS - transformer.history_days() + 1  # the first row with 56 days of history, to the last day
    assert len(features) == 2 * per_product
    days = sorted(d for p, d in features if p == "P_GAPS")
    assert days[0] == START + timedelta(days=55) and days[-1] == START + timedelta(days=DAYS - 1)
    assert all(b - a == timedelta(days=1) for a, b in zip(days, days[1:], strict=False))  # missing days filled


@pytest.mark.parametrize("product", ["P_FULL", "P_GAPS"])
def test_values_equal_hand_computed(features, product):
    values = daily_values()[product]
    for t in range(55, DAYS):
        row = features[(product, START + timedelta(days=t))]
        assert row["forecast_date"] == START + timedelta(days=t + 1)
        for name, value in expected_row(values, t).items():
            assert row[name] == pytest.approx(value), (product, t, name)


def test_last_day_has_no_target_yet(features):
    last = START + timedelta(days=DAYS - 1)
    assert features[("P_FULL", last)]["target"] is None


def test_transformer_persists_inside_a_pipeline_model(spark, tmp_path):
    model = PipelineModel(stages=[SalesWindowFeatures(lags=[1, 2], windows=[3], weekdayWindows=[1])])
    model.write().save(str(tmp_path / "pipeline"))
    stage = PipelineModel.load(str(tmp_path / "pipeline")).stages[0]
    assert isinstance(stage, SalesWindowFeatures)
    assert stage.feature_columns() == ["lag_1", "lag_2", "ma_3", "same_weekday_1w", "trend", "day_of_week", "month"]
