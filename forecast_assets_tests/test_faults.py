"""Faults while writing: a process killed in the middle of writing a model, and MinIO stopped in the middle
of a run, never leave a pointer to a partial artifact; the previous production model keeps serving."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import dagster as dg
import pytest

from devtools.minio_server import REPO
from forecast_assets.landing.demo import demo_week
from forecast_assets.resources.io_managers import STORED_KEY
from forecast_assets_tests.conftest import TEST_WEEKS, load_current, range_tags, resolved

WRITER = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from forecast_assets.definitions import build_defs
    from forecast_assets.resources.io_managers import STORED_KEY
    from forecast_assets.settings import Settings

    defs = build_defs(Settings.from_env())  # a process of its own: FORECAST_WAREHOUSE says where
    io_manager = defs.resources["ml_models_io"]
    with io_manager.process_config_and_initialize_cm() as manager:
        model = manager.load_current(dg.AssetKey("production_model"))
        setattr(model, STORED_KEY, None)  # written anew (a loaded model handed back is only re-pointed)
        print("loaded", flush=True)
        context = dg.build_output_context(asset_key=dg.AssetKey("production_model"), run_id="killed-run")
        manager.handle_output(context, model)
        print("written", flush=True)
    """
)


def _forecast(model, spark):
    """What sales_forecast does with a production model: raw rows in, one finite prediction per product out."""
    import pandas as pd

    week = pd.Timestamp(TEST_WEEKS[1]).date()
    history = pd.concat([demo_week(week - pd.Timedelta(days=7 * i)) for i in range(10, -1, -1)])
    predictions = model.transform(spark.createDataFrame(history)).select("prediction").toPandas()["prediction"]
    return len(predictions), bool(predictions.notna().all())


@pytest.fixture
def served(local_defs, spark, tmp_path):
    """A local warehouse whose production model (version 1) is a real feature pipeline + regressor."""
    import pandas as pd
    from pyspark.ml import PipelineModel
    from pyspark.ml.regression import LinearRegression

    from forecast_assets.features.assets import fit_feature_pipeline

    week = pd.Timestamp(TEST_WEEKS[1]).date()
    sales = spark.createDataFrame(pd.concat([demo_week(week - pd.Timedelta(days=7 * i)) for i in range(12)]))
    features, window_rows = fit_feature_pipeline(sales)
    window_rows.unpersist()
    rows = features.transform(sales).filter("target IS NOT NULL")
    model = PipelineModel(stages=[*features.stages, LinearRegression(labelCol="target").fit(rows)])
    io_manager = resolved(local_defs, "ml_models_io")
    io_manager.handle_output(dg.build_output_context(asset_key=dg.AssetKey("production_model"), run_id="first"), model)
    return local_defs, tmp_path / "warehouse"


def test_a_process_killed_while_writing_the_model_leaves_the_previous_one_serving(served, spark):
    defs, warehouse = served
    io_manager = resolved(defs, "ml_models_io")
    key = dg.AssetKey("production_model")
    assert io_manager.read_manifest(key).last_version == 1
    partial = warehouse / "ml-models" / "production_model" / "v0002"

    env = {**os.environ, "FORECAST_STORAGE": "local", "FORECAST_WAREHOUSE": str(warehouse), "SPARK_DRIVER_MEMORY": "1g"}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while not partial.exists():  # the new version's folder appears as soon as Spark starts writing it
            assert writer.poll() is None, "the writer ended before it started writing"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.005)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    output = writer.stdout.read()
    assert "loaded" in output and "written" not in output  # killed in the middle of the write
    assert partial.exists()

    manifest = io_manager.read_manifest(key)  # the killed write had reserved version 2; the pointer never moved
    assert manifest.last_version == 2 and manifest.pointer()["key"] == "production_model/v0001"
    count, finite = _forecast(io_manager.load_current(key), spark)
    assert count > 0 and finite  # the previous version keeps serving

    # The next write takes a version number of its own: the partial folder is never read or written again.
    context = dg.build_output_context(asset_key=key, run_id="after-the-kill")
    model = io_manager.load_current(key)
    setattr(model, STORED_KEY, None)  # written anew, not re-pointed to v0001
    io_manager.handle_output(context, model)
    manifest = io_manager.read_manifest(key)
    assert manifest.last_version == 3 and manifest.pointer()["run_id"] == "after-the-kill"
    assert manifest.pointer()["key"] == "production_model/v0003"
    assert _forecast(io_manager.load_current(key), spark) == (count, True)


def test_minio_stopped_in_the_middle_of_a_run_then_reexecution_completes(minio_settings, minio, spark, tmp_path):
    """MinIO goes down while the candidates train. Nothing the run already stored is lost, no pointer names
    an artifact that is not whole, and re-executing from the failure (MinIO back) finishes the run."""
    from forecast_assets.definitions import build_defs
    from forecast_assets_tests import reexecution

    # One candidate and the graph up to the production model: what this test is about happens there.
    settings = {"storage": "minio", "s3_endpoint": minio.endpoint, "candidates": ("random_forest",)}
    defs = build_defs(minio_settings.replace(candidates=("random_forest",)))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        first = reexecution.run(instance, range_tags(), settings, up_to="production_model")
        assert first.success
        models = resolved(defs, "ml_models_io")
        before = models.read_manifest(dg.AssetKey("production_model"))
        assert before.last_version == 1

        stopped = threading.Event()

        def stop_minio_when_training_starts():
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and not stopped.is_set():
                runs = [r for r in instance.get_runs(limit=1) if r.run_id != first.run_id]
                if not runs:
                    time.sleep(0.2)
                    continue
                started = {
                    e.step_key for e in instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.STEP_START)
                }
                if "random_forest_model" in started:
                    minio.stop()
                    stopped.set()
                    return
                time.sleep(0.2)

        watcher = threading.Thread(target=stop_minio_when_training_starts, daemon=True)
        watcher.start()
        try:
            failed = reexecution.run(instance, range_tags(), settings, up_to="production_model")
        finally:
            watcher.join(timeout=5)
            if stopped.is_set():
                minio.start()
        assert stopped.is_set() and not failed.success
        succeeded = {e.step_key for e in instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
        assert "raw_sales" in succeeded and "production_model" not in succeeded  # it failed in the middle

        # Every pointer names a whole artifact: each current version loads.
        for io_key, assets in {
            "processed_data_io": ["raw_sales"],
            "ml_data_io": ["feature_dataset"],
            "ml_models_io": ["feature_pipeline", "production_model"],
            "ml_experiments_io": ["model_comparison"],
        }.items():
            for asset in assets:
                assert load_current(defs, io_key, asset) is not None, asset
        assert models.read_manifest(dg.AssetKey("production_model")) == before
        count, finite = _forecast(load_current(defs, "ml_models_io", "production_model"), spark)
        assert count > 0 and finite

        recovered = reexecution.reexecute_from_failure(instance, failed.run_id, settings)
        assert recovered.success
        after = models.read_manifest(dg.AssetKey("production_model"))
        assert after.last_version == 2 and after.pointer()["run_id"] == recovered.run_id
        manifest_json = after.as_json().decode()
        assert "v0002" in manifest_json

    # Three runs used MinIO's secret (from the environment): nothing the instance stored holds it, neither the
    # run and event-log databases nor the captured step logs.
    stored = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in stored)
    for path in stored:
        assert minio.secret_key.encode() not in path.read_bytes(), path
