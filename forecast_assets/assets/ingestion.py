"""Ingestion: sales files from the landing area (`raw-data`) -> the weekly `raw_sales` partitions."""

import io
from datetime import date, timedelta

import dagster as dg
import pandas as pd
from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from forecast_assets.assets.demo_sales import demo_week
from forecast_assets.partitions import weekly_partitions
from forecast_assets.resources.storage import StoredObject, Warehouse
from forecast_assets.settings import LANDING_BUCKET

SALES_SCHEMA = T.StructType(
    [
        T.StructField("produto", T.StringType()),
        T.StructField("categoria_valor", T.StringType()),
        T.StructField("quantidade", T.LongType()),
        T.StructField("valor_total", T.DoubleType()),
        T.StructField("data_venda", T.DateType()),
    ]
)
DEMO_PREFIX = "demo/"
QUARANTINE_PREFIX = "quarantine/"  # unreadable files are moved here, never read as sales
SALES_SUFFIXES = (".csv", ".parquet")


class IngestionConfig(dg.Config):
    landing_prefix: str = Field(default="", description="only files under this prefix of raw-data are read")
    demo_when_empty: bool = Field(
        default=True, description="write deterministic demo sales when no sales file has landed"
    )


def landed_sales_files(warehouse: Warehouse, prefix: str = "") -> list[StoredObject]:
    """Every CSV or Parquet sales file in the landing area, demo files included, quarantined ones not."""
    return [
        o
        for o in warehouse.list_objects(LANDING_BUCKET, prefix)
        if o.key.lower().endswith(SALES_SUFFIXES) and not o.key.startswith(QUARANTINE_PREFIX)
    ]


def sales_file_dates(warehouse: Warehouse, stored: StoredObject) -> tuple[date, date]:
    """First and last sale date of a landed file, read without Spark (for the sensor).
    Raises ValueError naming the file and what is wrong when it cannot be read as sales."""
    body = warehouse.read_bytes(LANDING_BUCKET, stored.key)
    if not body:
        raise ValueError(f"{stored.key}: empty file")
    try:
        if stored.key.lower().endswith(".csv"):
            frame = pd.read_csv(io.BytesIO(body), dtype=str)
        else:
            frame = pd.read_parquet(io.BytesIO(body))
    except Exception as error:  # any parser error: the file is not readable as sales
        raise ValueError(f"{stored.key}: not a readable {stored.key.rsplit('.', 1)[-1]} file ({error})") from None
    missing = [c for c in SALES_SCHEMA.fieldNames() if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{stored.key}: missing column(s) {', '.join(missing)}; expected {', '.join(SALES_SCHEMA.fieldNames())}"
        )
    dates = pd.to_datetime(frame["data_venda"].astype(str), errors="coerce", format="ISO8601")
    if dates.isna().all():
        raise ValueError(f"{stored.key}: column data_venda holds no date in YYYY-MM-DD form")
    return dates.min().date(), dates.max().date()


def read_sales_files(spark: SparkSession, warehouse: Warehouse, files: list[StoredObject]) -> DataFrame:
    """The files' rows in the sales schema, with the file each row came from."""

    def uris(suffix: str) -> list[str]:
        return [warehouse.uri(LANDING_BUCKET, f.key) for f in files if f.key.lower().endswith(suffix)]

    reader = spark.read.schema(SALES_SCHEMA)
    frames = []
    if csv_files := uris(".csv"):
        frames.append(reader.option("header", True).csv(csv_files))
    if parquet_files := uris(".parquet"):
        frames.append(reader.parquet(*parquet_files))
    frames = [frame.withColumn("source_file", F.col("_metadata.file_path")) for frame in frames]
    if not frames:
        return spark.createDataFrame([], SALES_SCHEMA.add("source_file", T.StringType()))
    return frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])


def write_demo_sales(warehouse: Warehouse, weeks: list, existing: set[str], log) -> int:
    """Write the demo week files that are missing; returns how many were written."""
    written = 0
    for week_start in weeks:
        key = f"{DEMO_PREFIX}sales_{week_start.isoformat()}.parquet"
        if key in existing:
            continue
        buffer = io.BytesIO()
        demo_week(week_start).to_parquet(buffer, index=False)
        warehouse.write_bytes(LANDING_BUCKET, key, buffer.getvalue())
        written += 1
    if written:
        log.info(f"nothing has landed: wrote {written} demo week files to {LANDING_BUCKET}/{DEMO_PREFIX}")
    return written


@dg.asset(
    group_name="ingestion",
    partitions_def=weekly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="processed_data_io",
    metadata={"partition_expr": "data_venda"},
    kinds={"spark", "parquet"},
)
def raw_sales(
    context: dg.AssetExecutionContext,
    config: IngestionConfig,
    pyspark: LazyPySparkResource,
    warehouse: Warehouse,
) -> dg.Output[DataFrame]:
    """Sales rows (produto, categoria_valor, quantidade, valor_total, data_venda) of the week, read from
    every CSV or Parquet file in the landing area (`raw-data`). When no sales file has landed, a
    deterministic generator writes demo weeks there first. One run can load a range of weeks."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    files = landed_sales_files(warehouse, config.landing_prefix)
    if config.demo_when_empty and not any(not f.key.startswith(DEMO_PREFIX) for f in files):
        weeks = [start + timedelta(days=7 * i) for i in range((end - start).days // 7)]
        if write_demo_sales(warehouse, weeks, {f.key for f in files}, context.log):
            files = landed_sales_files(warehouse, config.landing_prefix)
    sales = read_sales_files(pyspark.spark_session, warehouse, files).filter(
        (F.col("data_venda") >= F.lit(start)) & (F.col("data_venda") < F.lit(end))
    )
    return dg.Output(
        sales,
        metadata={
            "weeks": len(context.partition_keys),
            "date_range": f"{start} .. {end - timedelta(days=1)}",
            "landing_files": len(files),
        },
    )
