"""Files as real exporters and real mistakes make them (a corpus of its own, apart from test_ingestion's):
each file alone has its outcome, then all of them land beside good files and one raw_sales run on real Spark
stores every good row, quarantines every bad row and every unreadable file with a reason, and the
new-files sensor keeps ticking over the same landing area."""

import gzip
import io
import os
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast_assets.ingestion.assets import IngestionConfig
from forecast_assets.landing.area import INDEX_KEY
from forecast_assets.landing.schema import FileProblem
from forecast_assets.landing.validation import message, parse_sales_file
from forecast_assets_tests.conftest import quarantined, resolved, tick_new_sales_files

WEEK = "2025-03-03"
HEADER = "produto,categoria_valor,quantidade,valor_total,data_venda"
TODAY = date(2026, 11, 27)


def lines(count: int, first: int, sep: str = ",") -> list[str]:
    """Good rows, each with its own product (E<first>..), dated in WEEK."""
    return [
        sep.join([f"E{i:03d}", "casa", str(i % 4 + 1), f"{5 + i}.50", f"2025-03-0{3 + i % 7}"])
        for i in range(first, first + count)
    ]


def text(rows: list[str], header: str = HEADER, end: str = "\n") -> str:
    return end.join([header, *rows]) + end


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def table(count: int, first: int, **columns) -> pa.Table:
    data = {
        "produto": pa.array([f"E{i:03d}" for i in range(first, first + count)]),
        "categoria_valor": pa.array(["casa"] * count),
        "quantidade": pa.array([1.0 + i % 3 for i in range(count)]),
        "valor_total": pa.array([2.5 + i for i in range(count)]),
        "data_venda": pa.array([date(2025, 3, 3 + i % 7) for i in range(count)], pa.date32()),
    }
    data.update(columns)
    return pa.table(data)


def zipped(names: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in names.items():
            archive.writestr(name, body)
    return buffer.getvalue()


XLSX = zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b""})
LONG_NAME = "vendas_" + "x" * 230 + ".csv"


@dataclass
class Case:
    name: str
    body: bytes
    good: int = 0
    bad: int = 0
    problem: str | None = None  # a phrase of the whole-file problem
    phrase: str = ""  # a phrase every bad row's message holds
    products: set[str] | None = None  # the good rows' product names, exactly


CORPUS = [
    Case("cr_only.csv", text(lines(3, 0), end="\r").encode(), good=3),
    Case("export.csv.gz", gzip.compress(text(lines(3, 10)).encode()), good=3),
    Case("gzip_renamed.csv", gzip.compress(text(lines(2, 20)).encode()), good=2),
    Case("truncated.csv.gz", gzip.compress(text(lines(50, 30)).encode())[:60], problem="truncated gzip"),
    Case("sales.xlsx", XLSX, problem="a damaged Excel (.xlsx) workbook"),
    Case("workbook_renamed.csv", XLSX, problem="a damaged Excel (.xlsx) workbook"),
    Case("exports.zip", zipped({"a.csv": b"x"}), problem="zip archive (a.csv)"),
    Case("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), problem="damaged Excel 97-2003 (.xls) workbook"),
    Case("report.csv", b"%PDF-1.7\n%binary", problem="PDF document"),
    Case("web_page.csv", b"<html><body><table><tr><td>x</td></tr></table></body></html>", problem="HTML or XML"),
    Case("random.csv", bytes(range(256)) * 8, problem="binary file"),
    Case("tab_export.txt", text(lines(3, 40, sep="\t"), header=HEADER.replace(",", "\t")).encode(), good=3),
    Case("short_suffix.pq", parquet(table(3, 50)), good=3),
    Case("parquet_named.csv", parquet(table(2, 60)), good=2),
    Case(
        "excel_unicode.csv",
        b"\xff\xfe"
        + text(["Pão de Açúcar\tpadaria\t2\t9.80\t2025-03-04"], header=HEADER.replace(",", "\t")).encode("utf-16-le"),
        good=1,
        products={"Pão de Açúcar"},
    ),
    Case("utf32.csv", b"\xff\xfe\x00\x00" + text(lines(2, 70)).encode("utf-32-le"), good=2),
    Case("sep_line.csv", ("sep=;\n" + text(lines(3, 80, sep=";"), header=HEADER.replace(",", ";"))).encode(), good=3),
    Case(
        "blank_lines_first.csv",
        ("\n\n" + text([*lines(2, 90), "E092,casa,x,1.0,2025-03-04"])).encode(),
        good=2,
        bad=1,
        phrase="(line 6): quantidade 'x' is not a number",
    ),
    Case("trailing_delimiters.csv", text([r + "," for r in lines(3, 100)], header=HEADER + ",").encode(), good=3),
    Case("delimiter_rows.csv", text([lines(1, 110)[0], ",,,,", ", , ,,", lines(1, 111)[0], ",,,,,"]).encode(), good=2),
    Case(
        "long_cell.csv",
        text(["Y" * 200_000 + ",casa,1,2.0,2025-03-04", *lines(2, 120)]).encode(),
        good=2,
        bad=1,
        phrase="produto is longer than 200 characters",
    ),
    Case(
        "unclosed_quote_mid.csv",
        text([*lines(2, 130), '"E132,casa,1,2.0,2025-03-04', *lines(2, 133), 'E135,"casa",1,2.0,2025-03-05']).encode(),
        good=5,
        bad=1,
        phrase="(line 4): opens a quote that does not close on its line: it swallowed line(s) 5..7",
    ),
    Case(
        "nfc_nfd.csv",
        text(
            [
                f"{unicodedata.normalize(f, 'Café Pilão')},mercearia,1,9.0,2025-03-0{d}"
                for f, d in (("NFC", 4), ("NFD", 5))
            ]
        ).encode(),
        good=2,
        products={"Café Pilão"},
    ),
    Case(
        "invisible.csv",
        text(
            [
                "Arroz\u200b Tipo 1,mercearia,1,5.0,2025-03-04",
                "\ufeffArroz Tipo 1\u200f,mercearia,2,5.0,2025-03-05",
                "Arroz\u00a0 Tipo  1 ,mercearia,3,5.0,2025-03-06",
            ]
        ).encode(),
        good=3,
        products={"Arroz Tipo 1"},
    ),
    Case(
        "zero_width_name.csv",
        text(["\u200b,casa,1,2.0,2025-03-04", *lines(1, 140)]).encode(),
        good=1,
        bad=1,
        phrase="produto is empty",
    ),
    Case(
        "null_markers.csv",
        text(
            [f"{n},casa,1,2.0,2025-03-04" for n in ("NULL", "N/A", "nan", "None", "-")]
            + [f"E150,{n},1,2.0,2025-03-04" for n in ("null", "#N/A")]
        ).encode(),
        bad=7,
        phrase="is empty; expected a value",
    ),
    Case(
        "control_chars.csv",
        text(["Bell\x07Bell,casa,1,2.0,2025-03-04", '"Two\nlines",casa,1,2.0,2025-03-05', *lines(1, 160)]).encode(),
        good=1,
        bad=2,
        phrase="control character",
    ),
    Case(
        "total_rows.csv",
        text(
            [
                *lines(3, 170),
                "TOTAL,,6,20.0,2025-03-09",
                "Total Geral,casa,6,20.0,2025-03-09",
                "subtotal,casa,1,1.0,2025-03-09",
            ]
        ).encode(),
        good=3,
        bad=3,
        phrase="total line",
    ),
    Case(
        "pharmacy.csv",
        text(["Dipirona 500mg,farmacia,3.67,18.35,2025-03-04", "Granel arroz,mercearia,0.25,1.50,2025-03-05"]).encode(),
        good=2,
    ),
    Case(
        "date_edges.csv",
        text(["E180,casa,1,2.0,0001-01-01", "E181,casa,1,2.0,9999-12-31", *lines(1, 182)]).encode(),
        good=1,
        bad=2,
        phrase="data_venda '",
    ),
    Case(
        "timestamp_edges.parquet",
        parquet(
            table(
                3,
                190,
                data_venda=pa.array(
                    [datetime(1, 1, 1), datetime(9999, 12, 31, 23), datetime(2025, 3, 4, 12)], pa.timestamp("us")
                ),
            )
        ),
        good=1,
        bad=2,
        phrase="data_venda '",
    ),
    Case(
        "zoned_timestamps.parquet",  # 2025-03-04 23:30 in São Paulo is 02:30 UTC on the 5th: it lands on the 4th
        parquet(
            table(
                1,
                200,
                data_venda=pa.array(
                    [datetime(2025, 3, 5, 2, 30, tzinfo=UTC)], pa.timestamp("us", tz="America/Sao_Paulo")
                ),
            )
        ),
        good=1,
    ),
    Case(
        "binary_latin1.parquet",
        parquet(table(2, 210, produto=pa.array([b"E210", "caf\xe9".encode("latin-1")], pa.binary()))),
        good=1,
        bad=1,
        phrase="not UTF-8",
    ),
    Case(
        "case_twins.csv",
        text([r + ",x" for r in lines(1, 220)], header=HEADER + ",PRODUTO").encode(),
        problem="more than once",
    ),
    Case(
        "case_twins.parquet",
        parquet(table(1, 230).append_column("Produto", pa.array(["x"]))),
        problem="the header names column(s) Produto, produto more than once (letter case aside)",
    ),
    Case(
        "dictionary.parquet",
        parquet(table(2, 240, produto=pa.array(["  Feijão ", "Feijão"]).dictionary_encode())),
        good=2,
        products={"Feijão"},
    ),
    Case("struct.parquet", parquet(table(1, 250, produto=pa.array([{"sku": 1}]))), problem="not nested"),
    Case(
        "numeric_names.parquet", parquet(table(1, 260, categoria_valor=pa.array([7]))), problem="expected text (string)"
    ),
    Case(
        "formulas.csv",
        text(
            [
                '"=HYPERLINK(""http://x"",""y"")",casa,-1,2.0,2025-03-04',
                "@SUM(A1),casa,0,2.0,2025-03-04",
                *lines(1, 270),
            ]
        ).encode(),
        good=1,
        bad=2,
        phrase="zero or negative",
    ),
    Case(LONG_NAME, text(["E280,casa,1,2.0,2025-03-04"]).encode(), good=1),
    Case("rows/week=2025-03-03.csv", text(lines(2, 290)).encode(), good=2),  # looks like the quarantine's files
]
GOOD_ROWS = sum(c.good for c in CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name[:40] for c in CORPUS])
def test_each_exporter_file_has_its_outcome(case):
    limits = IngestionConfig().limits(today=TODAY)
    if case.problem:
        with pytest.raises(FileProblem) as failure:
            parse_sales_file(case.name, case.body, limits)
        assert str(failure.value).startswith(f"{case.name}: ") and case.problem in str(failure.value)
        assert "expected" in str(failure.value)
        return
    parsed = parse_sales_file(case.name, case.body, limits)
    assert (len(parsed.good), len(parsed.bad)) == (case.good, case.bad), parsed.bad["reason"].tolist()
    for _, bad in parsed.bad.iterrows():
        said = message(bad)
        assert said.startswith(f"{case.name} row {bad['row']}") and "expected" in said and case.phrase in said, said
        if not case.name.endswith(".parquet"):
            assert f"(line {bad['line']})" in said
    if case.products is not None:
        assert set(parsed.good["produto"]) == case.products


def test_the_days_of_the_edges_and_of_zoned_timestamps():
    limits = IngestionConfig().limits(today=TODAY)
    by_name = {c.name: c for c in CORPUS}
    edges = parse_sales_file("d.csv", by_name["date_edges.csv"].body, limits).bad["reason"].tolist()
    assert edges == [
        "data_venda '0001-01-01' is before the first weekly partition; expected 2023-01-02 or later (set "
        "FORECAST_HISTORY_START to an earlier date to keep older sales)",
        "data_venda '9999-12-31' is in the future; expected 2026-11-27 (today) or earlier",
    ]
    zoned = parse_sales_file("z.parquet", by_name["zoned_timestamps.parquet"].body, limits)
    assert zoned.good["data_venda"].tolist() == [date(2025, 3, 4)]
    pharmacy = parse_sales_file("p.csv", by_name["pharmacy.csv"].body, limits).good
    assert pharmacy["quantidade"].tolist() == [3.67, 0.25]
    units = IngestionConfig(whole_units=True).limits(today=TODAY)
    refused = parse_sales_file("p.csv", by_name["pharmacy.csv"].body, units).bad["reason"].tolist()
    assert refused[0] == "quantidade '3.67' is not a whole number; expected whole units (raw_sales config whole_units)"


# -- everything at once, on real Spark -------------------------------------------------------------


def land_all(warehouse) -> None:
    for case in CORPUS:
        warehouse.write_bytes("raw-data", f"corpus/{case.name}", case.body)
    warehouse.write_bytes("raw-data", "corpus/notes.json", b"{}")  # not a sales format: reported, left alone


def run_week(defs):
    return dg.materialize(
        [defs.get_assets_def("raw_sales")],
        resources=defs.resources,
        partition_key=WEEK,
        run_config={"ops": {"raw_sales": {"config": {"landing_prefix": "corpus/", "max_bad_fraction": 1.0}}}},
        raise_on_error=False,
    )


def stored_week(defs) -> pd.DataFrame:
    io_manager = resolved(defs, "processed_data_io")
    entry = io_manager.read_manifest(dg.AssetKey("raw_sales")).current[WEEK]
    return io_manager.read_version(None, [io_manager.warehouse.uri("processed-data", entry["key"])]).toPandas()


def test_the_exporter_corpus_lands_beside_good_files_and_loses_no_good_row(local_defs, tmp_path):
    warehouse = resolved(local_defs, "warehouse")
    land_all(warehouse)
    # A key storage cannot address (a backslash) sits in the landing folder too: it is reported, never read.
    (tmp_path / "warehouse" / "raw-data" / "corpus" / "win\\path.csv").write_text(text(lines(1, 900)))
    result = run_week(local_defs)
    assert result.success

    stored = stored_week(local_defs)
    assert len(stored) == GOOD_ROWS
    kept = stored.groupby(stored["source_file"].str.removeprefix("corpus/")).size().to_dict()
    assert kept == {c.name: c.good for c in CORPUS if c.good}
    assert (stored.loc[stored["source_file"] == "corpus/nfc_nfd.csv", "produto"] == "Café Pilão").all()
    assert stored.loc[stored["source_file"] == "corpus/pharmacy.csv", "quantidade"].sort_values().tolist() == [
        0.25,
        3.67,
    ]

    moved = quarantined(warehouse)
    assert set(moved) == {f"corpus/{c.name}" for c in CORPUS if c.problem}
    for case in CORPUS:
        if case.problem:
            assert case.problem in moved[f"corpus/{case.name}"], case.name
    rows = pd.read_csv(io.BytesIO(warehouse.read_bytes("raw-data", f"quarantine/rows/week={WEEK}.csv")), dtype=str)
    bad = rows.groupby(rows["file"].str.removeprefix("corpus/")).size().to_dict()
    unassigned = {
        o.key for o in warehouse.list_objects("raw-data", "quarantine/rows/unassigned/")
    }  # rows whose date no week holds (0001-01-01, 9999-12-31)
    for case in CORPUS:
        if case.bad:
            dated = bad.get(case.name, 0)
            undated = 0
            key = f"quarantine/rows/unassigned/corpus/{case.name}.csv"
            if key in unassigned:
                undated = len(pd.read_csv(io.BytesIO(warehouse.read_bytes("raw-data", key))))
            assert dated + undated == case.bad, case.name
    formulas = rows[rows["file"] == "corpus/formulas.csv"]["produto"].tolist()
    assert formulas == ['\'=HYPERLINK("http://x","y")', "'@SUM(A1)"]

    materialization = result.get_asset_materialization_events()[0].materialization
    not_read = materialization.metadata["files_not_read"].value
    assert "corpus/notes.json: not read" in not_read and "win\\\\path.csv" in not_read
    assert (tmp_path / "warehouse" / "raw-data" / "corpus" / "notes.json").exists()
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    types = checks["columns_and_types"]
    assert not types.passed and types.metadata["files_quarantined"].value == sum(1 for c in CORPUS if c.problem)
    assert "- quarantined corpus/case_twins.csv: line 1: the header names column(s)" in types.metadata["examples"].value

    again = run_week(local_defs)  # nothing left to quarantine: the same good rows, read through the index
    assert again.success and len(stored_week(local_defs)) == GOOD_ROWS


def test_a_run_reads_only_the_files_of_its_weeks(local_defs):
    warehouse = resolved(local_defs, "warehouse")
    warehouse.write_bytes("raw-data", "w/elsewhere.csv", text(lines(1, 320)).encode())
    elsewhere = {"ops": {"raw_sales": {"config": {"landing_prefix": "w/"}}}}
    raw_sales = local_defs.get_assets_def("raw_sales")
    dg.materialize([raw_sales], resources=local_defs.resources, partition_key=WEEK, run_config=elsewhere)
    warehouse.write_bytes("raw-data", "x/this_week.csv", text(lines(2, 300)).encode())
    other = text(["E310,casa,1,2.0,2025-03-12"]).encode()
    warehouse.write_bytes("raw-data", "x/next_week.csv", other)
    config = {"ops": {"raw_sales": {"config": {"landing_prefix": "x/"}}}}
    first = dg.materialize(
        [local_defs.get_assets_def("raw_sales")], resources=local_defs.resources, partition_key=WEEK, run_config=config
    )
    assert first.get_asset_materialization_events()[0].materialization.metadata["files_feeding_run"].value == 1
    index = warehouse.read_bytes("raw-data", INDEX_KEY).decode()
    assert '"2025-03-10"' in index and '"2025-03-03"' in index
    # Spoil the other week's file in place, keeping its index entry: a run of WEEK does not read it again.
    stored = next(o for o in warehouse.list_objects("raw-data", "x/") if o.key == "x/next_week.csv")
    path = Path(warehouse._path("raw-data", "x/next_week.csv"))
    stat = path.stat()
    path.write_bytes(b"\x00" * len(other))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time: the same version to the index
    assert (
        next(o for o in warehouse.list_objects("raw-data", "x/") if o.key == "x/next_week.csv").version
        == stored.version
    )
    second = dg.materialize(
        [local_defs.get_assets_def("raw_sales")], resources=local_defs.resources, partition_key=WEEK, run_config=config
    )
    assert second.success and not quarantined(warehouse)
    assert '"w/elsewhere.csv"' in warehouse.read_bytes("raw-data", INDEX_KEY).decode()  # other prefixes kept
    warehouse.delete("raw-data", INDEX_KEY)  # without the index every file is read again, and the spoilt one is found
    third = dg.materialize(
        [local_defs.get_assets_def("raw_sales")], resources=local_defs.resources, partition_key=WEEK, run_config=config
    )
    assert third.success and "x/next_week.csv" in quarantined(warehouse)


def test_relanding_a_broken_file_keeps_both_copies(local_defs):
    warehouse = resolved(local_defs, "warehouse")
    config = {"ops": {"raw_sales": {"config": {"landing_prefix": "y/"}}}}
    warehouse.write_bytes("raw-data", "y/good.csv", text(lines(1, 400)).encode())
    for body in (XLSX, XLSX + b"second"):
        warehouse.write_bytes("raw-data", "y/book.csv", body)
        dg.materialize(
            [local_defs.get_assets_def("raw_sales")],
            resources=local_defs.resources,
            partition_key=WEEK,
            run_config=config,
        )
    copies = [o.key for o in warehouse.list_objects("raw-data", "quarantine/files/y/") if not o.key.endswith(".txt")]
    assert len(copies) == 2 and {warehouse.read_bytes("raw-data", k) for k in copies} == {XLSX, XLSX + b"second"}


def test_only_unusual_files_landed_means_no_demo(local_defs):
    warehouse = resolved(local_defs, "warehouse")
    warehouse.write_bytes("raw-data", "exports/sales.xlsx", XLSX)
    result = dg.materialize(
        [local_defs.get_assets_def("raw_sales")],
        resources=local_defs.resources,
        partition_key=WEEK,
        raise_on_error=False,
    )
    assert not [o for o in warehouse.list_objects("raw-data") if o.key.startswith("demo/")]
    assert "exports/sales.xlsx" in quarantined(warehouse)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["partitions_not_empty"].passed  # nothing usable landed: said, not filled with demo data


def test_the_sensor_keeps_ticking_over_the_corpus(local_defs, tmp_path):
    warehouse = resolved(local_defs, "warehouse")
    land_all(warehouse)
    (tmp_path / "warehouse" / "raw-data" / "corpus" / "win\\path.csv").write_text(text(lines(1, 900)))
    result = tick_new_sales_files(warehouse, None)
    assert {r.tags["forecast/file"] for r in result.run_requests} == {
        f"corpus/{c.name}"[:200] for c in CORPUS if c.good
    }
    assert set(quarantined(warehouse)) == {f"corpus/{c.name}" for c in CORPUS if c.problem}
    again = tick_new_sales_files(warehouse, result.cursor)
    assert not again.run_requests and "no new or changed sales file" in again.skip_reason.skip_message
    warehouse.write_bytes("raw-data", "corpus/new.csv", text(lines(1, 500)).encode())
    (request,) = tick_new_sales_files(warehouse, again.cursor).run_requests
    assert request.tags["forecast/file"] == "corpus/new.csv"


def test_weeks_stored_by_an_older_release_are_read_with_new_ones(local_defs, spark):
    """An older release stored quantidade as long; a week stored now holds doubles: both load as one frame."""
    from pyspark.sql import functions as F

    warehouse = resolved(local_defs, "warehouse")
    warehouse.write_bytes("raw-data", "z/a.csv", text(lines(3, 600)).encode())
    warehouse.write_bytes("raw-data", "z/b.csv", text(["E700,casa,1.5,2.0,2025-03-11"]).encode())
    config = {"ops": {"raw_sales": {"config": {"landing_prefix": "z/"}}}}
    raw_sales = local_defs.get_assets_def("raw_sales")
    dg.materialize([raw_sales], resources=local_defs.resources, partition_key=WEEK, run_config=config)
    io_manager = resolved(local_defs, "processed_data_io")
    manifest = io_manager.read_manifest(dg.AssetKey("raw_sales"))
    entry = manifest.current[WEEK]
    older = spark.read.parquet(warehouse.uri("processed-data", entry["key"]))
    legacy_key = "raw_sales/v0000/dagster_partition=" + WEEK
    older.withColumn("quantidade", F.col("quantidade").cast("long")).write.parquet(
        warehouse.uri("processed-data", legacy_key)
    )
    legacy = {k: v for k, v in entry.items() if k != "schema"} | {"key": legacy_key}
    io_manager.update_manifest(dg.AssetKey("raw_sales"), lambda manifest: manifest.current.update({WEEK: legacy}))

    dg.materialize([raw_sales], resources=local_defs.resources, partition_key="2025-03-10", run_config=config)
    both = io_manager.load_current(dg.AssetKey("raw_sales"))
    assert dict(both.dtypes)["quantidade"] == "double"
    assert sorted(r["quantidade"] for r in both.collect()) == [1.0, 1.5, 2.0, 3.0]


def test_a_reader_failing_in_an_unforeseen_way_stops_only_its_file(local_defs, monkeypatch):
    """Fault injection: the reader raises something no rule foresaw for one file; that file is quarantined
    with the error, the good file beside it is stored, and the sensor's tick over the same files succeeds."""
    from forecast_assets.landing import validation

    real = validation.read_cells

    def flaky(file, body, options=None):
        if file.endswith("cursed.csv"):
            raise RuntimeError("an exporter nobody has seen")
        return real(file, body, options)

    monkeypatch.setattr(validation, "read_cells", flaky)
    warehouse = resolved(local_defs, "warehouse")
    warehouse.write_bytes("raw-data", "v/cursed.csv", text(lines(2, 800)).encode())
    warehouse.write_bytes("raw-data", "v/fine.csv", text(lines(2, 810)).encode())
    tick = tick_new_sales_files(warehouse, None)
    assert [r.tags["forecast/file"] for r in tick.run_requests] == ["v/fine.csv"] and tick.cursor
    assert "could not be read (RuntimeError: an exporter nobody has seen)" in quarantined(warehouse)["v/cursed.csv"]
    warehouse.write_bytes("raw-data", "v/cursed2.csv", text(lines(2, 820)).encode().replace(b"E82", b"E83"))
    monkeypatch.setattr(validation, "read_cells", lambda f, b, o=None: flaky(f.replace("2.csv", ".csv"), b, o))
    result = dg.materialize(
        [local_defs.get_assets_def("raw_sales")],
        resources=local_defs.resources,
        partition_key=WEEK,
        run_config={"ops": {"raw_sales": {"config": {"landing_prefix": "v/"}}}},
    )
    assert result.success and len(stored_week(local_defs)) == 2
    assert "v/cursed2.csv" in quarantined(warehouse)
