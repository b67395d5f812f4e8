"""Input safety: object keys, partition keys, links and configuration values cannot reach outside the
warehouse or bucket, and a bad value is refused with what was expected."""

import os

import dagster as dg
import pytest

from forecast_assets.resources.io_managers import JsonIOManager
from forecast_assets.resources.storage import StorageError, Warehouse
from forecast_assets.settings import Settings


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


MINIO = {"FORECAST_STORAGE": "minio"}  # the endpoint is checked when MinIO storage is selected


@pytest.mark.parametrize(
    "environ",
    [
        {"SPARK_MASTER": "yarn; rm -rf /"},
        {"SPARK_MASTER": "spark://host"},
        {**MINIO, "FORECAST_S3_ENDPOINT": "file:///etc"},
        {**MINIO, "FORECAST_S3_ENDPOINT": "http://minio:9000/bucket/../x"},
        {"FORECAST_STORAGE": "hdfs"},
    ],
)
def test_configuration_values_are_checked(environ):
    variable = list(environ)[-1]
    with pytest.raises(ValueError, match=variable) as refused:
        Settings.from_env(environ)
    assert "expected" in str(refused.value)


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({"SPARK_MASTER": "local[*]"}, "spark_master"),
        ({"SPARK_MASTER": "local[2]"}, "spark_master"),
        ({"SPARK_MASTER": "spark://spark-master:7077"}, "spark_master"),
        ({**MINIO, "FORECAST_S3_ENDPOINT": "http://127.0.0.1:9000"}, "s3_endpoint"),
        ({**MINIO, "FORECAST_S3_ENDPOINT": "https://minio.example.org"}, "s3_endpoint"),
    ],
)
def test_well_formed_configuration_values_pass(environ, field):
    assert getattr(Settings.from_env(environ), field) == list(environ.values())[-1]
