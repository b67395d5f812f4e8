"""Resources: Spark, the warehouse (local folder or MinIO), and the IO managers on top of it."""

from __future__ import annotations

from forecast_assets.resources.io_managers import JsonIOManager, SparkModelIOManager, SparkParquetIOManager
from forecast_assets.resources.notifications import notifier_resource
from forecast_assets.resources.spark import spark_resource
from forecast_assets.resources.storage import warehouse_resource
from forecast_assets.resources.tracking import tracking_resource
from forecast_assets.settings import (
    DATA_BUCKET,
    EXPERIMENTS_BUCKET,
    MODELS_BUCKET,
    PROCESSED_BUCKET,
    Settings,
)


def build_resources(settings: Settings) -> dict:
    """The resource set for the settings: the same classes, only the warehouse's location differs."""
    pyspark = spark_resource(settings)
    warehouse = warehouse_resource(settings)
    return {
        "pyspark": pyspark,
        "warehouse": warehouse,
        "processed_data_io": SparkParquetIOManager(warehouse=warehouse, pyspark=pyspark, bucket=PROCESSED_BUCKET),
        "ml_data_io": SparkParquetIOManager(warehouse=warehouse, pyspark=pyspark, bucket=DATA_BUCKET),
        "ml_models_io": SparkModelIOManager(warehouse=warehouse, pyspark=pyspark, bucket=MODELS_BUCKET),
        "ml_experiments_io": JsonIOManager(warehouse=warehouse, bucket=EXPERIMENTS_BUCKET),
        "notifier": notifier_resource(settings),
        "tracking": tracking_resource(settings),
    }
