"""pandas frames as Dagster table metadata (`MetadataValue.table` with a `TableSchema`): sortable in the UI,
where a markdown table is text."""

import math

import dagster as dg
import pandas as pd
from pandas.api import types


def _column_type(series: pd.Series) -> str:
    if types.is_bool_dtype(series):
        return "bool"
    if types.is_integer_dtype(series):
        return "int"
    if types.is_float_dtype(series):
        return "float"
    return "string"


def _cell(value, kind: str):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return None if pd.isna(value) else str(value)


def frame_table(frame: pd.DataFrame, index: str | None = None, digits: int = 6) -> dg.MetadataValue:
    """`frame` as table metadata; `index` names a column for the frame's index (left out when None)."""
    if index is not None:
        frame = frame.rename_axis(index).reset_index()
    frame = frame.round(digits)
    kinds = {str(column): _column_type(frame[column]) for column in frame.columns}
    records = [
        dg.TableRecord({str(c): _cell(v, kinds[str(c)]) for c, v in row.items()})
        for row in frame.to_dict(orient="records")
    ]
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in kinds.items()])
    return dg.MetadataValue.table(records=records, schema=schema)
