"""The three example exports README's "Your own data" is written around (forecast_assets_tests/exports/): a
Brazilian ERP export, an English marketplace export of order lines, an Excel workbook. Each is read as its
exporter wrote it, and the landing area (the new-files sensor, then raw_sales) stores the same rows that
`make run DATA=` lands and validates (plan_landing: the same parser and options)."""

from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from forecast_assets.cli import plan_landing
from forecast_assets.landing.formats import ReadOptions
from forecast_assets.landing.schema import FileProblem
from forecast_assets.landing.validation import Limits, parse_sales_file
from forecast_assets_tests.conftest import resolved, tick_new_sales_files

EXPORTS = Path(__file__).parent / "exports"
TODAY = date(2026, 11, 30)
LIMITS = Limits(first_day=date(2023, 1, 2), last_day=TODAY)


def parsed(name: str, **options):
    return parse_sales_file(name, (EXPORTS / name).read_bytes(), LIMITS, ReadOptions.of(**options))


def test_the_brazilian_erp_export_is_read_with_its_decimal_comma_thousands_dot_and_day_first_dates():
    erp = parsed("erp_vendas.csv")
    assert (erp.rows, len(erp.good), len(erp.bad)) == (955, 955, 0)
    notes = "; ".join(erp.notes)
    assert (
        "delimiter ';'" in notes
        and "valor_total <- 'Valor Total'" in notes
        and "data_venda <- 'Data da Venda'" in notes
    )
    rice = erp.good[(erp.good["produto"] == "Arroz 5kg") & (erp.good["data_venda"] == date(2025, 3, 7))]
    assert rice[["quantidade", "valor_total"]].values.tolist() == [[1000.0, 24900.0]]  # `1.000` and `24.900,00`
    cheese = erp.good[erp.good["produto"] == "Queijo (kg)"]["quantidade"]
    assert (cheese % 1 != 0).any() and cheese.max() < 3.01  # `1,234` kg: a decimal comma, not thousands
    assert erp.good["data_venda"].min() == date(2025, 3, 3) and erp.good["data_venda"].max() == date(2025, 8, 31)


def test_the_marketplace_export_is_one_unit_per_order_line_at_its_unit_price():
    orders = parsed("marketplace_orders.csv")
    assert len(orders.good) == orders.rows and not len(orders.bad)
    assert (orders.good["quantidade"] == 1.0).all()
    tv = orders.good[orders.good["produto"] == "SKU-1001"]
    assert set(tv["valor_total"]) == {1299.0} and set(tv["categoria_valor"]) == {"Electronics"}  # `$1,299.00`
    assert "no quantity column: each row is one unit sold" in "; ".join(orders.notes)
    assert orders.good["data_venda"].max() == date(2025, 8, 31)  # month-first, `08/31/2025 14:02`


def test_the_workbook_is_read_from_its_sales_sheet_with_the_cells_types():
    book = parsed("vendas.xlsx")
    assert (book.rows, len(book.good), len(book.bad)) == (728, 728, 0)  # the blank row is not a row
    assert "sheet 'Vendas' (of 2)" in book.notes
    assert set(book.good["produto"]) == {"78912345", "78954321", "40011122", "40033344"}  # codes, not 78912345.0
    assert book.good["data_venda"].map(type).eq(date).all()
    with pytest.raises(FileProblem, match="has no sheet 'Sales'"):
        parsed("vendas.xlsx", sheet="Sales")


def test_a_week_file_that_does_not_decide_its_date_order_is_refused_until_the_locale_is_given():
    with pytest.raises(FileProblem, match="'01/09/2025' is day-first or month-first"):
        parsed("erp_vendas_semana_seguinte.csv")
    week = parsed("erp_vendas_semana_seguinte.csv", locale="pt_BR")
    assert week.good["data_venda"].min() == date(2025, 9, 1) and len(week.good) == week.rows


def test_the_landing_area_stores_the_rows_run_data_lands(local_defs, local_settings):
    """Each example dropped in the landing area: the sensor requests its weeks, raw_sales stores its rows, and
    they are the rows run-data's plan validates for `make run DATA=` (one parser, one set of options)."""
    warehouse = resolved(local_defs, "warehouse")
    names = ["erp_vendas.csv", "marketplace_orders.csv", "vendas.xlsx"]
    for name in names:
        warehouse.write_bytes("raw-data", f"exports/{name}", (EXPORTS / name).read_bytes())
    requests = {r.tags["forecast/file"]: r for r in tick_new_sales_files(warehouse, None).run_requests}
    assert sorted(requests) == [f"exports/{n}" for n in names]
    request = requests["exports/erp_vendas.csv"]
    first, last = (request.tags[f"dagster/asset_partition_range_{end}"] for end in ("start", "end"))
    assert (first, last) == ("2025-03-03", "2025-08-25")
    result = dg.materialize(
        [local_defs.get_assets_def("raw_sales")],
        resources=local_defs.resources,
        tags=request.tags,
        run_config={"ops": {"raw_sales": request.run_config["ops"].get("raw_sales", {"config": {}})}},
    )
    assert result.success
    io_manager = resolved(local_defs, "processed_data_io")
    stored = io_manager.load_current(dg.AssetKey("raw_sales")).toPandas()
    columns = ["produto", "categoria_valor", "quantidade", "valor_total", "data_venda"]
    for name in names:
        plan = plan_landing([str(EXPORTS / name)], today=TODAY)
        expected = parsed(name).good
        expected = expected[expected["data_venda"] <= date.fromisoformat(plan.partition_keys[1]) + pd.Timedelta(days=6)]
        mine = stored[stored["source_file"] == f"exports/{name}"]
        assert len(mine) == len(expected) > 0
        key = columns[:2] + columns[4:]
        assert (
            mine[columns]
            .sort_values(key + ["valor_total", "quantidade"])
            .reset_index(drop=True)
            .equals(expected[columns].sort_values(key + ["valor_total", "quantidade"]).reset_index(drop=True))
        )
    metadata = result.asset_materializations_for_node("raw_sales")[0].metadata
    assert "data_venda <- 'Order Date'" in metadata["how_files_were_read"].value


def workbook(**sheets: list[list]) -> bytes:
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


SALES_ROWS = [["sku", "qty", "amount", "date"], ["A", 1, 2.5, date(2025, 3, 3)]]


@pytest.mark.parametrize(
    ("name", "body", "options", "expected"),
    [
        ("notes.xlsx", workbook(Notes=[["hello"]]), {}, "no sheet holds sales (sheet 'Notes' row 1 (the header)"),
        ("two.xlsx", workbook(Jan=SALES_ROWS, Feb=SALES_ROWS), {}, "sheets 'Jan', 'Feb' all hold sales columns"),
        ("two.xlsx", workbook(Jan=SALES_ROWS), {"sheet": "Mar"}, "has no sheet 'Mar' (SHEET"),
        ("cut.xlsx", workbook(Jan=SALES_ROWS)[:900], {}, "a damaged zip container"),
        ("locked.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptionInfo".encode("utf-16-le"), {}, "password"),
        (
            "a.csv",
            b"sku,amount,date\nA,1.5,23/01/2025\n",
            {"date_format": "%m/%d/%Y"},
            "DATE_FORMAT '%m/%d/%Y' matches",
        ),
        ("a.csv", b"sku,amount,date\nA,1.5,2025-01-23\n", {"columns": "produto=article"}, "maps produto to the column"),
    ],
)
def test_bad_input_is_one_message_naming_the_file_and_the_option(name, body, options, expected):
    with pytest.raises(FileProblem) as problem:
        parse_sales_file(name, body, LIMITS, ReadOptions.of(**options))
    assert str(problem.value).startswith(f"{name}: ") and expected in str(problem.value)
    assert "\n" not in str(problem.value) and "expected" in str(problem.value)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--locale", "xx_YY"], "error: LOCALE='xx_YY' is not a known locale"),
        (["--columns", "produto=sku,categoria_valor=SKU"], "error: COLUMNS maps two roles to the column 'SKU'"),
        (["--date-format", "%H:%M"], "error: DATE_FORMAT='%H:%M': expected a day, a month and a year"),
        (["--locale", "en_US"], "error: "),  # a file whose numbers are not en_US's: refused, nothing landed
    ],
)
def test_run_data_refuses_bad_options_in_one_line_with_exit_code_2(tmp_path, monkeypatch, capsys, arguments, expected):
    from forecast_assets.cli import main

    monkeypatch.setenv("FORECAST_WAREHOUSE", str(tmp_path / "warehouse"))
    export = tmp_path / "vendas.csv"
    export.write_text("produto;valor_total;data_venda\nA;1.234,56;23/01/2025\n")
    assert main(["cli", "run-data", str(export), *arguments]) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and said[0].startswith(expected)
    assert not (tmp_path / "warehouse").exists()
