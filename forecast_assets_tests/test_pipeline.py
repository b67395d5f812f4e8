"""The whole graph on the embedded default (local Spark, local warehouse), in process (`dagster job execute` from
the command line: test_cli.py's run-data, which runs exactly that command)."""

import base64
import copy
import io
import json
import os
import re
import shutil
from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from forecast_assets.definitions import build_defs
from forecast_assets.features.assets import TRAIN
from forecast_assets.ledger import read_ledger
from forecast_assets.ml.demand import ERRATIC, LUMPY, NEW, SMOOTH
from forecast_assets.ml.spark_internals import load_any_model
from forecast_assets.policies import TRIGGER_TAG
from forecast_assets.training.assets import regressor_stages, serving_model, statistical_served
from forecast_assets_tests.conftest import (
    AFTER_TRAINING,
    ALL_CHECKS,
    TEST_RUN_CONFIG,
    load_current,
    materialize_graph,
    resolved,
    settings_for_tests,
)

ALL_ASSETS = {
    "raw_sales",
    "feature_pipeline",
    "feature_dataset",
    "random_forest_model",
    "linear_regression_model",
    "xgboost_model",
    "model_comparison",
    "production_model",
    "sales_forecast",
    "forecast_accuracy",  # nothing to score on a first run, but it runs
    "drift_score",
}  # not shadow_forecast: a first promotion has no earlier model to shadow it


@pytest.fixture(scope="module")
def graph(spark, tmp_path_factory):
    """One successful materialization of the whole graph on the demo data, shared by this module."""
    defs = build_defs(settings_for_tests(warehouse=str(tmp_path_factory.mktemp("warehouse"))))
    config = copy.deepcopy(TEST_RUN_CONFIG)
    config["ops"]["model_comparison"]["config"]["statistical"] = ["ets"]  # the default: this graph tests it
    return defs, materialize_graph(defs, run_config=config)


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_whole_graph_materializes(graph):
    defs, result = graph
    assert result.success
    assert materialized(result) == ALL_ASSETS
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    assert set(checks) == ALL_CHECKS
    assert [key for key, check in checks.items() if not check.passed] == []
    # Without MLFLOW_TRACKING_URI nothing is tracked (test_lifecycle runs with it).
    assert not resolved(defs, "tracking").enabled
    assert "mlflow_run" not in result.asset_materializations_for_node("production_model")[0].metadata
    assert all("mlflow" not in entry for entry in read_ledger(resolved(defs, "warehouse")))


def test_time_ordered_holdout_and_scaler_fitted_on_training_rows_only(graph, spark):
    defs, _ = graph
    dataset = load_current(defs, "ml_data_io", "feature_dataset")
    bounds = {
        r["split"]: r
        for r in dataset.groupBy("split")
        .agg(
            F.min("origin_date").alias("first_origin"),
            F.max("forecast_date").alias("last_target"),
            F.countDistinct("origin_date").alias("origins"),
            F.countDistinct("horizon").alias("horizons"),
        )
        .collect()
    }
    holdout_start = bounds["holdout"]["first_origin"]
    assert bounds[TRAIN]["last_target"] <= holdout_start  # no training target after the first holdout origin
    assert bounds["holdout"]["origins"] == 2 and bounds["holdout"]["horizons"] == 7  # the last 2 weeks, 7 days each
    assert holdout_start.isoweekday() == 7

    # The demo data is small: auto trained on daily origins; the holdout and the stored pipeline stay weekly.
    training_origins = {
        r[0] for r in dataset.filter(F.col("split") == TRAIN).select(F.dayofweek("origin_date")).distinct().collect()
    }
    assert training_origins == set(range(1, 8))
    assert {
        r[0]
        for r in dataset.filter(F.col("split") == "holdout").select(F.dayofweek("origin_date")).distinct().collect()
    } == {1}
    pipeline: PipelineModel = load_current(defs, "ml_models_io", "feature_pipeline")
    windows, scaler = pipeline.stages[0], pipeline.stages[-1]
    assert windows.getOrDefault(windows.originDays) == 7  # serving forecasts from the week's end
    raw = load_current(defs, "processed_data_io", "raw_sales")
    fitted = [windows.copy({windows.originDays: 1}), *pipeline.stages[1:-1]]
    assembled = PipelineModel(stages=fitted).transform(raw)

    def mean_of(frame) -> np.ndarray:
        vectors = np.array([r["features_raw"].toArray() for r in frame.select("features_raw").collect()])
        return vectors.mean(axis=0)

    # The scaler saw the rows computable from sales up to the first holdout origin: origins up to that day.
    np.testing.assert_allclose(
        scaler.mean.toArray(), mean_of(assembled.filter(F.col("origin_date") <= holdout_start)), rtol=1e-9
    )
    assert not np.allclose(scaler.mean.toArray(), mean_of(assembled))


def test_comparison_report_scores_every_baseline_per_origin_and_horizon(graph):
    from forecast_assets.evaluation.assets import BASELINES

    defs, result = graph
    report = load_current(defs, "ml_experiments_io", "model_comparison")
    assert set(report["models"]) == {"random_forest", "linear_regression", "xgboost", "ets", "combination"}
    assert set(report["baselines"]) == set(BASELINES) >= {"naive", "seasonal_naive", "moving_average_28d", "zero"}
    origins = report["holdout"]["origins"]
    assert len(origins) == 2 and report["holdout"]["horizon_days"] == 7
    for entry in [*report["models"].values(), *report["baselines"].values()]:
        assert {"rmse", "mae", "wape", "weekly_wape", "mase", "bias"} <= set(entry["metrics"])
        assert set(entry["by_origin"]) == set(origins)
        assert set(entry["by_horizon"]) == {str(h) for h in range(1, 8)}
        assert np.isfinite(entry["origin_mean"]["rmse"]) and entry["origin_std"]["rmse"] >= 0
        # the mean over origins is the mean of the per-origin figures
        per_origin = [entry["by_origin"][o]["rmse"] for o in origins]
        assert entry["origin_mean"]["rmse"] == pytest.approx(np.mean(per_origin))
    zero = report["baselines"]["zero"]["origin_mean"]
    assert zero["wape"] == pytest.approx(1.0) and zero["bias"] < 0
    gate = report["gate"]
    baseline_values = {name: e["origin_mean"][gate["metric"]] for name, e in report["baselines"].items()}
    assert gate["best_baseline"] == min(baseline_values, key=baseline_values.get)  # the best, not seasonal naive
    best = report["best_model"]
    assert report["models"][best]["ratio_to_best_baseline"] == pytest.approx(
        report["models"][best]["origin_mean"][gate["metric"]] / baseline_values[gate["best_baseline"]]
    )
    assert report["models"]["random_forest"]["feature_importances"]
    boosted = report["models"]["xgboost"]["feature_importances"]  # XGBoost's total gain, as shares
    assert set(boosted) == set(report["models"]["random_forest"]["feature_importances"])
    assert sum(boosted.values()) == pytest.approx(1.0) and max(boosted.values()) > 0
    assert report["models"]["linear_regression"]["feature_importances"] is None
    assert report["models"]["xgboost"]["training_seconds"] > 0
    assert report["models"]["ets"]["statistical"] and report["models"]["ets"]["training_seconds"] > 0
    assert report["run_id"] == result.run_id
    assert report["feature_dataset"]["holdout_start"] == origins[0]
    metadata = result.asset_materializations_for_node("model_comparison")[0].metadata
    assert metadata["report"].value.count("data:image/png;base64,") >= 4
    assert {r.data["name"] for r in metadata["metrics"].value.records} == set(report["models"]) | set(BASELINES)


def test_the_combination_averages_the_best_two_by_cross_validation_and_serves_what_was_scored(graph, spark, tmp_path):
    """The combination: the two best regressors by cross-validation and the statistical candidate, equal weights;
    the production model made of it (its window stage fitting ETS(A,N,A) at the latest origins), stored and read back,
    forecasts the holdout from raw sales exactly as model_comparison scored it."""
    defs, result = graph
    report = load_current(defs, "ml_experiments_io", "model_comparison")
    cv = {
        name: result.asset_materializations_for_node(f"{name}_model")[0].metadata["cv_rmse"].value
        for name in ("random_forest", "linear_regression", "xgboost")
    }
    entry = report["models"]["combination"]
    # the regressors chosen on the training split, not the holdout; the statistical candidate beside them
    assert entry["members"] == [*sorted(cv, key=cv.get)[:2], "ets"]
    assert entry["best_params"]["weights"] == pytest.approx([1 / 3] * 3)
    fitted = {name: load_current(defs, "ml_models_io", f"{name}_model") for name in entry["members"][:2]}
    pipeline = load_current(defs, "ml_models_io", "feature_pipeline")
    serving_model("combination", pipeline, fitted, entry).write().save(str(tmp_path / "c"))
    served = load_any_model(str(tmp_path / "c"), spark)
    assert served.stages[0].statistical_models() == ["ets"] and not pipeline.stages[0].statistical_models()
    raw = load_current(defs, "processed_data_io", "raw_sales")
    columns = [*[f"{m}_prediction" for m in entry["members"][:2]], "stat_ets"]
    frame = (
        served.transform(raw)
        .filter(F.col("origin_date").isin(*report["holdout"]["origins"]) & F.col("complete"))
        .select("origin_date", "target", "prediction", *columns)
        .toPandas()
    )
    assert len(frame) == report["holdout"]["rows"]
    members = frame[columns]
    np.testing.assert_allclose(frame["prediction"], members.mean(axis=1), rtol=1e-12)
    assert (members >= 0).all().all()  # each member rescaled and clipped before the mean
    by_origin = frame.groupby("origin_date").apply(lambda g: np.sqrt(((g["target"] - g["prediction"]) ** 2).mean()))
    assert by_origin.mean() == pytest.approx(entry["origin_mean"]["rmse"], rel=1e-9)
    for name in entry["members"]:  # a member alone is one of the scored candidates
        assert report["models"][name]["origin_mean"]["rmse"] > 0


def test_a_model_chosen_per_demand_class_serves_each_product_its_class_choice(graph, spark):
    defs, _ = graph
    holdout = load_current(defs, "ml_data_io", "feature_dataset").filter(F.col("split") == "holdout")
    products = sorted(r[0] for r in holdout.select("produto").distinct().collect())
    # the rest: products the model does not know
    groups = {SMOOTH: products[0::4], LUMPY: products[1::4], ERRATIC: products[2::4]}
    fitted = {name: load_current(defs, "ml_models_io", f"{name}_model") for name in ("xgboost", "random_forest")}
    entry = {
        "routing": {
            "products": [p for group in groups.values() for p in group],
            "classes": [cls for cls, group in groups.items() for _ in group],
            "choices": {
                SMOOTH: {"choice": "xgboost", "kind": "model", "column": "xgboost"},
                LUMPY: {"choice": "combination", "kind": "model", "column": "combination"},
                ERRATIC: {"choice": "ets", "kind": "model", "column": "ets"},
                NEW: {"choice": "moving_average_112d", "kind": "baseline", "column": "ma_112"},
            },
        },
        "combination_members": ["xgboost", "random_forest"],
    }
    assert statistical_served("per_class", entry) == ["ets"]  # the served window stage fits it
    windows = load_current(defs, "ml_models_io", "feature_pipeline").stages[0].copy()
    windows.set(windows.statisticalModels, ["ets"])
    origins = [r[0] for r in holdout.select("origin_date").distinct().collect()]
    stat = windows.statistical_forecasts(load_current(defs, "processed_data_io", "raw_sales"), origins)
    holdout = holdout.join(stat, ["produto", "origin_date", "horizon"], "left")
    served = PipelineModel(stages=regressor_stages("per_class", fitted, entry)).transform(holdout).toPandas()
    alone = {
        name: PipelineModel(stages=regressor_stages(name, fitted, {"members": ["xgboost", "random_forest"]}))
        .transform(holdout)
        .toPandas()
        .set_index(["produto", "origin_date", "horizon"])["prediction"]
        for name in ("xgboost", "combination")
    }
    served = served.set_index(["produto", "origin_date", "horizon"])
    smooth = served["demand_class"] == SMOOTH
    lumpy = served["demand_class"] == LUMPY
    erratic = served["demand_class"] == ERRATIC
    new = served["demand_class"] == NEW
    assert smooth.any() and lumpy.any() and erratic.any() and new.any()
    np.testing.assert_allclose(served.loc[erratic, "prediction"], served.loc[erratic, "stat_ets"])
    assert set(served.loc[erratic, "method"]) == {"ets"}
    np.testing.assert_allclose(served.loc[smooth, "prediction"], alone["xgboost"][smooth[smooth].index])
    np.testing.assert_allclose(served.loc[lumpy, "prediction"], alone["combination"][lumpy[lumpy].index])
    np.testing.assert_allclose(served.loc[new, "prediction"], served.loc[new, "ma_112"])
    assert set(served.loc[smooth, "method"]) == {"xgboost"} and set(served.loc[lumpy, "method"]) == {"combination"}
    assert set(served.loc[new, "method"]) == {"baseline_ma_112"}


def test_production_model_forecasts_the_next_week_for_every_active_product(graph):
    defs, result = graph
    forecast = load_current(defs, "ml_data_io", "sales_forecast").toPandas()
    raw = load_current(defs, "processed_data_io", "raw_sales")
    last_day = raw.agg(F.max("data_venda")).first()[0]
    active = {r[0] for r in raw.filter(F.col("data_venda") > last_day - timedelta(days=56)).select("produto").collect()}
    assert set(forecast["produto"]) == active
    assert all(sorted(h) == list(range(1, 8)) for h in forecast.groupby("produto")["horizon"].apply(list))
    assert (forecast["origin_date"] == last_day).all() and last_day.isoweekday() == 7  # the last complete week
    assert (forecast["forecast_date"] == forecast["origin_date"] + pd.to_timedelta(forecast["horizon"], "D")).all()
    served = result.asset_materializations_for_node("production_model")[0].metadata["model"].value
    if served == "per_class":  # each product's class chose its method
        report = load_current(defs, "ml_experiments_io", "model_comparison")
        choices = report["models"]["per_class"]["routing"]["choices"].values()
        assert set(forecast["method"]) <= {
            c["choice"] if c["kind"] == "model" else f"baseline_{c['column'] or 'zero'}" for c in choices
        }
    else:
        assert (forecast["method"] == "model").all()
    assert (forecast["forecast_valor_total"] >= 0).all() and forecast["forecast_valor_total"].sum() > 0
    # Conformal intervals around every forecast, never below zero, the 95% one around the 80% one.
    columns = ["lower_95", "lower_80", "forecast_valor_total", "upper_80", "upper_95"]
    assert forecast[columns].notna().all().all() and (forecast["lower_95"] >= 0).all()
    assert (forecast[columns].diff(axis=1).iloc[:, 1:] >= -1e-9).all().all()
    assert (forecast["upper_95"] > forecast["lower_95"]).mean() > 0.9
    intervals = result.asset_materializations_for_node("sales_forecast")[0].metadata["intervals"].value
    assert "Split-conformal on |actual - forecast| / level over origins 2025-10-05, 2025-10-12" in intervals
    production = result.asset_materializations_for_node("production_model")[0].metadata
    assert production["version"].value == 1
    assert production["model"].value in ("random_forest", "linear_regression", "xgboost")


def test_the_ui_gets_sortable_tables_not_markdown(graph):
    """Metric, per-horizon, CV-grid, drift, interval and preview tables are table metadata with a schema whose
    column types match the values (the UI sorts numbers as numbers)."""
    _, result = graph

    def table(asset: str, key: str) -> dg.TableMetadataValue:
        value = result.asset_materializations_for_node(asset)[0].metadata[key]
        assert isinstance(value, dg.TableMetadataValue), (asset, key)
        return value

    metrics = table("model_comparison", "metrics")
    assert {r.data["name"] for r in metrics.records} >= {"random_forest", "seasonal_naive", "zero"}
    rmse = [r.data["rmse"] for r in metrics.records]
    assert rmse == sorted(rmse) and {c.type for c in metrics.schema.columns if c.name != "name"} == {"float"}
    horizon = table("model_comparison", "rmse_by_horizon")
    assert [r.data["horizon_days"] for r in horizon.records] == list(range(1, 8))
    grid = table("random_forest_model", "cv_grid")
    assert [c.name for c in grid.schema.columns] == ["numTrees", "maxDepth", "cv_rmse"]
    assert [r.data["maxDepth"] for r in grid.records] != [] and all(r.data["cv_rmse"] > 0 for r in grid.records)
    assert {c.name: c.type for c in grid.schema.columns}["maxDepth"] == "int"
    drift = table("drift_score", "columns")
    assert {r.data["column"] for r in drift.records} >= {"rel_lag_1", "prediction"}
    widths = table("sales_forecast", "interval_widths")
    assert [c.name for c in widths.schema.columns] == ["horizon", "q80", "q95"] and len(widths.records) == 7
    assert len(table("sales_forecast", "preview").records) == 10


@pytest.mark.parametrize(("asset", "key"), [("sales_forecast", "forecast_plot"), ("model_comparison", "holdout_plot")])
def test_the_forecast_and_the_holdout_are_plotted_over_time(graph, asset, key, tmp_path):
    _, result = graph
    text = result.asset_materializations_for_node(asset)[0].metadata[key].value
    match = re.fullmatch(r"!\[[^\]]+\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)
    assert match, text[:200]
    from matplotlib import image

    path = tmp_path / f"{key}.png"
    path.write_bytes(base64.b64decode(match.group(1)))
    if os.environ.get("FORECAST_PLOTS_DIR"):  # to look at them
        shutil.copy(path, os.environ["FORECAST_PLOTS_DIR"])
    pixels = image.imread(path)
    assert pixels.shape[0] > 150 and pixels.shape[1] > 300 and pixels.std() > 0.05  # a drawn figure, not blank


def test_drift_score_is_the_share_of_drifted_columns_under_the_thresholds(graph):
    defs, result = graph
    drift = load_current(defs, "ml_experiments_io", "drift_score")
    columns = {c["column"]: c for c in drift["columns"]}
    assert {"rel_lag_1", "rel_same_weekday_4w", "sale_share"} <= set(columns)
    served = load_current(defs, "ml_models_io", "production_model")
    # the prediction drifts too, unless what serves reads statistical forecasts (made at the latest origins only)
    assert drift["prediction_measured"] == ("prediction" in columns) == (not served.stages[0].statistical_models())
    assert not {"day_of_week", "year_sin", "horizon"} & set(columns)  # known in advance: never drift
    limits = drift["thresholds"]
    for name, column in columns.items():
        over = column["ks_statistic"] > limits["ks_statistic"] or column["psi"] > limits["psi"]
        assert column["drifted"] == over and 0 <= column["ks_pvalue"] <= 1, name
    flagged = [name for name, column in columns.items() if column["drifted"]]
    assert drift["drifted_columns"] == flagged
    assert drift["score"] == pytest.approx(len(flagged) / len(columns))
    assert drift["prediction_drifted"] == ("prediction" in columns and columns["prediction"]["drifted"])
    assert drift["drifted"] == (drift["score"] >= limits["drifted_share"] or drift["prediction_drifted"])
    reference_end = drift["reference_window"].removeprefix(".. ")
    assert reference_end < drift["current_window"].split(" .. ")[0]  # the windows do not overlap
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["drift_score"]]
    assert event.materialization.metadata["drift_score"].value == pytest.approx(drift["score"])


def write_periodic_noise(defs: dg.Definitions, prefix: str) -> None:
    """Pure noise repeated every week: seasonal naive is exact, so no candidate can beat it."""
    rng = np.random.default_rng(3)
    days = pd.date_range("2025-06-02", "2025-10-19", freq="D")
    frames = []
    for p in range(12):
        pattern = rng.uniform(10, 200, 7)
        frames.append(
            pd.DataFrame(
                {
                    "produto": f"N{p:02d}",
                    "categoria_valor": "casa",
                    "quantidade": 1,
                    "valor_total": pattern[np.arange(len(days)) % 7],
                    "data_venda": days.date,
                }
            )
        )
    buffer = io.BytesIO()
    pd.concat(frames).to_parquet(buffer, index=False)
    resolved(defs, "warehouse").write_bytes("raw-data", f"{prefix}/sales.parquet", buffer.getvalue())


def test_feature_dataset_check_catches_repeats_nulls_and_targets_that_are_not_the_sales(graph, spark):
    from forecast_assets.features.checks import feature_dataset_consistent

    defs, _ = graph
    dataset = load_current(defs, "ml_data_io", "feature_dataset").cache()
    raw = load_current(defs, "processed_data_io", "raw_sales")
    pipeline = load_current(defs, "ml_models_io", "feature_pipeline")
    assert feature_dataset_consistent(feature_dataset=dataset, raw_sales=raw, feature_pipeline=pipeline).passed
    units = PipelineModel(
        stages=[pipeline.stages[0].copy({pipeline.stages[0].target: "quantidade"}), *pipeline.stages[1:]]
    )
    assert not feature_dataset_consistent(feature_dataset=dataset, raw_sales=raw, feature_pipeline=units).passed

    product = dataset.select("produto").first()[0]
    repeated = dataset.unionByName(dataset.filter(F.col("produto") == product).limit(1))
    result = feature_dataset_consistent(feature_dataset=repeated, raw_sales=raw, feature_pipeline=pipeline)
    assert not result.passed and "1 repeated (product, origin, horizon) row(s)" in result.description

    nulls = dataset.withColumn("rel_lag_7", F.when(F.col("produto") == product, None).otherwise(F.col("rel_lag_7")))
    result = feature_dataset_consistent(feature_dataset=nulls, raw_sales=raw, feature_pipeline=pipeline)
    assert not result.passed and "null or NaN values: {'rel_lag_7':" in result.description

    inflated = dataset.withColumn("target", F.col("target") + F.when(F.col("produto") == product, 1.0).otherwise(0.0))
    result = feature_dataset_consistent(feature_dataset=inflated, raw_sales=raw, feature_pipeline=pipeline)
    assert not result.passed and f"targets that are not the raw sales of their day: {product} on" in result.description


def test_a_first_run_that_no_candidate_wins_serves_the_best_baseline_then_keeps_it_serving(spark, local_settings):
    local_defs = build_defs(local_settings.replace(candidates=("random_forest",)))  # the gate's test
    write_periodic_noise(local_defs, "noise")
    config = json.loads(json.dumps(TEST_RUN_CONFIG))
    config["ops"]["raw_sales"] = {"config": {"landing_prefix": "noise/"}}
    result = materialize_graph(local_defs, run_config=config)  # succeeds: the gate only warns on a first run

    gate = {c.check_name: c for c in result.get_asset_check_evaluations()}["best_model_beats_baselines"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN
    assert "no production model yet, so the best baseline, seasonal_naive, is promoted" in gate.description
    production = result.asset_materializations_for_node("production_model")[0].metadata
    assert production["model"].value == "seasonal_naive" and production["kind"].value == "baseline"
    forecast = load_current(local_defs, "ml_data_io", "sales_forecast").toPandas()
    assert set(forecast["method"]) == {"baseline_seasonal_naive"}
    # The pattern repeats every week: the seasonal naive forecast is the pattern itself.
    raw = load_current(local_defs, "processed_data_io", "raw_sales").toPandas()
    raw["weekday"] = pd.to_datetime(raw["data_venda"]).dt.dayofweek
    pattern = raw.groupby(["produto", "weekday"])["valor_total"].first()
    forecast["weekday"] = pd.to_datetime(forecast["forecast_date"]).dt.dayofweek
    expected = pattern.loc[list(zip(forecast["produto"], forecast["weekday"], strict=True))].to_numpy()
    np.testing.assert_allclose(forecast["forecast_valor_total"].to_numpy(), expected)

    # The next evaluation of the same candidates (from model_comparison on): they lose to the baselines again, so
    # they are refused and the champion (the baseline) keeps serving, as a new version that is its stored folder.
    before = resolved(local_defs, "ml_models_io").read_manifest(dg.AssetKey("production_model"))
    again = materialize_graph(
        local_defs,
        run_config=config,
        selection=AFTER_TRAINING,
        raise_on_error=False,
    )
    checks = {c.check_name: c for c in again.get_asset_check_evaluations()}
    gate = checks["best_model_beats_baselines"]
    assert not gate.passed and "not promoted" in gate.description and gate.severity == dg.AssetCheckSeverity.WARN
    assert gate.metadata["decided_by"].value == "baselines" and "keeps serving" in gate.description
    assert [name for name, check in checks.items() if not check.passed] == ["best_model_beats_baselines"]
    assert {"model_comparison", "production_model", "sales_forecast"} <= materialized(again)
    production = again.asset_materializations_for_node("production_model")[0].metadata
    assert production["event"].value == "refusal" and production["kind"].value == "baseline"
    after = resolved(local_defs, "ml_models_io").read_manifest(dg.AssetKey("production_model"))
    assert after.last_version == before.last_version + 1
    assert after.pointer()["key"] == before.pointer()["key"]  # the same model serves


def test_tuning_refits_at_the_last_searchs_parameters_and_searches_when_it_pays(graph):
    """A candidate alone, against the graph's stored feature_dataset (whose materialization the instance knows):
    auto searches first, then refits at that search's parameters, searches again when drift triggered the run,
    and refit takes the latest search's. The report of each says which happened and where the parameters came
    from."""
    defs, result = graph
    (dataset,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "feature_dataset"
    ]
    asset = dg.AssetKey("linear_regression_model")

    def train(instance, tuning: str, **tags) -> dict:
        config = {"profile": "small", "cv_folds": 2, "parallelism": 1, "tuning": tuning}
        run = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            resources=defs.resources,
            selection=dg.AssetSelection.assets(asset),
            run_config={"ops": {"linear_regression_model": {"config": config}}},
            instance=instance,
            tags=tags,
        )
        assert run.success
        metadata = run.asset_materializations_for_node("linear_regression_model")[0].metadata
        return {"run_id": run.run_id, **{k: v.value for k, v in metadata.items()}}

    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dataset.materialization)  # this run's data, as features recorded it
        first = train(instance, "auto")
        assert first["tuning"] == "search" and "no earlier search" in first["tuning_reason"]
        assert first["grid_points"] == 2 and first["params_from_run"] == first["run_id"]
        refit = train(instance, "auto")
        assert refit["tuning"] == "refit" and refit["params_from_run"] == first["run_id"]
        assert refit["best_params"] == first["best_params"] and refit["cv_rmse"] == first["cv_rmse"]
        assert "0 week(s) of data old (searches again at 4)" in refit["tuning_reason"]
        drifted = train(instance, "auto", **{TRIGGER_TAG: "drift"})
        assert drifted["tuning"] == "search" and "drift triggered this run" in drifted["tuning_reason"]
        again = train(instance, "refit")
        assert again["tuning"] == "refit" and again["params_from_run"] == drifted["run_id"]
