"""Fixtures: one real MinIO server and one Spark session (with S3A) for the whole suite, each started only when
a test asks for it; and the test tiers.

Tiers (pytest markers, given here from the fixtures a test uses, or by the module): `unit` (no JVM, no MinIO),
`spark` (Spark on a local warehouse), `minio` (a MinIO server, or the MLflow server), `daemon`, `browser`.
`make test-fast` runs `-m unit`; `make test` runs them all."""

import os
import subprocess
import sys

# Quick step retries for the processes tests start (dagster dev, the daemon, the CLI) read their settings from
# the environment; tests in this process build theirs with settings_for_tests().
os.environ.setdefault("FORECAST_RETRY_DELAY_SECONDS", "1")

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from pyspark.sql import SparkSession

from devtools import mlflow_server
from devtools.minio_server import REPO, new_server, remove
from forecast_assets.definitions import build_defs
from forecast_assets.resources.spark import python_for_spark_tasks, spark_config
from forecast_assets.resources.storage import Warehouse
from forecast_assets.settings import S3_REGION, Settings
from forecast_assets.training.assets import FINITE_METRICS, chosen

CANDIDATES_TESTED = chosen(Settings())  # the default FORECAST_CANDIDATES
TEST_RUN_CONFIG = {
    "ops": {
        "features": {"config": {"holdout_weeks": 2}},
        # 20 weeks and the small grids are too little to clear the default 2% margin reliably: any improvement.
        # No statistical candidate: test_pipeline's graph (and test_features) test it; the other whole-graph runs
        # test what does not depend on it, without its fits (~20-40 s a run here).
        "model_comparison": {"config": {"min_improvement": 0.0, "statistical": []}},
        **{c.asset_name: {"config": {"profile": "small", "cv_folds": 2, "parallelism": 1}} for c in CANDIDATES_TESTED},
    }
}
ALL_CHECKS = {
    *(
        ("raw_sales", name)
        for name in (
            "columns_and_types",
            "no_null_keys",
            "values_in_range",
            "dates_in_partitions",
            "no_duplicate_rows",
            "partitions_not_empty",
            "bad_fraction_within_threshold",
        )
    ),
    ("feature_dataset", "feature_dataset_consistent"),
    *((c.asset_name, FINITE_METRICS) for c in CANDIDATES_TESTED),
    ("model_comparison", "best_model_beats_baselines"),
    ("production_model", "production_model_serves"),
    ("sales_forecast", "forecast_covers_active_products"),
    ("drift_score", "no_drift"),
    ("forecast_accuracy", "champion_not_worse_than_alternatives"),
    ("forecast_accuracy", "interval_coverage_near_nominal"),
}
ASSET_GROUPS = {
    "raw_sales": "ingestion",
    "feature_pipeline": "features",
    "feature_dataset": "features",
    "random_forest_model": "training",
    "linear_regression_model": "training",
    "xgboost_model": "training",
    "model_comparison": "evaluation",
    "production_model": "evaluation",
    "sales_forecast": "serving",
    "shadow_forecast": "serving",
    "forecast_accuracy": "monitoring",
    "drift_score": "monitoring",
}
TEST_WEEKS = ("2025-06-02", "2025-10-13")  # 20 weekly partitions: enough history for every feature


def range_tags(first: str = TEST_WEEKS[0], last: str = TEST_WEEKS[1]) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def s3a_jars() -> str:
    if os.environ.get("FORECAST_S3A_JARS"):
        return os.environ["FORECAST_S3A_JARS"]
    script = REPO / "scripts" / "fetch-s3a-jars.sh"
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run([str(script)], check=True, capture_output=True, text=True, env=env).stdout.strip()


def settings_for_tests(**values) -> Settings:
    """Settings for definitions built in the test process: the defaults, quick step retries (1 s, then 2 s),
    and `values`."""
    return Settings(**{"retry_delay_seconds": 1, **values})


# The suite's MinIO: its port and credentials are chosen at collection, so the Spark session (whose S3A reads
# the credentials from the environment the JVM starts with) can be configured without starting it.
MINIO = new_server()
TIERS = ("unit", "spark", "minio", "daemon", "browser")


def pytest_configure(config):
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: the {tier} test tier (see forecast_assets_tests/conftest.py)")


# Every run of the whole graph the suite makes (in process, from the CLI, by a daemon), by the test that made it:
# the suite's dominant cost (~50 s each on 2 cores), printed at the end so that it only goes down.
WHOLE_GRAPH_RUNS: list[str] = []


def count_whole_graph_run() -> None:
    WHOLE_GRAPH_RUNS.append(os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0])


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"whole-graph runs: {len(WHOLE_GRAPH_RUNS)}")
    for test in dict.fromkeys(WHOLE_GRAPH_RUNS):
        terminalreporter.write_line(f"  {WHOLE_GRAPH_RUNS.count(test)} x {test}")


def pytest_unconfigure(config):
    remove(MINIO)  # stopped already when a test started it; its (maybe unused) data folder goes


def pytest_collection_modifyitems(items):
    for item in items:
        tiers = {m.name for m in item.iter_markers() if m.name in TIERS}  # the module's (daemon, browser)
        if not tiers and {"minio", "tracking_server"} & set(item.fixturenames):
            tiers.add("minio")
        elif not tiers and "spark" in item.fixturenames:
            tiers.add("spark")
        for tier in tiers or {"unit"}:
            item.add_marker(tier)


@pytest.fixture(scope="session")
def minio():
    MINIO.start()
    yield MINIO
    remove(MINIO)


@pytest.fixture(scope="session")
def tracking_server():
    """A real MLflow tracking server (SQLite backend, temporary artifact folder), started for the tests that
    ask for it."""
    server = mlflow_server.new_server()
    server.start()
    yield server
    mlflow_server.remove(server)


@pytest.fixture(scope="session")
def spark():
    """The suite's one Spark session, configured for the suite's MinIO (which it does not start: S3A connects
    on first use). S3A takes credentials from the environment the JVM starts with."""
    minio = MINIO
    os.environ.update(
        AWS_ACCESS_KEY_ID=minio.access_key, AWS_SECRET_ACCESS_KEY=minio.secret_key, FORECAST_S3A_JARS=s3a_jars()
    )
    python_for_spark_tasks()
    builder = SparkSession.builder
    config = {
        **spark_config(settings_for_tests(storage="minio", s3_endpoint=minio.endpoint, s3a_jars=s3a_jars())),
        "spark.driver.memory": "3g",
        "spark.sql.shuffle.partitions": "2",
        "spark.app.name": "forecast_assets_tests",
    }
    for key, value in config.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def local_settings(tmp_path) -> Settings:
    """The embedded default on a fresh local warehouse folder."""
    return settings_for_tests(warehouse=str(tmp_path / "warehouse"))


@pytest.fixture
def local_defs(spark, local_settings) -> dg.Definitions:
    return build_defs(local_settings)


def minio_warehouse(server, secret_key: str | None = None) -> Warehouse:
    """A Warehouse on the MinIO `server` with its credentials (or another secret key), as settings.py builds it."""
    s3 = S3Resource(
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=secret_key or server.secret_key,
        region_name=S3_REGION,
    )
    return Warehouse(root_uri="s3a://", s3=s3)


@pytest.fixture(params=["local", pytest.param("minio", marks=pytest.mark.minio)])
def new_warehouse(request, tmp_path):
    """A factory of Warehouse resources on one store, a local folder or the suite's MinIO (emptied): each call
    is a separate client, as two processes have."""
    if request.param == "local":
        return lambda: Warehouse(root_uri=f"file://{tmp_path / 'warehouse'}")
    server = request.getfixturevalue("minio")
    empty_buckets(server)
    return lambda: minio_warehouse(server)


def empty_buckets(server) -> None:
    s3 = boto3.resource(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=S3_REGION,
    )
    for bucket in s3.buckets.all():
        bucket.objects.all().delete()


@pytest.fixture
def minio_settings(spark, minio) -> Settings:
    """MinIO storage, on empty buckets (the credentials are in the environment, as dg.EnvVar reads them)."""
    empty_buckets(minio)
    return settings_for_tests(storage="minio", s3_endpoint=minio.endpoint)


@pytest.fixture
def minio_defs(minio_settings) -> dg.Definitions:
    return build_defs(minio_settings)


# Everything decided after training (comparison, gate, serving, shadow, accuracy, drift), against the stored
# candidates: a re-evaluation without retraining, for the tests of what happens after training.
AFTER_TRAINING = dg.AssetSelection.assets("model_comparison").downstream()


def materialize_graph(
    defs: dg.Definitions,
    run_config: dict | None = None,
    tags: dict | None = None,
    selection: dg.AssetSelection | None = None,
    **kwargs,
):
    """Every asset and check of `defs` (or the `selection` of them, against the stored rest), in process, over
    the test weeks (one run for the whole range)."""
    run_config = run_config or TEST_RUN_CONFIG
    if selection is None:
        count_whole_graph_run()
    # the config of the selected assets' ops only (of the settings' candidates only)
    keys = (selection or dg.AssetSelection.all()).resolve(defs.resolve_asset_graph())
    ops = {defs.resolve_assets_def(key).op.name for key in keys}
    run_config = {**run_config, "ops": {op: c for op, c in run_config["ops"].items() if op in ops}}
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        run_config=run_config,
        tags=tags or range_tags(),
        selection=selection,
        **kwargs,
    )


def resolved(defs: dg.Definitions, key: str):
    """A resource of `defs` with its configuration (EnvVar included) resolved, for use outside a run."""
    with defs.resources[key].process_config_and_initialize_cm() as resource:
        return resource


def load_current(defs: dg.Definitions, io_manager_key: str, asset: str):
    return resolved(defs, io_manager_key).load_current(dg.AssetKey(asset))


def quarantined(warehouse) -> dict[str, str]:
    """The files moved to raw-data/quarantine/files/: original key -> the reason kept beside the copy."""
    found = {}
    for stored in warehouse.list_objects("raw-data", "quarantine/files/"):
        if stored.key.endswith(".reason.txt"):
            original, reason = warehouse.read_bytes("raw-data", stored.key).decode().split("\n", 1)
            assert warehouse.read_bytes("raw-data", stored.key.removesuffix(".reason.txt")) is not None
            found[original] = reason
    return found


def sensor(name: str, settings: Settings | None = None) -> dg.SensorDefinition:
    """A sensor of the definitions built for `settings` (default: the tests')."""
    return build_defs(settings or settings_for_tests()).resolve_sensor_def(name)


def tick_new_sales_files(warehouse, cursor: str | None) -> dg.SensorResult:
    """One evaluation of the new_sales_files sensor over `warehouse`, from `cursor` (the daemon's way)."""
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(instance=instance, cursor=cursor, resources={"warehouse": warehouse}) as context,
    ):
        return sensor("new_sales_files")(context)
