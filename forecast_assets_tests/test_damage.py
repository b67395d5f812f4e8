"""Broken stored state, on the embedded default and on MinIO: a manifest cut in half, a stored week's Parquet
file truncated, a model's version folder deleted, a JSON version gone. Each is one error naming the asset, the
version and the path with a command that recovers, raised once (never retried as a storage hiccup); nothing is
changed; a damaged manifest is restored from the version folders and the instance's materializations."""

import json

import dagster as dg
import pandas as pd
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets_tests.conftest import (
    TEST_WEEKS,
    empty_buckets,
    load_current,
    materialize_graph,
    range_tags,
    resolved,
    settings_for_tests,
)

RAW = dg.AssetKey("raw_sales")
FEATURES = dg.AssetSelection.assets("feature_pipeline", "feature_dataset")
LAST_WEEK = TEST_WEEKS[1]


@pytest.fixture(params=["local", pytest.param("minio", marks=pytest.mark.minio)])
def store(request, spark, tmp_path):
    """The definitions on an empty store (a local folder or the suite's MinIO) and a test instance."""
    if request.param == "local":
        settings = settings_for_tests(warehouse=str(tmp_path / "warehouse"))
    else:
        server = request.getfixturevalue("minio")
        empty_buckets(server)
        settings = settings_for_tests(storage="minio", s3_endpoint=server.endpoint)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        yield build_defs(settings), instance


@pytest.fixture
def stored(store):
    """raw_sales stored twice: the 20 test weeks (version 1), then the last week again (version 2), in an
    instance that recorded both runs."""
    defs, instance = store
    raw = dg.AssetSelection.assets("raw_sales")
    assert materialize_graph(defs, selection=raw, instance=instance).success
    again = range_tags(LAST_WEEK, LAST_WEEK)
    assert materialize_graph(defs, selection=raw, instance=instance, tags=again).success
    return defs, instance


def failure_of(result) -> tuple[str, int]:
    """The failed step's error message, and how many times the step was retried before it."""
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.event_specific_data.error
    assert error.cls_name == "Failure", error.message  # Dagster's error for a step that must not be retried
    return error.message.removeprefix("dagster._core.definitions.events.Failure: "), len(retries)


def test_a_damaged_manifest_is_one_error_and_is_restored_from_the_versions(stored):
    defs, instance = stored
    io_manager = resolved(defs, "processed_data_io")
    warehouse = io_manager.warehouse
    before = io_manager.read_manifest(RAW)
    rows = load_current(defs, "processed_data_io", "raw_sales").count()
    assert before.current[LAST_WEEK]["version"] == 2 and before.current[TEST_WEEKS[0]]["version"] == 1
    body = warehouse.read_bytes("processed-data", "raw_sales/_manifest.json")
    warehouse.write_bytes("processed-data", "raw_sales/_manifest.json", body[: len(body) // 2])

    failed = materialize_graph(defs, selection=FEATURES, instance=instance, raise_on_error=False)
    message, retries = failure_of(failed)
    assert retries == 0  # damage is not a network hiccup
    assert message.startswith(f"raw_sales: the manifest {warehouse.uri('processed-data', 'raw_sales/_manifest.json')}")
    assert "Nothing was changed" in message and "python -m forecast_assets.cli restore-manifest raw_sales" in message
    # A writer refuses it too: a damaged manifest is never replaced by an empty one.
    with pytest.raises(dg.Failure, match="raw_sales: the manifest"):
        io_manager.reserve_version(RAW)
    assert warehouse.read_bytes("processed-data", "raw_sales/_manifest.json") == body[: len(body) // 2]

    said = io_manager.restore_manifest(RAW, instance)
    restored = io_manager.read_manifest(RAW)
    assert restored.last_version == 2
    assert {k: (e["key"], e["version"]) for k, e in restored.current.items()} == {
        k: (e["key"], e["version"]) for k, e in before.current.items()
    }
    assert load_current(defs, "processed_data_io", "raw_sales").count() == rows
    (kept,) = [line.rsplit(" ", 1)[1] for line in said if line.startswith("the replaced manifest is kept as ")]
    assert kept.startswith(warehouse.uri("processed-data", "raw_sales/_manifest.json.replaced-"))
    assert warehouse.read_bytes("processed-data", warehouse.key_of("processed-data", kept)) == body[: len(body) // 2]


def test_a_truncated_stored_week_is_one_error_naming_the_week_and_how_to_ingest_it_again(stored):
    defs, instance = stored
    io_manager = resolved(defs, "processed_data_io")
    warehouse = io_manager.warehouse
    week = TEST_WEEKS[0]
    (part,) = [
        o.key
        for o in warehouse.list_objects("processed-data", f"raw_sales/v0001/dagster_partition={week}/")
        if o.key.endswith(".parquet")
    ]
    body = warehouse.read_bytes("processed-data", part)
    warehouse.write_bytes("processed-data", part, body[: len(body) // 2])
    manifest = io_manager.read_manifest(RAW)

    failed = materialize_graph(defs, selection=FEATURES, instance=instance, raise_on_error=False)
    message, retries = failure_of(failed)
    assert retries == 0
    assert message.startswith("raw_sales version 1: the stored files at ")  # the path as Spark writes it
    assert f"processed-data/raw_sales/v0001/dagster_partition={week} cannot be read" in message
    tags = {"dagster/asset_partition_range_start": week, "dagster/asset_partition_range_end": week}
    assert f"dagster job execute -m forecast_assets -j ml_pipeline --tags '{json.dumps(tags)}'" in message
    assert io_manager.read_manifest(RAW) == manifest  # nothing moved


def test_a_deleted_model_folder_is_one_error_that_names_the_rollback(store, spark):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import LinearRegression

    defs, _ = store
    frame = spark.createDataFrame(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.1]}))
    stages = [VectorAssembler(inputCols=["x"], outputCol="features"), LinearRegression(labelCol="y")]
    model = Pipeline(stages=stages).fit(frame)
    models = resolved(defs, "ml_models_io")
    key = dg.AssetKey("production_model")
    models.handle_output(dg.build_output_context(asset_key=key, run_id="first"), model)
    # A process loads a stored version once (every step of a run reads the same folder) ...
    assert load_current(defs, "ml_models_io", "production_model") is models.load_key("production_model/v0001")
    # ... and reads it again when its files changed since: one file gone is the damage below, not the cached model.
    (metadata,) = [
        o.key
        for o in models.warehouse.list_objects("ml-models", "production_model/v0001/")
        if o.key.startswith("production_model/v0001/metadata/part-")
    ]
    models.warehouse.delete("ml-models", metadata)
    with pytest.raises(dg.Failure, match="production_model version 1: the stored version at"):
        load_current(defs, "ml_models_io", "production_model")
    for stored_object in models.warehouse.list_objects("ml-models", "production_model/v0001/"):
        models.warehouse.delete("ml-models", stored_object.key)

    with pytest.raises(dg.Failure) as failure:
        load_current(defs, "ml_models_io", "production_model")
    message = str(failure.value.description)
    where = models.warehouse.uri("ml-models", "production_model/v0001")
    assert message.startswith(f"production_model version 1: the stored version at {where} cannot be read")
    assert "dagster job execute -m forecast_assets -j rollback_production_model" in message
    assert failure.value.allow_retries is False

    experiments = resolved(defs, "ml_experiments_io")
    report = dg.AssetKey("model_comparison")
    experiments.handle_output(dg.build_output_context(asset_key=report, run_id="first"), {"best_model": "x"})
    experiments.warehouse.delete("ml-experiments", "model_comparison/v0001.json")
    with pytest.raises(dg.Failure, match=r"model_comparison version 1: the stored version at .*v0001\.json"):
        load_current(defs, "ml_experiments_io", "model_comparison")
