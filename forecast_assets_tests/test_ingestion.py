"""Bad input: a corpus of broken sales files, each with its expected outcome, validated alone and then all
landed together and ingested by raw_sales on real Spark (no good row lost, every bad one quarantined)."""

import io
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast_assets.ingestion.assets import IngestionConfig
from forecast_assets.landing.schema import FileProblem
from forecast_assets.landing.validation import message, parse_sales_file
from forecast_assets_tests.conftest import quarantined, resolved

WEEK = "2025-03-03"
HEADER = "produto,categoria_valor,quantidade,valor_total,data_venda"
TODAY = date(2026, 11, 27)


def rows(count: int, first: int = 0, sep: str = ",", day: str = "2025-03-0{}") -> list[str]:
    return [
        sep.join([f"C{i:03d}", "casa", str(i % 5 + 1), f"{10 + i}.25", day.format(3 + i % 7)])
        for i in range(first, first + count)
    ]


def csv_file(lines: list[str], header: str = HEADER, end: str = "\n") -> bytes:
    return end.join([header, *lines]).encode() + end.encode()


def parquet_file(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def frame(count: int, first: int = 0, **overrides) -> pd.DataFrame:
    data = {
        "produto": [f"Q{i:03d}" for i in range(first, first + count)],
        "categoria_valor": ["casa"] * count,
        "quantidade": [i % 5 + 1 for i in range(count)],
        "valor_total": [10.5 + i for i in range(count)],
        "data_venda": [date(2025, 3, 3 + i % 7) for i in range(count)],
    }
    data.update(overrides)
    return pd.DataFrame(data)


@dataclass
class Case:
    name: str  # the landed file's name
    body: bytes
    good: int = 0  # rows kept
    bad: int = 0  # rows quarantined
    problem: str | None = None  # whole-file problem: a phrase of its message
    columns: tuple[str, ...] = ()  # columns named by the bad rows' messages
    phrase: str = ""  # a phrase every bad row's message holds


LATIN1 = "\n".join([HEADER, "Café,alimentos,1,5.0,2025-03-04", "Pão,alimentos,2,3.0,2025-03-05"]).encode("latin-1")
CORPUS = [
    Case("ok.csv", csv_file(rows(10)), good=10),
    Case("semicolon.csv", csv_file(rows(4, 100, sep=";"), header=HEADER.replace(",", ";")), good=4),
    Case("tabs.csv", csv_file(rows(3, 110, sep="\t"), header=HEADER.replace(",", "\t")), good=3),
    Case("rows_with_other_delimiter.csv", csv_file(rows(3, 120, sep=";")), bad=3, columns=("*",), phrase="field(s)"),
    Case("no_header.csv", "\n".join(rows(3, 130)).encode(), problem="not a header"),
    Case(
        "missing_column.csv",
        csv_file([r.rsplit(",", 1)[0] for r in rows(2, 140)], header=HEADER.rsplit(",", 1)[0]),
        problem="no column for data_venda",
    ),
    Case("extra_column.csv", csv_file([r + ",x" for r in rows(3, 150)], header=HEADER + ",loja"), good=3),
    Case(
        "reordered_upper.csv",
        csv_file(["2025-03-04,2,9.5,casa,C160"], header="DATA_VENDA, Quantidade ,valor_total,categoria_valor,PRODUTO"),
        good=1,
    ),
    Case("crlf_bom.csv", b"\xef\xbb\xbf" + csv_file(rows(3, 170), end="\r\n"), good=3),
    Case(
        "one_latin1_byte.csv",
        csv_file(rows(2, 180)) + "C182,caf\xe9,1,2.0,2025-03-04\n".encode("latin-1"),
        good=2,
        bad=1,
        columns=("categoria_valor",),
        phrase="not UTF-8",
    ),
    Case("all_latin1.csv", LATIN1, bad=2, columns=("produto",), phrase="not UTF-8"),
    Case(  # no date decides the order: refused, never guessed
        "undecided_dates.csv",
        csv_file(["C190,casa,1,2.0,04/03/2025", "C191,casa,1,2.0,2025-03-04"]),
        problem="day-first or month-first, and no date of the file has a day above 12",
    ),
    Case(  # 31/02 decides day-first for the whole file (though no date itself), so 04/03 is 4 March
        "day_first_dates.csv",
        csv_file(["C190,casa,1,2.0,04/03/2025", "C191,casa,1,2.0,31/02/2025", "C192,casa,1,2.0,March 4 2025"]),
        good=1,
        bad=2,
        columns=("data_venda",),
        phrase="expected 23/01/2017 (day first) or YYYY-MM-DD",
    ),
    Case(
        "mixed_date_orders.csv",
        csv_file(["C190,casa,1,2.0,13/03/2025", "C191,casa,1,2.0,03/13/2025"]),
        problem="both day-first ('13/03/2025') and month-first ('03/13/2025')",
    ),
    Case(
        "timestamps.csv", csv_file(["C193,casa,1,2.0,2025-03-04T10:30:00", "C194,casa,1,2.0,2025-03-04 08:00"]), good=2
    ),
    Case(
        "impossible_date.csv",
        csv_file(["C195,casa,1,2.0,2025-02-30", "C196,casa,1,2.0,2025-13-01"] + rows(1, 197)),
        good=1,
        bad=2,
        columns=("data_venda",),
        phrase="not a date",
    ),
    Case(
        "huge_values.csv",
        csv_file(["C200,casa,1,1e308,2025-03-04", "C201,casa,1000000000,5.0,2025-03-04"] + rows(2, 202)),
        good=2,
        bad=2,
        phrase="absurd",
    ),
    Case(
        "nan_inf.csv",
        csv_file(
            [
                "C210,casa,1,NaN,2025-03-04",
                "C211,casa,1,inf,2025-03-04",
                "C212,casa,nan,1.0,2025-03-04",
                "C213,casa,1,-inf,2025-03-05",
            ]
        ),
        bad=4,
        phrase="'",
    ),
    Case(
        "text_in_numbers.csv",
        csv_file(["C220,casa,dez,5.0,2025-03-04", "C221,casa,1,R$ 5,2025-03-04", "C223,casa,1,5 reais,2025-03-04"]),
        good=1,  # R$ 5: a currency sign around a number is not text
        bad=2,
        columns=("quantidade", "valor_total"),
        phrase="not a number",
    ),
    Case("decimal_comma.csv", csv_file(["C230;casa;1;10,50;2025-03-04"], header=HEADER.replace(",", ";")), good=1),
    Case(  # 1.000 is 1000 or 1, and nothing in the file says which: refused, never stored as 1.0
        "thousands_undecided.csv",
        csv_file(["C231;casa;1.000;2.500;2025-03-04", "C232;casa;3;7;2025-03-04"], header=HEADER.replace(",", ";")),
        problem="'1.000' is 1000 with a decimal comma (pt_BR, de_DE) and 1 with a decimal point (en_US)",
    ),
    Case(
        "both_decimal_marks.csv",
        csv_file(['C233,casa,1,"10,50",2025-03-04', "C234,casa,1,10.50,2025-03-04"]),
        problem="both with a decimal point ('10.50') and a decimal comma ('10,50')",
    ),
    Case(
        "bad_quantities.csv",
        csv_file(
            [
                "C240,casa,-3,5.0,2025-03-04",
                "C241,casa,0,5.0,2025-03-04",
                "C242,casa,2.5,5.0,2025-03-04",
                "C243,casa,3.0,5.0,2025-03-04",
            ]
        ),
        good=2,  # 2.5: a fractional quantity is a sale (by weight, partial packs)
        bad=2,
        columns=("quantidade",),
        phrase="quantidade",
    ),
    Case(
        "negative_value.csv",
        csv_file(["C250,casa,1,-5.0,2025-03-04"] + rows(1, 251)),
        good=1,
        bad=1,
        columns=("valor_total",),
        phrase="negative",
    ),
    Case(
        "empty_keys.csv",
        csv_file(
            [
                ",casa,1,5.0,2025-03-04",
                "C261,,1,5.0,2025-03-04",
                "C262,casa,1,,2025-03-04",
                "C263,casa,1,5.0,",
                "  ,casa,1,5.0,2025-03-04",
            ]
        ),
        bad=5,
        phrase="is empty",
    ),
    Case(
        "ragged_rows.csv",
        csv_file(["C270,casa,1,5.0,2025-03-04,extra", "C271,casa,1"] + rows(2, 272)),
        good=2,
        bad=2,
        columns=("*",),
        phrase="field(s)",
    ),
    Case(
        "blank_lines_and_quotes.csv",
        csv_file(['"C280, large",casa,1,5.0,2025-03-04', "", 'C281,"casa",2,"6.5",2025-03-05', "   "]),
        good=2,
    ),
    Case(
        "unclosed_quote.csv",
        csv_file(rows(2, 290) + ['"C292,casa,1,5.0,2025-03-04'] + rows(2, 293)),
        good=4,  # the lines the quote swallowed are read again
        bad=1,
        columns=("*",),
        phrase="swallowed line(s) 5..6 (2 line(s), read again as rows)",
    ),
    Case(
        "long_name.csv",
        csv_file(["X" * 300 + ",casa,1,5.0,2025-03-04"] + rows(1, 300)),
        good=1,
        bad=1,
        columns=("produto",),
        phrase="longer than",
    ),
    Case(
        "past_dates.csv",
        csv_file(["C310,casa,1,5.0,2022-12-31"] + rows(1, 311)),
        good=1,
        bad=1,
        columns=("data_venda",),
        phrase="before the first weekly partition",
    ),
    Case("header_only.csv", csv_file([])),
    Case("empty.csv", b"", problem="empty file"),
    Case("gzip_named_csv.csv", b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4, problem="a damaged gzip file"),
    Case("zero_byte.parquet", b"", problem="empty file"),
    Case("not_really.parquet", csv_file(rows(2, 320)), good=2),  # CSV by its bytes, whatever its name
    Case("truncated.parquet", parquet_file(frame(20, 330))[:300], problem="not a readable Parquet file"),
    Case(
        "wrong_schema.parquet",
        parquet_file(frame(3, 340).rename(columns={"valor_total": "vlr"})),
        problem="no column for valor_total (revenue/amount/total/valor, or a unit price)",
    ),
    Case(
        "synonyms.parquet",
        parquet_file(frame(3, 345).rename(columns={"valor_total": "Valor", "produto": "SKU"})),
        good=3,
    ),
    Case("typed.parquet", parquet_file(frame(5, 350)), good=5),
    Case(
        "string_numbers.parquet",
        parquet_file(frame(3, 360, quantidade=["1", "dois", "3"], valor_total=["1.5", "2", "x"])),
        good=1,
        bad=2,
        phrase="not a number",
    ),
    Case(
        "timestamps.parquet",
        parquet_file(
            frame(3, 370, data_venda=pd.to_datetime(["2025-03-04", "2025-03-05 13:00", "2025-03-06"], format="ISO8601"))
        ),
        good=3,
    ),
    Case(
        "nan.parquet",
        parquet_file(frame(3, 380, valor_total=[1.0, float("nan"), float("inf")])),
        good=1,
        bad=2,
        columns=("valor_total",),
    ),
    Case(
        "far_future.csv",
        csv_file(rows(3, 390, day="2031-03-0{}")),
        bad=3,
        columns=("data_venda",),
        phrase="in the future",
    ),
    Case("ok_dropped_twice.csv", csv_file(rows(10)), good=10),  # same rows as ok.csv: duplicates, once in the run
]


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_each_bad_input_has_its_outcome_and_a_message_naming_file_row_and_column(case):
    limits = IngestionConfig().limits(today=TODAY)
    if case.problem:
        with pytest.raises(FileProblem) as failure:
            parse_sales_file(case.name, case.body, limits)
        assert str(failure.value).startswith(case.name) and case.problem in str(failure.value)
        assert "expected" in str(failure.value)
        return
    parsed = parse_sales_file(case.name, case.body, limits)
    assert (len(parsed.good), len(parsed.bad)) == (case.good, case.bad)
    assert parsed.rows == case.good + case.bad
    assert sorted(parsed.good["source_row"].tolist() + parsed.bad["row"].tolist()) == list(range(1, parsed.rows + 1))
    for _, bad in parsed.bad.iterrows():
        text = message(bad)
        assert text.startswith(f"{case.name} row {bad['row']}") and "expected" in text, text
        assert case.phrase in text, text
        if case.columns:
            assert bad["column"] in case.columns, text
            assert bad["column"] == "*" or bad["column"] in text, text
        if case.name.endswith(".csv"):
            assert f"(line {bad['line']})" in text


@pytest.fixture
def corpus_landed(local_defs):
    warehouse = resolved(local_defs, "warehouse")
    for case in CORPUS:
        warehouse.write_bytes("raw-data", f"corpus/{case.name}", case.body)
    return local_defs, warehouse


def run_week(defs: dg.Definitions, max_bad_fraction: float, prefix: str = "corpus/", **kwargs):
    config = {"landing_prefix": prefix, "max_bad_fraction": max_bad_fraction}
    return dg.materialize(
        [defs.get_assets_def("raw_sales")],
        resources=defs.resources,
        partition_key=WEEK,
        run_config={"ops": {"raw_sales": {"config": config}}},
        raise_on_error=False,
        **kwargs,
    )


def stored_week(defs: dg.Definitions) -> pd.DataFrame:
    io_manager = resolved(defs, "processed_data_io")
    entry = io_manager.read_manifest(dg.AssetKey("raw_sales")).current[WEEK]
    return io_manager.read_version(None, [io_manager.warehouse.uri("processed-data", entry["key"])]).toPandas()


def checks_of(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_the_whole_corpus_landed_at_once_loses_no_good_row(corpus_landed):
    """Every file of the corpus lands in one week; raw_sales keeps exactly the good rows (once each), puts each
    bad row with its reason in the week's quarantine file, and moves the unreadable files aside."""
    defs, warehouse = corpus_landed
    result = run_week(defs, max_bad_fraction=1.0)
    assert result.success

    stored = stored_week(defs)
    expected_good = sum(c.good for c in CORPUS if c.name != "ok_dropped_twice.csv")
    assert len(stored) == expected_good  # the second copy of ok.csv is all duplicates
    assert not stored.duplicated(subset=["produto", "categoria_valor", "quantidade", "valor_total", "data_venda"]).any()
    kept = stored.groupby(stored["source_file"].str.removeprefix("corpus/")).size().to_dict()
    for case in CORPUS:
        if case.good and case.name != "ok_dropped_twice.csv":
            assert kept.get(case.name) == case.good, case.name

    def quarantine_counts(key: str) -> dict[str, int]:
        body = warehouse.read_bytes("raw-data", key)
        if body is None:
            return {}
        rows = pd.read_csv(io.BytesIO(body))
        assert rows["reason"].notna().all() and rows["row"].gt(0).all()
        return rows.groupby(rows["file"].str.removeprefix("corpus/")).size().to_dict()

    in_week = quarantine_counts(f"quarantine/rows/week={WEEK}.csv")
    no_usable_row = {"far_future.csv", "rows_with_other_delimiter.csv"}
    moved_aside = {c.name for c in CORPUS if c.problem} | no_usable_row
    for case in CORPUS:
        if case.name in moved_aside or case.name == "ok_dropped_twice.csv":
            continue
        undated = quarantine_counts(f"quarantine/rows/unassigned/corpus/{case.name}.csv").get(case.name, 0)
        assert (kept.get(case.name, 0), in_week.get(case.name, 0) + undated) == (case.good, case.bad), case.name
    assert in_week["ok_dropped_twice.csv"] == 10  # each repeated row quarantined, named after its first copy
    repeats = pd.read_csv(io.BytesIO(warehouse.read_bytes("raw-data", f"quarantine/rows/week={WEEK}.csv")))
    assert set(repeats["reason"]) >= {f"the row repeats corpus/ok.csv row {i}" for i in range(1, 11)}

    moved = quarantined(warehouse)
    assert set(moved) == {f"corpus/{name}" for name in moved_aside}
    assert "empty file" in moved["corpus/empty.csv"]

    checks = checks_of(result)
    assert not checks["columns_and_types"].passed and not checks["values_in_range"].passed
    assert not checks["no_duplicate_rows"].passed and checks["no_duplicate_rows"].severity == dg.AssetCheckSeverity.WARN
    assert checks["partitions_not_empty"].passed and checks["bad_fraction_within_threshold"].passed


def test_too_many_bad_rows_fail_the_check_and_keep_the_stored_week(local_defs):
    warehouse = resolved(local_defs, "warehouse")
    warehouse.write_bytes("raw-data", "exports/good.csv", csv_file(rows(20)))
    first = run_week(local_defs, max_bad_fraction=0.05, prefix="exports/")
    assert first.success
    before = stored_week(local_defs)

    warehouse.write_bytes("raw-data", "exports/worse.csv", csv_file(["C900,casa,-1,5.0,2025-03-04"] * 5))
    second = run_week(local_defs, max_bad_fraction=0.05, prefix="exports/")
    assert not second.success
    checks = checks_of(second)
    gate = checks["bad_fraction_within_threshold"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    assert "20.0% of 25 rows are bad" in gate.description and "nothing was stored" in gate.description
    assert not checks["values_in_range"].passed and checks["values_in_range"].severity == dg.AssetCheckSeverity.ERROR
    assert "exports/worse.csv row 1 (line 2): quantidade '-1' is zero or negative" in str(
        checks["values_in_range"].metadata["examples"].value
    )
    assert not second.get_asset_materialization_events()
    pd.testing.assert_frame_equal(stored_week(local_defs), before)  # the week stored before is still current

    third = run_week(local_defs, max_bad_fraction=0.25, prefix="exports/")  # a looser threshold lets it through
    assert third.success and len(stored_week(local_defs)) == 20


def run_two_weeks(local_defs, **config):
    warehouse = resolved(local_defs, "warehouse")
    warehouse.write_bytes("raw-data", "exports/one_week.csv", csv_file(rows(7)))
    return dg.materialize(
        [local_defs.get_assets_def("raw_sales")],
        resources=local_defs.resources,
        tags={"dagster/asset_partition_range_start": WEEK, "dagster/asset_partition_range_end": "2025-03-10"},
        run_config={"ops": {"raw_sales": {"config": {"landing_prefix": "exports/", **config}}}},
        raise_on_error=False,
    )


def test_an_empty_week_is_named_and_warns_by_default(local_defs):
    result = run_two_weeks(local_defs)
    assert result.success  # the week with sales is stored; training may go on with the other unobserved
    check = checks_of(result)["partitions_not_empty"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["empty_weeks"].value == "2025-03-10"
    assert "1 week(s) without a good sales row: 2025-03-10" in check.description
    assert "land their files in raw-data and rerun those partitions" in check.description
    assert "never taken as zero sales" in check.description and "empty_weeks: fail" in check.description


def test_an_empty_week_blocks_downstream_when_configured_to_fail(local_defs):
    result = run_two_weeks(local_defs, empty_weeks="fail")
    assert not result.success
    check = checks_of(result)["partitions_not_empty"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "2025-03-10" in check.description and "Nothing downstream ran" in check.description


@pytest.mark.parametrize("prefix", ["../etc/", "/abs/", "a/../../b"])
def test_a_landing_prefix_outside_the_bucket_is_refused(local_defs, prefix):
    result = run_week(local_defs, max_bad_fraction=0.05, prefix=prefix)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "landing_prefix" in str(failure.step_failure_data.error) and "expected a relative folder" in str(
        failure.step_failure_data.error
    )


def test_a_later_upload_replaces_the_days_it_holds_and_only_those():
    """run-data's uploads (one folder per call, named by landing time): for each day, the rows of the latest
    upload holding it; an earlier upload's other days stay (an export cut mid-week, then the rest of it)."""
    from forecast_assets.intake import latest_upload_per_day

    limits = IngestionConfig().limits(today=date(2026, 11, 30))

    def upload(folder: str, rows: list[str]):
        return parse_sales_file(f"uploads/h/{folder}/sales.csv", csv_file(rows), limits)

    first = upload(
        "20260101T000000Z-aaa", ["P1,casa,1,10.0,2025-03-03", "P1,casa,1,10.0,2025-03-04", "P2,casa,1,5.0,2025-03-04"]
    )
    second = upload("20260102T000000Z-bbb", ["P1,casa,2,21.0,2025-03-04", "P1,casa,1,9.0,2025-03-05"])
    kept = latest_upload_per_day([second, first], "uploads/h/")[::-1]  # the folder names decide, not the order
    rows = pd.concat([p.good for p in kept])
    by_day = rows.groupby("data_venda")["valor_total"].sum().to_dict()
    assert by_day == {date(2025, 3, 3): 10.0, date(2025, 3, 4): 21.0, date(2025, 3, 5): 9.0}  # 03-04: the re-export
    assert kept[0].rows == 1 and "2 row(s) of days a later upload holds" in kept[0].notes[-1]
