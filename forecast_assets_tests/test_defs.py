"""The code location loads whole: every asset, check and job resolves from explicit settings, what Dagster loads
reads the environment only when it is called, and loading starts no JVM."""

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from devtools.minio_server import REPO
from forecast_assets.definitions import build_defs
from forecast_assets.settings import Settings
from forecast_assets_tests.conftest import ALL_CHECKS, ASSET_GROUPS

defs = build_defs(Settings())  # the embedded default


def test_every_asset_resolves_with_its_group():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == ASSET_GROUPS
    assert graph.get(next(k for k in graph.get_all_asset_keys() if k.path == ["raw_sales"])).partitions_def


def test_the_lineage_declares_every_asset_an_asset_reads():
    """What an asset reads of another, its output or its metadata, is an edge of the graph the UI draws."""
    graph = defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    # the holdout origins in feature_dataset's metadata calibrate the intervals
    assert "feature_dataset" in parents["sales_forecast"] & parents["shadow_forecast"]
    assert {"model_comparison", "production_model"} <= parents["shadow_forecast"]  # the ledger's previous model
    assert {"feature_dataset", "feature_pipeline", "raw_sales", "random_forest_model"} <= parents["model_comparison"]


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


def test_assets_carry_owners_tags_storage_kind_freshness_and_code_links():
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
    # The settings decide them when the definitions are built: MinIO storage, a team, a later deadline.
    settings = Settings(
        storage="minio",
        s3_endpoint="http://127.0.0.1:9000",
        owners=("team:sales-analytics", "ana@example.com"),
        deadline_hour=9,
        source_url="https://github.com/example/forecast_assets",
    )
    built = build_defs(settings)
    s3 = built.resources["warehouse"].s3  # dagster-aws's S3Resource, nested: the UI lists its settings
    assert s3.endpoint_url == "http://127.0.0.1:9000" and s3.aws_secret_access_key == dg.EnvVar("AWS_SECRET_ACCESS_KEY")
    assert build_defs(Settings()).resources["warehouse"].s3 is None  # the local folder needs none
    graph = built.resolve_asset_graph()
    node = graph.get(dg.AssetKey("sales_forecast"))
    assert "minio" in node.kinds and "local" not in node.kinds
    assert node.owners == ["team:sales-analytics", "ana@example.com"]
    assert node.freshness_policy.deadline_cron == "0 9 * * 1"
    (reference,) = node.metadata["dagster/code_references"].code_references
    assert reference.url.startswith(
        "https://github.com/example/forecast_assets/tree/main/forecast_assets/serving/assets.py#L"
    )
    with pytest.raises(ValueError, match="FORECAST_OWNERS: 'nobody' is neither an e-mail address nor team:<name>"):
        Settings(owners=("nobody",))


def test_loading_the_definitions_starts_no_jvm():
    code = (
        "import forecast_assets, pyspark;"
        "from pyspark import SparkContext;"
        "forecast_assets.defs().resolve_asset_graph();"
        "assert SparkContext._gateway is None and SparkContext._active_spark_context is None; print('ok')"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert completed.stdout.strip() == "ok", completed.stderr[-2000:]


def test_the_settings_shape_the_definitions_they_are_built_from():
    """Two sets of definitions side by side in one process: each has its own weeks, retry delay, automation
    status and run config; nothing is read from the environment."""
    default, other = (
        defs,
        build_defs(
            Settings(
                history_start=date(2017, 1, 4),
                retry_delay_seconds=3,
                automation_running=True,
                timezone="America/Sao_Paulo",
                profile="small",
                cv_folds=4,
            )
        ),
    )
    first_week = {}
    for name, built in (("default", default), ("other", other)):
        raw_sales = built.resolve_asset_graph().get(dg.AssetKey("raw_sales"))
        first_week[name] = raw_sales.partitions_def.get_first_partition_key()
    assert first_week == {"default": "2023-01-02", "other": "2017-01-02"}  # the Monday of 2017-01-04's week
    assert other.resolve_job_def("ml_pipeline").partitions_def.get_first_partition_key() == "2017-01-02"
    delays = {
        built.resolve_asset_graph().get(dg.AssetKey("drift_score")).assets_def.op.retry_policy.delay
        for built in (default, other)
    }
    assert delays == {10, 3}
    schedule = other.resolve_schedule_def("weekly_retraining")
    assert schedule.execution_timezone == "America/Sao_Paulo"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_schedule_def("weekly_retraining").default_status == dg.DefaultScheduleStatus.STOPPED
    assert {s.default_status for s in other.get_repository_def().sensor_defs} == {dg.DefaultSensorStatus.RUNNING}
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 30, 6),
            repository_def=other.get_repository_def(),
        )
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-11-23"
    assert request.run_config["ops"]["xgboost_model"] == {
        "config": {"profile": "small", "tuning": "auto", "cv_folds": 4}
    }


def test_dagster_loads_the_definitions_of_its_environment_when_it_calls_the_loader():
    """`forecast_assets.defs` is Dagster's lazy loader: importing the package reads nothing; `dg check defs`
    (dagster-dg-cli) loads it and refuses a malformed variable, naming it."""
    code = (
        "import os, dagster as dg, forecast_assets;"
        "os.environ['FORECAST_HISTORY_START'] = '2019-06-05';"  # after the import: still used
        "node = forecast_assets.defs().resolve_asset_graph().get(dg.AssetKey('raw_sales'));"
        "print(node.partitions_def.get_first_partition_key())"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "FORECAST_HISTORY_START": "not a date"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "2019-06-03", out.stderr[-2000:]

    dg_cli = [str(Path(sys.executable).parent / "dg"), "check", "defs"]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    env["FORECAST_DEADLINE_HOUR"] = "5"  # (`make test` runs `dg check defs` on the valid environment first)
    refused = subprocess.run(dg_cli, cwd=REPO, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "FORECAST_DEADLINE_HOUR=5: expected an hour after the 06:00 run, 7 to 23" in refused.stdout + refused.stderr


def test_the_wheel_holds_the_product_only():
    """The packages setuptools finds with pyproject.toml's rule: forecast_assets and its subpackages (with the
    Spark console's log4j2 configuration), never the tests."""
    import tomllib

    import setuptools

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = setuptools.find_packages(str(REPO), include=config["packages"]["find"]["include"])
    assert {"forecast_assets", "forecast_assets.ml", "forecast_assets.resources"} <= set(found)
    assert not [p for p in found if not (p == "forecast_assets" or p.startswith("forecast_assets."))]
    for pattern in config["package-data"]["forecast_assets"]:
        assert list((REPO / "forecast_assets").glob(pattern)), pattern
