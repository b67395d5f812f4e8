"""The whole graph on the embedded default (local Spark, local warehouse), in process and from the CLI."""

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from forecast_assets.assets.features import TRAIN
from forecast_assets.definitions import build_defs
from forecast_assets_tests.conftest import (
    ALL_CHECKS,
    TEST_RUN_CONFIG,
    load_current,
    materialize_graph,
    range_tags,
    resolved,
)
from forecast_assets_tests.minio_server import REPO

ALL_ASSETS = {
    "raw_sales",
    "feature_pipeline",
    "feature_dataset",
    "random_forest_model",
    "linear_regression_model",
    "gradient_boosting_model",
    "model_comparison",
    "production_model",
    "sales_forecast",
    "drift_score",
}


@pytest.fixture(scope="module")
def graph(spark, tmp_path_factory):
    """One successful materialization of the whole graph on the demo data, shared by this module."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FORECAST_STORAGE", "local")
        env.setenv("FORECAST_WAREHOUSE", str(tmp_path_factory.mktemp("warehouse")))
        defs = build_defs()
        result = materialize_graph(defs)
        yield defs, result


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_whole_graph_materializes(graph):
    defs, result = graph
    assert result.success
    assert materialized(result) == ALL_ASSETS
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    assert set(checks) == ALL_CHECKS
    assert [key for key, check in checks.items() if not check.passed] == []


def test_time_ordered_holdout_and_scaler_fitted_on_training_rows_only(graph, spark):
    defs, _ = graph
    dataset = load_current(defs, "ml_data_io", "feature_dataset")
    bounds = {
        r["split"]: (r["first"], r["last"])
        for r in dataset.groupBy("split")
        .agg(F.min("forecast_date").alias("first"), F.max("forecast_date").alias("last"))
        .collect()
    }
    assert bounds[TRAIN][1] < bounds["holdout"][0]  # no holdout date in training
    assert bounds["holdout"][1] - bounds["holdout"][0] == timedelta(days=13)  # the last 2 weeks

    pipeline: PipelineModel = load_current(defs, "ml_models_io", "feature_pipeline")
    scaler = pipeline.stages[-1]
    raw = load_current(defs, "processed_data_io", "raw_sales")
    assembled = PipelineModel(stages=pipeline.stages[:-1]).transform(raw).filter(F.col("features_raw").isNotNull())
    holdout_start = bounds["holdout"][0]

    def mean_of(frame) -> np.ndarray:
        vectors = np.array([r["features_raw"].toArray() for r in frame.select("features_raw").collect()])
        return vectors.mean(axis=0)

    # The scaler saw the feature rows computable from sales before the holdout: forecast dates up to its first day.
    np.testing.assert_allclose(
        scaler.mean.toArray(), mean_of(assembled.filter(F.col("forecast_date") <= holdout_start)), rtol=1e-9
    )
    assert not np.allclose(scaler.mean.toArray(), mean_of(assembled))


def test_comparison_report_has_models_baselines_and_lineage(graph):
    defs, result = graph
    report = load_current(defs, "ml_experiments_io", "model_comparison")
    assert set(report["models"]) == {"random_forest", "linear_regression", "gradient_boosting"}
    assert set(report["baselines"]) == {"naive", "seasonal_naive"}
    for entry in [*report["models"].values(), *report["baselines"].values()]:
        assert set(entry["metrics"]) == {"rmse", "mae", "r2", "wape", "mase"}
        assert all(np.isfinite(v) for v in entry["metrics"].values())
    assert report["models"]["random_forest"]["feature_importances"]
    assert report["models"]["gradient_boosting"]["training_seconds"] > 0
    assert report["run_id"] == result.run_id
    assert report["feature_dataset"]["holdout_start"] == report["holdout"]["first_date"]
    # The demo data has weekly seasonality and noise: a tuned model beats seasonal naive there.
    best = report["best_model"]
    assert report["models"][best]["metrics"]["rmse"] < report["baselines"]["seasonal_naive"]["metrics"]["rmse"]
    markdown = result.asset_materializations_for_node("model_comparison")[0].metadata["report"].value
    assert markdown.count("data:image/png;base64,") >= 4


def test_production_model_forecasts_every_product(graph):
    defs, result = graph
    forecast = load_current(defs, "ml_data_io", "sales_forecast").toPandas()
    raw = load_current(defs, "processed_data_io", "raw_sales")
    products = {r[0] for r in raw.select("produto").distinct().collect()}
    last_day = raw.agg(F.max("data_venda")).first()[0]
    assert set(forecast["produto"]) == products
    assert (forecast["forecast_date"] == last_day + timedelta(days=1)).all()
    assert (forecast["forecast_valor_total"] >= 0).all() and forecast["forecast_valor_total"].sum() > 0
    production = result.asset_materializations_for_node("production_model")[0].metadata
    assert production["version"].value == 1
    assert production["model"].value in ("random_forest", "linear_regression", "gradient_boosting")


def test_drift_score_is_stored_with_a_table_per_column(graph):
    defs, _ = graph
    drift = load_current(defs, "ml_experiments_io", "drift_score")
    assert {c["column"] for c in drift["columns"]} >= {"lag_1", "lag_7", "ma_30", "prediction"}
    assert 0.0 <= drift["score"] <= 1.0 and isinstance(drift["drifted"], bool)


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


def test_production_model_not_promoted_when_candidates_lose_to_seasonal_naive(graph, spark):
    defs, _ = graph
    before = load_current(defs, "ml_models_io", "production_model")
    version_before = resolved(defs, "ml_models_io").read_manifest(dg.AssetKey("production_model"))["last_version"]
    write_periodic_noise(defs, "noise")
    config = json.loads(json.dumps(TEST_RUN_CONFIG))
    config["ops"]["raw_sales"] = {"config": {"landing_prefix": "noise/"}}
    result = materialize_graph(defs, run_config=config, raise_on_error=False)

    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    gate = checks["best_model_beats_baselines"]
    assert not gate.passed and "not promoted" in gate.description
    assert [name for name, check in checks.items() if not check.passed] == ["best_model_beats_baselines"]
    assert "model_comparison" in materialized(result)
    assert "production_model" not in materialized(result)
    manifest = resolved(defs, "ml_models_io").read_manifest(dg.AssetKey("production_model"))
    assert manifest["last_version"] == version_before
    after = load_current(defs, "ml_models_io", "production_model")
    assert [type(s).__name__ for s in after.stages] == [type(s).__name__ for s in before.stages]


def test_dagster_job_execute_from_the_command_line(spark, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps(TEST_RUN_CONFIG))
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "FORECAST_STORAGE": "local",
        "FORECAST_WAREHOUSE": str(tmp_path / "warehouse"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "SPARK_DRIVER_MEMORY": "2g",
    }
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "execute",
            "-m",
            "forecast_assets",
            "-j",
            "ml_pipeline",
            "-c",
            str(config),
            "--tags",
            json.dumps(range_tags()),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stdout + completed.stderr
    manifest = json.loads((tmp_path / "warehouse" / "ml-models" / "production_model" / "_manifest.json").read_text())
    assert manifest["last_version"] == 1


def test_feature_dataset_check_catches_gaps_nulls_and_targets_that_do_not_add_up(graph, spark):
    from forecast_assets.assets.checks import feature_dataset_consistent

    defs, _ = graph
    dataset = load_current(defs, "ml_data_io", "feature_dataset").cache()
    raw = load_current(defs, "processed_data_io", "raw_sales")
    assert feature_dataset_consistent(feature_dataset=dataset, raw_sales=raw).passed

    first = dataset.agg(F.min("forecast_date")).first()[0]
    product = dataset.select("produto").first()[0]
    gap = dataset.filter(~((F.col("produto") == product) & (F.col("forecast_date") == first + timedelta(days=3))))
    result = feature_dataset_consistent(feature_dataset=gap, raw_sales=raw)
    assert not result.passed and "1 product(s) with missing or repeated days" in result.description

    nulls = dataset.withColumn("lag_7", F.when(F.col("produto") == product, None).otherwise(F.col("lag_7")))
    result = feature_dataset_consistent(feature_dataset=nulls, raw_sales=raw)
    assert not result.passed and "null or NaN values: {'lag_7':" in result.description

    inflated = dataset.withColumn("target", F.col("target") + F.when(F.col("produto") == product, 1.0).otherwise(0.0))
    result = feature_dataset_consistent(feature_dataset=inflated, raw_sales=raw)
    assert (
        not result.passed and f"1 product(s) whose targets do not add up to raw_sales: {product}" in result.description
    )
