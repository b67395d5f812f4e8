"""The code location loads whole: every asset, check and job resolves, and loading starts no JVM."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from forecast_assets import defs
from forecast_assets.definitions import build_defs
from forecast_assets_tests.conftest import ALL_CHECKS, ASSET_GROUPS
from forecast_assets_tests.minio_server import REPO


def test_every_asset_resolves_with_its_group():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == ASSET_GROUPS
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
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == set(ASSET_GROUPS)
    repository = defs.get_repository_def()
    assert {(s.name, s.job_name) for s in repository.schedule_defs} == {("weekly_retraining", "ml_pipeline")}
    assert {s.name for s in repository.sensor_defs} == {
        "new_sales_files",
        "drift_retraining",
        "notify_on_success",
        "notify_on_failure",
    }


def test_every_run_whoever_launches_it_uses_one_process_the_spark_pool_and_the_retry_policy():
    """The UI's Materialize runs the implicit asset job: it must run as ml_pipeline does."""
    graph = defs.resolve_asset_graph()
    for job in (defs.resolve_implicit_global_asset_job_def(), defs.resolve_job_def("ml_pipeline")):
        assert job.executor_def is dg.in_process_executor, job.name
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.pools == {"spark"}, key
        assert node.assets_def.op.retry_policy.max_retries == 2, key
    rollback = defs.resolve_job_def("rollback_production_model")
    assert rollback.executor_def is dg.in_process_executor
    assert {node.definition.pool for node in rollback.nodes} == {"spark"}


def test_assets_carry_owners_tags_storage_kind_freshness_and_code_links(monkeypatch, minio):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:forecasting"] and node.tags["domain"] == "sales", key
        assert node.tags["stage"] == node.group_name and "local" in node.kinds and len(node.kinds) <= 3, key
        (reference,) = node.metadata["dagster/code_references"].code_references
        assert f"def {key.path[-1]}" in Path(reference.file_path).read_text() or key.path[-1].endswith(
            ("_model", "feature_pipeline", "feature_dataset")
        ), key
        policy = node.freshness_policy
        if key.to_user_string() in ("production_model", "sales_forecast"):
            assert policy.deadline_cron == "0 12 * * 1" and policy.lower_bound_delta == timedelta(hours=12), key
        else:
            assert policy is None, key
    # The environment decides them when the definitions are built: MinIO storage, a team, a later deadline.
    monkeypatch.setenv("FORECAST_STORAGE", "minio")
    monkeypatch.setenv("FORECAST_S3_ENDPOINT", minio.endpoint)
    monkeypatch.setenv("FORECAST_OWNERS", "team:sales-analytics,ana@example.com")
    monkeypatch.setenv("FORECAST_DEADLINE_HOUR", "9")
    monkeypatch.setenv("FORECAST_SOURCE_URL", "https://github.com/example/forecast_assets")
    graph = build_defs().resolve_asset_graph()
    node = graph.get(dg.AssetKey("sales_forecast"))
    assert "minio" in node.kinds and "local" not in node.kinds
    assert node.owners == ["team:sales-analytics", "ana@example.com"]
    assert node.freshness_policy.deadline_cron == "0 9 * * 1"
    (reference,) = node.metadata["dagster/code_references"].code_references
    assert reference.url.startswith("https://github.com/example/forecast_assets/tree/main/forecast_assets/assets/")
    monkeypatch.setenv("FORECAST_OWNERS", "nobody")
    with pytest.raises(ValueError, match="FORECAST_OWNERS: 'nobody' is neither an e-mail address nor team:<name>"):
        build_defs()


def test_loading_the_definitions_starts_no_jvm():
    code = (
        "import forecast_assets, pyspark;"
        "from pyspark import SparkContext;"
        "forecast_assets.defs.resolve_asset_graph();"
        "assert SparkContext._gateway is None and SparkContext._active_spark_context is None; print('ok')"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert completed.stdout.strip() == "ok", completed.stderr[-2000:]
