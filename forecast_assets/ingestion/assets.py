"""Ingestion: sales files from the landing area (`raw-data`) -> the weekly `raw_sales` partitions, with the
blocking checks every row is held to. Reading files is landing/'s business, the run of some weeks intake.py's;
this module is the asset, its config and its checks."""

from datetime import UTC, date, datetime, timedelta
from typing import Literal

import dagster as dg
import pandas as pd
from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from forecast_assets.intake import (
    BAD_FRACTION,
    PARTITIONS_NOT_EMPTY,
    quarantine_rejected,
    validate_landing,
    write_demo_sales,
    write_quarantine,
)
from forecast_assets.landing.area import (
    QUARANTINE_ROWS,
    list_landing,
)
from forecast_assets.landing.formats import ReadOptions
from forecast_assets.landing.schema import SALES_SCHEMA, Check
from forecast_assets.landing.validation import Limits
from forecast_assets.policies import spark_asset
from forecast_assets.resources.storage import Warehouse
from forecast_assets.settings import DEFAULT_HISTORY_START, LANDING_BUCKET


class IngestionConfig(dg.Config):
    landing_prefix: str = Field(default="", description="only files under this prefix of raw-data are read")
    demo_when_empty: bool = Field(
        default=True,
        description="write deterministic demo sales when the landing area holds no file but the demo's own "
        "(any other file, even an unreadable or quarantined one, means real data has landed)",
    )
    max_bad_fraction: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="bad rows are quarantined and the good rows proceed, unless more than this fraction of the "
        "rows of the files that feed the run are bad: then the checks fail and nothing downstream runs",
    )
    empty_weeks: Literal["warn", "fail"] = Field(
        default="warn",
        description="a week of the run without any good sales row: warn (default; the week is unobserved: rows "
        "that would read it are left out of training and evaluation, never taken as zero sales) or fail (the "
        "partitions_not_empty check fails with ERROR and nothing downstream runs)",
    )
    whole_units: bool = Field(
        default=False,
        description="refuse fractional quantities (for a business that sells whole units only); by default "
        "quantities like 0.75 are sales (goods sold by weight, partial packs)",
    )
    columns: dict[str, str] = Field(
        default={},
        description="role -> the files' column, e.g. {produto: sku, data_venda: order_date} (roles: produto, "
        "categoria_valor, quantidade, valor_total, data_venda, preco_unitario); roles not named are found by their "
        "names in English, Portuguese and Spanish",
    )
    locale: str | None = Field(
        default=None,
        description="the files' locale, e.g. pt_BR (decimal comma, day-first dates), en_US; unset: told from each "
        "file, which is refused when its numbers or dates could be read two ways",
    )
    date_format: str | None = Field(default=None, description="the files' date format, e.g. %d/%m/%Y")
    sheet: str | None = Field(default=None, description="a workbook's sales sheet (default: the only one with sales)")
    later_uploads_replace_days: bool = Field(
        default=False,
        description="each folder just under landing_prefix is one upload (run-data's), in time order by name: a "
        "day's sales come from the latest upload holding that day, so a re-exported week replaces the stored one",
    )
    max_quantidade: float = Field(default=1_000_000, gt=0, description="larger quantities are absurd")
    max_valor_total: float = Field(default=1e9, gt=0, description="larger values are absurd")

    def limits(self, today: date | None = None, first_day: date = DEFAULT_HISTORY_START) -> Limits:
        """What a good row is, for a history starting on `first_day` (the first weekly partition's Monday)."""
        return Limits(
            first_day=first_day,
            last_day=today or datetime.now(UTC).date(),
            max_quantidade=self.max_quantidade,
            max_valor_total=self.max_valor_total,
            whole_units=self.whole_units,
        )


def read_options(config: IngestionConfig) -> ReadOptions:
    """How this run reads its files; a malformed option fails the run at once (retrying cannot fix it)."""
    try:
        return ReadOptions.of(config.columns, config.locale, config.date_format, config.sheet)
    except ValueError as error:
        raise dg.Failure(f"raw_sales config: {error}", allow_retries=False) from None


def to_spark(spark: SparkSession, good: pd.DataFrame) -> DataFrame:
    schema = T.StructType(
        [*SALES_SCHEMA.fields, T.StructField("source_file", T.StringType()), T.StructField("source_row", T.LongType())]
    )
    if good.empty:
        return spark.createDataFrame([], schema)
    return spark.createDataFrame(good, schema)


RAW_SALES_CHECKS = {
    Check.COLUMNS_AND_TYPES: "every file readable as CSV/Parquet with the five sales columns; every value of its type",
    Check.NO_NULL_KEYS: "no empty produto, categoria_valor, quantidade, valor_total or data_venda (NULL, N/A, "
    "nan, None and - count as empty)",
    Check.VALUES_IN_RANGE: "names printable and not total lines; quantities above 0, values finite and >= 0, "
    "neither absurd",
    Check.DATES_IN_PARTITIONS: "sale dates inside the weekly partitions: not before the first week, not in the future",
    Check.NO_DUPLICATE_ROWS: "no row repeats an earlier row in all five columns (a file dropped twice); repeats "
    "are dropped",
    PARTITIONS_NOT_EMPTY: "every week of the run holds sales",
    BAD_FRACTION: "the bad rows of the files feeding the run stay within max_bad_fraction",
}


@spark_asset(
    group_name="ingestion",
    partitioned=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="processed_data_io",
    metadata={"partition_expr": "data_venda"},
    kinds={"spark", "parquet"},
    output_required=False,
    check_specs=[
        dg.AssetCheckSpec(str(name), asset="raw_sales", description=text, blocking=True)
        for name, text in RAW_SALES_CHECKS.items()
    ],
)
def raw_sales(
    context: dg.AssetExecutionContext,
    config: IngestionConfig,
    pyspark: LazyPySparkResource,
    warehouse: Warehouse,
):
    """Sales rows (produto, categoria_valor, quantidade, valor_total, data_venda, plus source_file and
    source_row) of the week, read from the sales files in the landing area (`raw-data`: CSV, gzip-compressed
    CSV or Parquet, told by their bytes) and validated row by row: bad rows go to raw-data/quarantine/rows/
    with their reasons, files that can never be ingested to raw-data/quarantine/files/, the good rows proceed.
    Only the files holding rows of the run's weeks are read (an index in raw-data/_index/ knows which). When
    the landing area holds nothing but the demo's files, a deterministic generator writes demo weeks first.
    One run can load a range of weeks."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    try:
        landing = list_landing(warehouse, config.landing_prefix)
    except ValueError as error:
        raise dg.Failure(str(error), allow_retries=False) from None
    if config.demo_when_empty and not landing.user_files:
        weeks = [start + timedelta(days=7 * i) for i in range((end - start).days // 7)]
        if write_demo_sales(warehouse, weeks, {f.key for f in landing.sales}, context.log):
            landing = list_landing(warehouse, config.landing_prefix)
    not_read = landing.report()
    for line in not_read:
        context.log.warning(line)

    limits = config.limits(first_day=context.assets_def.partitions_def.start.date())
    prefix, options = config.landing_prefix, read_options(config)
    report = validate_landing(
        warehouse,
        landing.sales,
        limits,
        context.partition_keys,
        start,
        end,
        prefix,
        options,
        uploads_replace_days=config.later_uploads_replace_days,
    )
    moved = quarantine_rejected(warehouse, report, context.log)
    for key, notes in report.notes.items():
        context.log.info(f"{key}: {'; '.join(notes)}")
    quarantined = write_quarantine(warehouse, report)
    over = report.bad_fraction > config.max_bad_fraction
    if report.bad_rows_in_scope:
        context.log.warning(
            f"{report.bad_rows_in_scope} bad row(s) of {report.rows_in_scope} ({report.bad_fraction:.1%}) quarantined "
            f"in {LANDING_BUCKET}/{QUARANTINE_ROWS}; e.g. {report.examples(None, 1)[0]}"
        )
    if not over:
        yield dg.Output(
            to_spark(pyspark.spark_session, report.good),
            metadata={
                "weeks": len(context.partition_keys),
                "date_range": f"{start} .. {end - timedelta(days=1)}",
                "landing_files": len(landing.sales),
                "files_feeding_run": len(report.scope),
                "files_quarantined": dg.MetadataValue.json({k: str(p) for k, p in report.rejected.items()}),
                "files_not_read": dg.MetadataValue.md("\n".join(f"- {line}" for line in not_read) or "none"),
                "how_files_were_read": dg.MetadataValue.md(
                    "\n".join(f"- {key}: {'; '.join(notes)}" for key, notes in report.notes.items()) or "as written"
                ),
                "rows_read": report.rows_in_scope,
                "bad_rows": report.bad_rows_in_scope,
                "duplicate_rows_dropped": len(report.duplicates),
                "quarantine": dg.MetadataValue.json({**quarantined, **moved}),
            },
        )
    yield from report.check_results(config.max_bad_fraction, config.empty_weeks)
