"""A real MinIO server: landing uploads, bad credentials, outages. (The whole graph on MinIO, every asset in its
bucket and loaded back equal, is test_lifecycle.py's MinIO run; recovery from an outage mid-run test_faults.py's.)"""

import boto3
import dagster as dg
import pandas as pd
import pytest

from forecast_assets.landing.demo import demo_week
from forecast_assets.resources.storage import StorageError
from forecast_assets.settings import S3_REGION
from forecast_assets_tests.conftest import (
    minio_warehouse,
    resolved,
)


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
    entry = io_manager.read_manifest(dg.AssetKey("raw_sales")).current[partition_key]
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
