"""Every asset in a real MinIO server: bucket layout, round trips, landing uploads, bad credentials, outages."""

import json

import boto3
import dagster as dg
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from forecast_assets.assets.demo_sales import demo_week
from forecast_assets.assets.monitoring import ForecastConfig, history_since
from forecast_assets.definitions import build_defs
from forecast_assets.resources.storage import StorageError
from forecast_assets.settings import BUCKETS, S3_REGION
from forecast_assets_tests.conftest import (
    load_current,
    materialize_graph,
    minio_warehouse,
    range_tags,
    resolved,
    settings_for_tests,
)

# Where each asset lives: the original design's buckets.
LAYOUT = {
    "processed-data": ["raw_sales"],
    "ml-data": ["feature_dataset", "sales_forecast"],
    "ml-models": [
        "feature_pipeline",
        "random_forest_model",
        "linear_regression_model",
        "xgboost_model",
        "production_model",
    ],
    "ml-experiments": ["model_comparison", "drift_score"],
}


def s3_client(server):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=S3_REGION,
    )


def keys(server, bucket: str) -> list[str]:
    pages = s3_client(server).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="module")
def minio_graph(spark, minio):
    """The whole graph materialized once with MinIO storage, shared by this module's round-trip tests."""
    from forecast_assets_tests.conftest import empty_buckets

    empty_buckets(minio)
    defs = build_defs(settings_for_tests(storage="minio", s3_endpoint=minio.endpoint))
    result = materialize_graph(defs)
    assert result.success
    return defs, result


def test_every_asset_is_in_its_bucket(minio_graph, minio):
    buckets = {b["Name"] for b in s3_client(minio).list_buckets()["Buckets"]}
    assert buckets >= set(BUCKETS)
    assert any(k.startswith("demo/sales_") for k in keys(minio, "raw-data"))
    for bucket, assets in LAYOUT.items():
        stored = keys(minio, bucket)
        for asset in assets:
            manifest = json.loads(
                s3_client(minio).get_object(Bucket=bucket, Key=f"{asset}/_manifest.json")["Body"].read()
            )
            assert manifest["last_version"] == 1, asset
            assert any(k.startswith(f"{asset}/v0001") for k in stored), asset
    report = json.loads(
        s3_client(minio).get_object(Bucket="ml-experiments", Key="model_comparison/v0001.json")["Body"].read()
    )
    assert report["best_model"] in report["models"]  # readable JSON, as in the MinIO console


def test_output_metadata_records_where_and_how_much_was_stored(minio_graph, spark):
    """Each materialization names the stored objects it wrote in MinIO: DataFrames with the rows stored there,
    models and JSON documents with the bytes stored there."""
    defs, result = minio_graph
    warehouse = resolved(defs, "warehouse")
    checked = set()
    for event in result.get_asset_materialization_events():
        metadata = {k: v.value for k, v in event.materialization.metadata.items()}
        if metadata["uri"] in checked:  # raw_sales: one write for the run's weeks, on each partition's event
            continue
        checked.add(metadata["uri"])
        bucket, key = metadata["uri"].removeprefix("s3a://").split("/", 1)
        stored = warehouse.list_objects(bucket, key)
        assert stored, metadata["uri"]
        if "row_count" in metadata:
            assert "size_bytes" not in metadata
            assert metadata["row_count"] == metadata["dagster/row_count"] == spark.read.parquet(metadata["uri"]).count()
        else:
            assert metadata["size_bytes"] == sum(o.size for o in stored), event.asset_key
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert len(checked) == len(materialized) and {a for assets in LAYOUT.values() for a in assets} <= {
        k.to_user_string() for k in materialized
    }


def test_every_asset_loads_back_equal(minio_graph, spark):
    defs, result = minio_graph
    # DataFrames: the stored rows equal what the pipeline computes again from the stored inputs.
    raw = load_current(defs, "processed_data_io", "raw_sales")
    row_counts = {
        e.materialization.metadata["row_count"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["raw_sales"]
    }
    assert row_counts == {raw.count()}  # one write for the whole range, recorded on every partition
    expected = pd.concat(
        [
            demo_week(pd.Timestamp(k).date())
            for k in pd.date_range(
                range_tags()["dagster/asset_partition_range_start"],
                range_tags()["dagster/asset_partition_range_end"],
                freq="7D",
            ).strftime("%Y-%m-%d")
        ]
    )
    stored = raw.drop("source_file").toPandas().sort_values(["produto", "data_venda"]).reset_index(drop=True)
    expected = expected.sort_values(["produto", "data_venda"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(stored[expected.columns], expected, check_dtype=False)

    # Models: a reloaded model predicts exactly as the one the run used (the production pipeline end to end).
    production = load_current(defs, "ml_models_io", "production_model")
    forecast = load_current(defs, "ml_data_io", "sales_forecast").toPandas().sort_values(["produto", "horizon"])
    last_day = raw.agg(F.max("data_venda")).first()[0]
    since = history_since(production.stages[0], last_day, ForecastConfig().active_weeks)
    again = (
        production.transform(raw.filter(F.col("data_venda") >= F.lit(since)))
        .filter(F.col("origin_date") == F.lit(last_day))
        .select("produto", "horizon", F.greatest("prediction", F.lit(0.0)).alias("p"))
        .toPandas()
        .sort_values(["produto", "horizon"])
    )
    assert len(again) == len(forecast) > 0
    np.testing.assert_allclose(forecast["forecast_valor_total"].to_numpy(), again["p"].to_numpy(), rtol=1e-12)
    dataset = load_current(defs, "ml_data_io", "feature_dataset")
    for asset in ("random_forest_model", "linear_regression_model", "xgboost_model"):
        model = load_current(defs, "ml_models_io", asset)
        predictions = model.transform(dataset.limit(200)).select("prediction").toPandas()
        assert np.isfinite(predictions["prediction"]).all()
    # JSON: the stored documents equal the run's outputs.
    assert load_current(defs, "ml_experiments_io", "model_comparison")["run_id"] == result.run_id
    assert load_current(defs, "ml_experiments_io", "drift_score")["columns"]


def test_a_sales_file_uploaded_to_raw_data_is_ingested(minio_defs, minio):
    week = demo_week(pd.Timestamp("2025-03-03").date()).assign(produto=lambda f: "UP-" + f["produto"])
    body = week.to_csv(index=False).encode()
    resolved(minio_defs, "warehouse").write_bytes("raw-data", "uploads/2025-03-03.csv", body)
    result = dg.materialize(
        [minio_defs.get_assets_def("raw_sales")], resources=minio_defs.resources, partition_key="2025-03-03"
    )
    assert result.success
    assert not any(k.startswith("demo/") for k in keys(minio, "raw-data"))  # something landed: no demo data
    stored = load_current_partition(minio_defs, "2025-03-03").toPandas()
    assert len(stored) == len(week) and set(stored["produto"]) == set(week["produto"])
    assert stored["valor_total"].sum() == pytest.approx(week["valor_total"].sum())
    assert stored["source_file"].str.endswith("uploads/2025-03-03.csv").all()


def load_current_partition(defs, partition_key: str):
    io_manager = resolved(defs, "processed_data_io")
    entry = io_manager.read_manifest(dg.AssetKey("raw_sales"))["current"][partition_key]
    return io_manager.read_version(None, [io_manager.warehouse.uri("processed-data", entry["key"])])


def test_wrong_credentials_give_a_clear_error_naming_endpoint_and_bucket(minio_defs, minio):
    warehouse = minio_warehouse(minio, secret_key="not-the-secret")
    with pytest.raises(StorageError) as failure:
        warehouse.ensure_bucket("processed-data")
    message = str(failure.value)
    assert minio.endpoint in message and "processed-data" in message and "AWS_SECRET_ACCESS_KEY" in message

    resources = {**minio_defs.resources}
    resources["warehouse"] = warehouse
    result = dg.materialize(
        [minio_defs.get_assets_def("raw_sales")],
        resources=resources,
        partition_key="2025-03-03",
        raise_on_error=False,
    )
    assert not result.success
    failure_event = next(e for e in result.all_events if e.is_step_failure)
    text = str(failure_event.step_failure_data.error)
    assert minio.endpoint in text and "raw-data" in text


def test_minio_down_fails_clearly_naming_the_endpoint(minio_defs, minio):
    """(Recovery from an outage in the middle of a run is in test_faults.py.)"""
    minio.stop()
    try:
        result = dg.materialize(
            [minio_defs.get_assets_def("raw_sales")],
            resources=minio_defs.resources,
            partition_key="2025-03-03",
            raise_on_error=False,
        )
    finally:
        minio.start()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.step_failure_data.error)
    assert minio.endpoint in message and "is MinIO running?" in message


def test_credentials_never_reach_events_or_metadata(minio_graph, minio):
    """The run used MinIO's secret (from the environment); no event, log message or metadata holds it."""
    from dagster_shared.serdes import serialize_value

    _, result = minio_graph
    events = serialize_value(result.all_events)
    assert minio.secret_key not in events and minio.access_key not in events
    run_record = str(dict(result.dagster_run.tags)) + str(result.dagster_run.run_config)
    assert minio.secret_key not in run_record
