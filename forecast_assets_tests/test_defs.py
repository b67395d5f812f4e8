"""The code location loads whole: every asset, check and job resolves, and loading starts no JVM."""

import subprocess
import sys

from forecast_assets import defs
from forecast_assets_tests.conftest import ALL_CHECKS
from forecast_assets_tests.minio_server import REPO

EXPECTED_GROUPS = {
    "raw_sales": "ingestion",
    "feature_pipeline": "features",
    "feature_dataset": "features",
    "random_forest_model": "training",
    "linear_regression_model": "training",
    "gradient_boosting_model": "training",
    "model_comparison": "evaluation",
    "production_model": "evaluation",
    "sales_forecast": "monitoring",
    "shadow_forecast": "monitoring",
    "forecast_accuracy": "monitoring",
    "drift_score": "monitoring",
}


def test_every_asset_resolves_with_its_group():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == EXPECTED_GROUPS
    assert graph.get(next(k for k in graph.get_all_asset_keys() if k.path == ["raw_sales"])).partitions_def


def test_checks_and_job_resolve():
    graph = defs.resolve_asset_graph()
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert checks == ALL_CHECKS
    blocking = {
        (k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys if graph.get_check_spec(k).blocking
    }
    warnings_only = {("drift_score", "no_drift")} | {c for c in ALL_CHECKS if c[0] == "forecast_accuracy"}
    assert blocking == ALL_CHECKS - warnings_only
    job = defs.resolve_job_def("ml_pipeline")
    assert job.executor_def.name == "in_process"
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == set(EXPECTED_GROUPS)
    repository = defs.get_repository_def()
    assert {(s.name, s.job_name) for s in repository.schedule_defs} == {("weekly_retraining", "ml_pipeline")}
    assert {s.name for s in repository.sensor_defs} == {
        "new_sales_files",
        "drift_retraining",
        "notify_on_success",
        "notify_on_failure",
    }


def test_loading_the_definitions_starts_no_jvm():
    code = (
        "import forecast_assets, pyspark;"
        "from pyspark import SparkContext;"
        "forecast_assets.defs.resolve_asset_graph();"
        "assert SparkContext._gateway is None and SparkContext._active_spark_context is None; print('ok')"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert completed.stdout.strip() == "ok", completed.stderr[-2000:]
