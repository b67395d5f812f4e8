"""The sales schema, the checks every landed row is held to, and the problem that refuses a whole file."""

import re
from enum import StrEnum

from pyspark.sql import types as T

COLUMNS = ("produto", "categoria_valor", "quantidade", "valor_total", "data_venda")
TEXT_COLUMNS = ("produto", "categoria_valor")
# A sale date: YYYY-MM-DD, optionally with a time (groups 4-6, checked) and a zone (the date as written counts).
ISO_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
SALES_SCHEMA = T.StructType(
    [
        T.StructField("produto", T.StringType()),
        T.StructField("categoria_valor", T.StringType()),
        T.StructField("quantidade", T.DoubleType()),  # fractional: goods sold by weight, partial packs
        T.StructField("valor_total", T.DoubleType()),
        T.StructField("data_venda", T.DateType()),
    ]
)


class Check(StrEnum):
    """What a bad row (or a refused file) failed; the blocking asset checks on raw_sales carry these names."""

    COLUMNS_AND_TYPES = "columns_and_types"
    NO_NULL_KEYS = "no_null_keys"
    VALUES_IN_RANGE = "values_in_range"
    DATES_IN_PARTITIONS = "dates_in_partitions"
    NO_DUPLICATE_ROWS = "no_duplicate_rows"


BAD_ROW_COLUMNS = ["file", "row", "line", "sheet", "check", "column", "reason", *COLUMNS]


class FileProblem(ValueError):
    """The file as a whole cannot be read as sales. str() names the file and what was expected."""

    def __init__(self, file: str, problem: str, check: Check = Check.COLUMNS_AND_TYPES):
        super().__init__(f"{file}: {problem}")
        self.file, self.problem, self.check = file, problem, check
