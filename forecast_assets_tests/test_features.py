"""The window features equal hand-computed values: in days (not rows), from weekly origins to each of the next
H days, with days without a sale as zero and a week without any sale as unobserved (never zero)."""

import math
from datetime import date, timedelta

import numpy as np
import pytest
from pyspark.ml import PipelineModel

from forecast_assets.features.assets import daily_training_rows, fit_feature_pipeline, model_inputs
from forecast_assets.ml.features import LevelRescaler, SalesWindowFeatures

START = date(2025, 1, 6)  # a Monday
DAYS = 140  # 20 weeks
GAP = range(84, 91)  # the 13th week: no product sold anything (a feed outage)
NEW_FIRST_SALE = 110  # a product launched late (a Saturday)
SCHEMA = "produto string, categoria_valor string, quantidade long, valor_total double, data_venda date"


def daily_values() -> dict[str, list[float | None]]:
    """The true daily sales per product (None: unobserved). P_GAPS has no sale on every 5th day."""
    values = {
        "P_FULL": [float(n + 1) for n in range(DAYS)],
        "P_GAPS": [0.0 if n % 5 == 4 else 10.0 + (n % 7) for n in range(DAYS)],
        "NEW": [0.0 if n < NEW_FIRST_SALE else 3.0 + n % 2 for n in range(DAYS)],
    }
    return {p: [None if n in GAP else v for n, v in enumerate(series)] for p, series in values.items()}


def sales_rows() -> list[tuple]:
    rows = []
    for product, values in daily_values().items():
        for n, value in enumerate(values):
            day = START + timedelta(days=n)
            if not value:
                continue  # a day without sales (or unobserved) has no row at all
            if n % 3 == 0:  # two sales on the same day: the daily total is their sum
                rows += [(product, "casa", 1, value / 4, day), (product, "casa", 2, value * 3 / 4, day)]
            else:
                rows.append((product, "casa", 1, value, day))
    return rows


def _mean(values: list[float | None]) -> float | None:
    seen = [v for v in values if v is not None]
    return sum(seen) / len(seen) if seen else None


def expected_row(values: list[float | None], t: int, h: int) -> dict:
    """By hand, for the origin day t and horizon h. The long windows (112 days, 16 weeks) average the days the
    data has."""
    anchor = t + h - 7 * math.ceil(h / 7)
    ma_112 = _mean(values[max(0, t - 111) : t + 1])  # the level's window; the fallback for unobserved days
    lag = {k: values[t - k + 1] for k in (1, 7, 28)}
    target = values[t + h] if t + h < len(values) else None
    target_day = START + timedelta(days=t + h)

    def mean_or_level(days):
        mean = _mean(days)
        return ma_112 if mean is None else mean

    row = {
        **{f"lag_{k}": ma_112 if v is None else v for k, v in lag.items()},
        "ma_7": mean_or_level(values[t - 6 : t + 1]),
        "ma_28": mean_or_level(values[t - 27 : t + 1]),
        "ma_112": ma_112,
        "seasonal_naive": ma_112 if values[anchor] is None else values[anchor],
        **{
            f"same_weekday_{k}w": mean_or_level([values[anchor - 7 * w] for w in range(k) if anchor - 7 * w >= 0])
            for k in (4, 8, 16)
        },
        "horizon": h,
        "forecast_date": target_day,
        "target": target,
        "day_of_week": float(target_day.isoweekday() % 7 + 1),  # Spark: Sunday = 1
        "month": float(target_day.month),
        "year_sin": math.sin(target_day.timetuple().tm_yday * 2 * math.pi / 365.25),
        "complete": all(v is not None for v in lag.values()) and values[anchor] is not None and target is not None,
        "level": ma_112 + 1.0,
    }
    row["trend"] = row["ma_7"] - row["ma_112"]
    row["rel_lag_1"] = row["lag_1"] / row["level"]
    if target is not None:
        row["target_relative"] = target / row["level"]
    return row


@pytest.fixture(scope="module")
def features(spark):
    sales = spark.createDataFrame(sales_rows(), SCHEMA)
    rows = SalesWindowFeatures().transform(sales).collect()
    return {(r["produto"], r["origin_date"], r["horizon"]): r.asDict() for r in rows}


def origins_of(features, product: str) -> list[date]:
    return sorted({o for p, o, _ in features if p == product})


def test_rows_per_weekly_origin_and_horizon_from_full_history(features):
    transformer = SalesWindowFeatures()
    assert transformer.min_history_days() == 62  # the 8-week same-weekday mean, seen from an anchor 6 days back
    assert transformer.history_days() == 118  # what serving reads: the 16-week mean, from an anchor 6 days back
    origins = origins_of(features, "P_FULL")
    assert all(o.isoweekday() == 7 for o in origins)  # Sundays: the end of each partition week
    assert origins[0] == START + timedelta(days=62)  # the first Sunday with 62 days of data behind it
    assert origins[-1] == START + timedelta(days=DAYS - 1)  # the last day: its targets are still to come
    assert all(b - a == timedelta(days=7) for a, b in zip(origins, origins[1:], strict=False))
    assert {h for p, o, h in features if p == "P_FULL" and o == origins[0]} == set(range(1, 8))


@pytest.mark.parametrize("product", ["P_FULL", "P_GAPS", "NEW"])
def test_values_equal_hand_computed(features, product):
    values = daily_values()[product]
    for origin in origins_of(features, product):
        t = (origin - START).days
        for h in range(1, 8):
            row = features[(product, origin, h)]
            for name, value in expected_row(values, t, h).items():
                assert row[name] == pytest.approx(value), (product, origin, h, name)


def test_an_unobserved_week_is_never_zero_and_keeps_rows_out(features):
    gap_start = START + timedelta(days=GAP[0])
    before = START + timedelta(days=GAP[0] - 1)  # the Sunday before the outage
    # Its targets fall in the outage: unknown, not zero, and the rows are incomplete.
    assert all(features[("P_FULL", before, h)]["target"] is None for h in range(1, 8))
    assert not any(features[("P_FULL", before, h)]["complete"] for h in range(1, 8))
    # A week later the origin itself is unobserved: its lag_1 falls back to the level (mean of observed days).
    during = gap_start + timedelta(days=6)
    row = features[("P_FULL", during, 1)]
    assert not row["complete"] and row["lag_1"] == pytest.approx(_mean(daily_values()["P_FULL"][0:91]))
    # Four weeks later lag_28 has left the outage, but the 8-week same-weekday mean skips it, never zero.
    later = during + timedelta(days=28)
    row = features[("P_FULL", later, 1)]
    assert row["complete"]
    observed_anchors = [113, 106, 99, 92, 78, 71, 64]  # P_FULL sells n + 1 on day n; day 85 is in the outage
    assert row["same_weekday_8w"] == pytest.approx(sum(observed_anchors) / 7)  # a zero would make it / 8
    complete = sum(r["complete"] for r in features.values())
    assert 0 < complete < len(features)


def test_a_new_product_has_rows_from_its_first_sale_with_zeros_before(features):
    origins = origins_of(features, "NEW")
    first_sale = START + timedelta(days=NEW_FIRST_SALE)
    assert origins[0] == first_sale + timedelta(days=1)  # the Sunday after its first sale (a Saturday)
    row = features[("NEW", origins[0], 1)]
    assert row["lag_7"] == 0.0 and row["lag_1"] == 4.0 and row["days_since_sale"] == 0.0  # zeros before launch


def test_last_origin_has_no_target_yet(features):
    last = START + timedelta(days=DAYS - 1)
    assert all(features[("P_FULL", last, h)]["target"] is None for h in range(1, 8))


def test_horizon_is_a_parameter(spark):
    sales = spark.createDataFrame(sales_rows(), SCHEMA)
    rows = SalesWindowFeatures(horizon=10).transform(sales).filter("produto = 'P_FULL'").collect()
    assert {r["horizon"] for r in rows} == set(range(1, 11))
    values = daily_values()["P_FULL"]
    row = next(r for r in rows if r["horizon"] == 9 and r["target"] is not None and r["complete"])
    t = (row["origin_date"] - START).days
    assert row["seasonal_naive"] == values[t + 9 - 14]  # two weeks back: the last known same weekday


def test_daily_origins_are_every_day_with_the_same_hand_computed_features(spark, features):
    sales = spark.createDataFrame(sales_rows(), SCHEMA)
    rows = SalesWindowFeatures(originDays=1).transform(sales).filter("produto = 'P_GAPS'").collect()
    daily = {(r["origin_date"], r["horizon"]): r.asDict() for r in rows}
    origins = sorted({o for o, _ in daily})
    assert origins[0] == START + timedelta(days=61)  # 62 days of data behind it, whatever the weekday
    assert all(b - a == timedelta(days=1) for a, b in zip(origins, origins[1:], strict=False))
    values = daily_values()["P_GAPS"]
    for origin in origins:
        t = (origin - START).days
        for h in (1, 3, 7):  # the anchor is the target's weekday in the last known week, from any origin
            for name, value in expected_row(values, t, h).items():
                assert daily[(origin, h)][name] == pytest.approx(value), (origin, h, name)
    weekly = {(o, h): row for (p, o, h), row in features.items() if p == "P_GAPS"}
    assert {key: daily[key] for key in weekly} == weekly  # the Sunday rows are the weekly transform's
    with pytest.raises(ValueError, match="originDays 3"):
        SalesWindowFeatures(originDays=3)


def test_auto_training_origins_estimate_the_daily_rows_before_making_them(spark):
    sales = spark.createDataFrame(sales_rows(), SCHEMA)
    holdout_start = START + timedelta(days=125)  # a Sunday
    estimate = daily_training_rows(sales, START, holdout_start, horizon=7)
    rows = SalesWindowFeatures(originDays=1).transform(sales)
    made = rows.filter(rows.forecast_date <= holdout_start).count()
    # Per product 7 rows per origin day, less the last origins' horizons that reach past the holdout start.
    assert made <= estimate <= made + 3 * 21


def test_transformer_and_rescaler_persist_inside_a_pipeline_model(spark, tmp_path):
    model = PipelineModel(
        stages=[SalesWindowFeatures(lags=[1, 2], windows=[3], weekdayWindows=[1], horizon=3), LevelRescaler()]
    )
    model.write().save(str(tmp_path / "pipeline"))
    stages = PipelineModel.load(str(tmp_path / "pipeline")).stages
    assert isinstance(stages[0], SalesWindowFeatures) and isinstance(stages[1], LevelRescaler)
    assert stages[0].getOrDefault(stages[0].horizon) == 3
    assert stages[0].feature_columns()[:6] == [
        "rel_lag_1",
        "rel_lag_2",
        "rel_ma_3",
        "rel_seasonal_naive",
        "rel_same_weekday_1w",
        "rel_trend",
    ]
    frame = spark.createDataFrame([(0.5, 10.0), (-2.0, 10.0)], "relative_prediction double, level double")
    assert [r["prediction"] for r in stages[1].transform(frame).collect()] == [5.0, 0.0]


def test_statistical_forecasts_are_statsforecast_fits_on_each_origin_own_days(spark, features):
    """ETS(A,N,A) and AutoTheta per product at the latest Sundays, in Spark tasks: each equal to statsforecast fitted
    by hand on that product's days up to the origin (the unobserved week filled with the stretch's mean, the new
    product's 16 days too few for a weekly season: its last seven days' mean); the window columns unchanged."""
    from statsforecast.models import AutoETS, AutoTheta

    sales = spark.createDataFrame(sales_rows(), SCHEMA)
    history = 56  # reaches back over the unobserved week from every origin below
    transformer = SalesWindowFeatures(
        statisticalModels=["ets", "auto_theta"], statisticalOrigins=3, statisticalHistoryDays=history
    )
    assert transformer.history_days() == 118  # the windows read more than these fits
    assert SalesWindowFeatures(statisticalModels=["ets"]).history_days() == 1095  # serving reads three years
    rows = {(r["produto"], r["origin_date"], r["horizon"]): r.asDict() for r in transformer.transform(sales).collect()}
    assert rows.keys() == features.keys()
    latest = [START + timedelta(days=t) for t in (125, 132, 139)]  # the data's last three Sundays
    for key, row in rows.items():
        window_columns = {k: v for k, v in row.items() if not k.startswith("stat_")}
        assert window_columns == features[key]
        assert (row["stat_ets"] is not None) == (key[1] in latest), key
        assert (row["stat_auto_theta"] is not None) == (key[1] in latest), key
    first_sale = {"P_FULL": 0, "P_GAPS": 0, "NEW": NEW_FIRST_SALE}
    short = []
    for product, values in daily_values().items():
        for origin in latest:
            t = (origin - START).days
            stretch = values[max(first_sale[product], t - history + 1) : t + 1]
            fill = _mean(stretch)
            y = np.array([fill if v is None else v for v in stretch])
            got = {m: [rows[(product, origin, h)][f"stat_{m}"] for h in range(1, 8)] for m in ("ets", "auto_theta")}
            if len(y) < 28:  # NEW's first two origins
                short.append((product, origin))
                assert got["ets"] == got["auto_theta"] == pytest.approx([y[-7:].mean()] * 7, rel=1e-12)
                continue
            if origin == latest[0]:
                assert None in stretch  # the fit reads the unobserved week, filled
            by_hand = {"ets": AutoETS(season_length=7, model="ANA"), "auto_theta": AutoTheta(season_length=7)}
            for name, model in by_hand.items():
                expected = np.clip(model.forecast(y=y, h=7)["mean"], 0, None)
                np.testing.assert_allclose(got[name], expected, rtol=1e-9, err_msg=f"{product} {origin} {name}")
    assert short == [("NEW", latest[0]), ("NEW", latest[1])]


def test_statistical_forecasts_at_given_origins_and_unknown_models_refused(spark):
    sales = spark.createDataFrame(sales_rows(), SCHEMA)
    transformer = SalesWindowFeatures(statisticalModels=["auto_theta"])
    origin = START + timedelta(days=62)  # the first Sunday with the windows' minimum history
    rows = transformer.statistical_forecasts(sales, [origin, START + timedelta(days=55)]).toPandas()
    # the earlier Sunday lacks the minimum history, NEW had not sold yet: P_FULL and P_GAPS at one origin
    assert sorted({(r.produto, r.origin_date) for r in rows.itertuples()}) == [("P_FULL", origin), ("P_GAPS", origin)]
    assert sorted(rows["horizon"].unique()) == list(range(1, 8)) and (rows["stat_auto_theta"] >= 0).all()
    with pytest.raises(ValueError, match=r"statisticalModels \['prophet'\]: expected some of ets, auto_ets"):
        SalesWindowFeatures(statisticalModels=["prophet"])


def test_holiday_features_of_the_target_day_from_the_country_calendar(spark):
    """Brazil's 2025 national holidays in the data's range include Good Friday (18 April), Tiradentes (21 April)
    and Labour Day (1 May): each target day reads whether it is one and how far the next and the last are."""
    sales = spark.createDataFrame(sales_rows(), SCHEMA)
    transformer = SalesWindowFeatures(holidaysCountry="BR")
    assert transformer.feature_columns()[-3:] == ["holiday", "days_to_holiday", "days_from_holiday"]
    assert "holiday" not in SalesWindowFeatures().feature_columns()
    rows = transformer.transform(sales).filter("produto = 'P_FULL'").toPandas().set_index("forecast_date")
    expected = {  # forecast day: holiday, days to the next, days from the last (at most 14)
        date(2025, 4, 18): (1.0, 0.0, 0.0),
        date(2025, 4, 19): (0.0, 2.0, 1.0),
        date(2025, 4, 21): (1.0, 0.0, 0.0),
        date(2025, 4, 25): (0.0, 6.0, 4.0),
        date(2025, 5, 1): (1.0, 0.0, 0.0),
        date(2025, 5, 20): (0.0, 14.0, 14.0),  # the next (7 September) and the last (1 May) both farther
    }
    for day, values in expected.items():
        got = rows.loc[[day], ["holiday", "days_to_holiday", "days_from_holiday"]]
        assert (got.to_numpy() == values).all(), (day, got)
    with pytest.raises(ValueError, match="holidays country 'XX': not a country the holidays package knows"):
        SalesWindowFeatures(holidaysCountry="XX")


def test_a_pipeline_fitted_with_holidays_assembles_them_and_keeps_its_country(spark, tmp_path):
    sales = spark.createDataFrame(sales_rows(), SCHEMA)
    fitted, rows = fit_feature_pipeline(sales, holidays_country="BR-SP")
    rows.unpersist()
    fitted.write().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert model_inputs(loaded)[:2] == ["produto_idx", "categoria_idx"]
    assert model_inputs(loaded)[-3:] == ["holiday", "days_to_holiday", "days_from_holiday"]
    assert loaded.stages[0].getOrDefault(loaded.stages[0].holidaysCountry) == "BR-SP"
    assert "holiday" not in model_inputs(fit_feature_pipeline(sales)[0])
