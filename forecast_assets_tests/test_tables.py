"""pandas frames as Dagster table metadata (reporting/tables.py): typed, sortable columns; missing and non-finite
values as empty cells; the index as a named column."""

import math

import pandas as pd

from forecast_assets.reporting.tables import frame_table


def test_columns_are_typed_and_cells_converted():
    frame = pd.DataFrame(
        {"rmse": [1.23456789, math.nan, math.inf], "rows": [3, 4, 5], "won": [True, False, True]},
        index=pd.Index(["random_forest", "zero", "naive"]),
    )
    table = frame_table(frame, index="model", digits=3).value
    assert [(c.name, c.type) for c in table.schema.columns] == [
        ("model", "string"),
        ("rmse", "float"),
        ("rows", "int"),
        ("won", "bool"),
    ]
    records = [r.data for r in table.records]
    assert records[0] == {"model": "random_forest", "rmse": 1.235, "rows": 3, "won": True}  # rounded to 3 digits
    assert records[1]["rmse"] is None and records[2]["rmse"] is None  # NaN and inf are empty, not "nan"
    assert all(type(r["rows"]) is int and type(r["won"]) is bool for r in records)  # not numpy scalars


def test_without_an_index_name_the_index_is_left_out_and_text_stays_text():
    frame = pd.DataFrame({"produto": ["P001", None], "when": ["2025-01-05", "2025-01-12"]}, index=[7, 8])
    table = frame_table(frame).value
    assert [c.name for c in table.schema.columns] == ["produto", "when"]
    assert [r.data for r in table.records] == [
        {"produto": "P001", "when": "2025-01-05"},
        {"produto": None, "when": "2025-01-12"},
    ]
