"""Input safety: object keys, partition keys, links and configuration values cannot reach outside the
warehouse or bucket, and a bad value is refused with what was expected."""

import os

import dagster as dg
import pytest

from forecast_assets import settings
from forecast_assets.resources.io_managers import JsonIOManager
from forecast_assets.resources.storage import StorageError, Warehouse


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return Warehouse(root_uri=f"file://{tmp_path / 'warehouse'}")


@pytest.mark.parametrize("key", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "a\\b", "a/./b", "a\x00b"])
def test_object_keys_that_leave_the_bucket_are_refused(warehouse, tmp_path, key):
    with pytest.raises(StorageError, match="refusing unsafe object key"):
        warehouse.write_bytes("raw-data", key, b"x")
    with pytest.raises(StorageError, match="refusing unsafe object key"):
        warehouse.read_bytes("raw-data", key)
    assert not (tmp_path / "outside.txt").exists()


def test_links_out_of_the_warehouse_are_not_listed_or_read(warehouse, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("produto,categoria_valor,quantidade,valor_total,data_venda\n")
    warehouse.write_bytes("raw-data", "real.csv", b"x")
    os.symlink(secret, tmp_path / "warehouse" / "raw-data" / "linked.csv")
    assert [o.key for o in warehouse.list_objects("raw-data")] == ["real.csv"]


@pytest.mark.parametrize("partition_key", ["../../etc", "2025-03-03/../x", "a b", "x" * 101])
def test_partition_keys_outside_the_expected_form_are_refused(warehouse, partition_key):
    io_manager = JsonIOManager(warehouse=warehouse, bucket="ml-experiments")
    context = dg.build_output_context(asset_key=dg.AssetKey("report"), partition_key=partition_key)
    with pytest.raises(StorageError, match="refusing partition key"):
        io_manager.handle_output(context, {"a": 1})
    assert warehouse.list_objects("ml-experiments") == []


@pytest.mark.parametrize(
    ("variable", "value", "reader"),
    [
        ("SPARK_MASTER", "yarn; rm -rf /", settings.spark_master),
        ("SPARK_MASTER", "spark://host", settings.spark_master),
        ("FORECAST_S3_ENDPOINT", "file:///etc", settings.s3_endpoint),
        ("FORECAST_S3_ENDPOINT", "http://minio:9000/bucket/../x", settings.s3_endpoint),
        ("FORECAST_STORAGE", "hdfs", settings.storage_kind),
    ],
)
def test_configuration_values_are_checked(monkeypatch, variable, value, reader):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable) as refused:
        reader()
    assert "expected" in str(refused.value) or "must be" in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value", "reader"),
    [
        ("SPARK_MASTER", "local[*]", settings.spark_master),
        ("SPARK_MASTER", "local[2]", settings.spark_master),
        ("SPARK_MASTER", "spark://spark-master:7077", settings.spark_master),
        ("FORECAST_S3_ENDPOINT", "http://127.0.0.1:9000", settings.s3_endpoint),
        ("FORECAST_S3_ENDPOINT", "https://minio.example.org", settings.s3_endpoint),
    ],
)
def test_well_formed_configuration_values_pass(monkeypatch, variable, value, reader):
    monkeypatch.setenv(variable, value)
    assert reader() == value
