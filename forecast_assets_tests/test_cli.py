"""`make run DATA=...` (python -m forecast_assets.cli run-data): your own sales files in one command."""

import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from devtools.minio_server import REPO
from forecast_assets.cli import DataError, plan_landing
from forecast_assets.settings import CANDIDATE_NAMES
from forecast_assets_tests.conftest import count_whole_graph_run, resolved

HEADER = "produto,categoria_valor,quantidade,valor_total,data_venda\n"
START = date(2017, 1, 2)  # older than the default history start (2023-01-02)
WEEKS = 26
GAP_WEEK = date(2017, 4, 10)  # nothing sold that week: a feed outage
LAST_DAY = START + timedelta(days=7 * WEEKS + 2)  # a Wednesday: the last week is not complete


def marketplace_like(days: int | None = None, start: date = START) -> pd.DataFrame:
    """Intermittent sales of 15 products (most sell on few days), a week without any sale, a product retired
    early, and one first sold after the last complete week (`days` from `start`: the same products later on)."""
    rng = np.random.default_rng(11 + (days or 0))
    first_history = days is None
    days = pd.date_range(start, LAST_DAY if days is None else start + timedelta(days=days - 1), freq="D").date
    frames = []
    for p in range(15):
        rate = [4.0, 1.5, 0.6, 0.3, 0.2][p % 5]
        orders = rng.poisson(rate, len(days))
        if p == 14:
            orders[len(days) - 60 :] = 0  # retired: nothing in the last 60 days, so not active
        frames.append(
            pd.DataFrame(
                {
                    "produto": f"M{p:02d}",
                    "categoria_valor": f"cat{p % 3}",
                    "quantidade": orders,
                    "valor_total": np.round(orders * 25.0 * (1 + p / 10), 2),
                    "data_venda": days,
                }
            )[orders > 0]
        )
    newbie = {"produto": "NEWBIE", "categoria_valor": "cat0", "quantidade": [1, 2], "valor_total": [30.0, 60.0]}
    if first_history:  # first sold in the last, incomplete week
        frames.append(pd.DataFrame({**newbie, "data_venda": [LAST_DAY - timedelta(days=1), LAST_DAY]}))
    sales = pd.concat(frames, ignore_index=True)
    gap = (sales["data_venda"] >= GAP_WEEK) & (sales["data_venda"] < GAP_WEEK + timedelta(days=7))
    return sales[~gap]


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.write_text(frame.to_csv(index=False))
    return path


def write_erp(path: Path, frame: pd.DataFrame) -> Path:
    """The sales as a Brazilian ERP exports them: `;`, decimal comma, thousands dot, day-first dates, its own
    Portuguese headers."""

    def br(value: float) -> str:
        return f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")

    erp = pd.DataFrame(
        {
            "Produto": frame["produto"],
            "Categoria": frame["categoria_valor"],
            "Qtde": frame["quantidade"].astype(int),
            "Valor Total (R$)": frame["valor_total"].map(br),
            "Data da Venda": pd.to_datetime(frame["data_venda"]).dt.strftime("%d/%m/%Y"),
        }
    )
    path.write_text(erp.to_csv(sep=";", index=False))
    return path


def test_plan_finds_the_weeks_and_the_history_start_the_data_needs(tmp_path, monkeypatch):
    monkeypatch.delenv("FORECAST_HISTORY_START", raising=False)
    folder = tmp_path / "exports"
    folder.mkdir()
    sales = marketplace_like()
    write_csv(folder / "first half.csv", sales[sales["data_venda"] < date(2017, 3, 1)])
    sales[sales["data_venda"] >= date(2017, 3, 1)].to_parquet(folder / "second.parquet", index=False)
    plan = plan_landing([str(folder)], today=date(2026, 11, 30))
    assert plan.first_day == START and plan.last_day == LAST_DAY
    assert plan.history_start == START  # older than the configured start: set for this run
    assert plan.partition_keys == ("2017-01-02", str(LAST_DAY - timedelta(days=2)))  # the Monday of the last week
    assert sorted(plan.files) == ["first_half.csv", "second.parquet"]
    again = plan_landing([str(folder)], date(2026, 11, 30)).prefix
    assert again != plan.prefix and again.split("-")[1] == plan.prefix.split("-")[1]  # landed at, content hash


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: [str(tmp / "missing.csv")], "missing.csv: no such file or folder"),
        (lambda tmp: [str(tmp)], "no sales file (.csv, .csv.gz, .txt, .parquet) in this folder"),
        (lambda tmp: [], "DATA is empty"),
        (
            lambda tmp: [str(write_csv(tmp / "orders.csv", pd.DataFrame({"order_id": [1], "price": [2.0]})))],
            "orders.csv: line 1 (the header): no column for produto",
        ),
        (
            lambda tmp: [str(tmp / "notes.md")] if (tmp / "notes.md").write_text("x") else [],
            "notes.md: line 1 (the header): no column for produto",  # a file named is read whatever its suffix
        ),
        (
            lambda tmp: [str(tmp / "book.xlsx")] if (tmp / "book.xlsx").write_bytes(b"PK\x03\x04junk") else [],
            "book.xlsx: a damaged zip container",
        ),
    ],
)
def test_bad_data_gets_a_one_line_error(tmp_path, make, expected):
    with pytest.raises(DataError) as error:
        plan_landing(make(tmp_path), today=date(2026, 11, 30))
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_history_start_after_the_data_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECAST_HISTORY_START", "2018-01-01")
    path = write_csv(tmp_path / "sales.csv", marketplace_like())
    with pytest.raises(DataError) as error:
        plan_landing([str(path)], today=date(2026, 11, 30))
    assert f"FORECAST_HISTORY_START=2018-01-01 is after your data's last sale ({LAST_DAY})" in str(error.value)


def cli_env(tmp_path: Path, **extra) -> dict:
    env = {
        **os.environ,
        "FORECAST_STORAGE": "local",
        "FORECAST_WAREHOUSE": str(tmp_path / "warehouse"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        **extra,
    }
    env.pop("FORECAST_HISTORY_START", None)
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def run_data(tmp_path: Path, *paths: str, **extra) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "forecast_assets.cli", "run-data", *paths]
    env = cli_env(tmp_path, **extra)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def test_bad_data_exits_non_zero_and_lands_nothing(tmp_path):
    done = run_data(tmp_path, str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'nowhere'}: no such file or folder"
    assert not (tmp_path / "warehouse").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("garbage", "error: FORECAST_HISTORY_START='garbage' is not a date; expected YYYY-MM-DD"),
        ("2099-01-01", "error: FORECAST_HISTORY_START=2099-01-01 is in the future"),
    ],
)
def test_a_bad_history_start_is_one_line_and_lands_nothing(tmp_path, value, expected):
    path = write_csv(tmp_path / "export.csv", marketplace_like())
    command = [sys.executable, "-m", "forecast_assets.cli", "run-data", str(path)]
    env = {**cli_env(tmp_path), "FORECAST_HISTORY_START": value}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith(expected)
    assert not (tmp_path / "warehouse").exists()


QUICK = {
    "FORECAST_PROFILE": "small",
    "FORECAST_CV_FOLDS": "2",
    "FORECAST_HOLDOUT_WEEKS": "2",
    "SPARK_DRIVER_MEMORY": "2g",
    "FORECAST_STATISTICAL": "none",  # tested in test_pipeline; ~40 s a run here
    "FORECAST_CANDIDATES": "linear_regression",  # the command is tested here, the candidates in test_pipeline
}


def test_run_data_trains_on_exactly_those_weeks_and_forecasts_every_active_product(spark, tmp_path):
    """A Brazilian ERP export in one command; then the next days' export added to the same warehouse."""
    sales = marketplace_like()
    path = write_erp(tmp_path / "vendas.csv", sales)
    count_whole_graph_run()
    done = run_data(tmp_path, str(path), **QUICK)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "columns found by name: produto <- 'Produto'" in out and "valor_total <- 'Valor Total (R$)'" in out
    assert "this run uses FORECAST_HISTORY_START=2017-01-02" in out
    last_week = str(LAST_DAY - timedelta(days=2))
    assert f"running ml_pipeline over the weeks 2017-01-02 .. {last_week}" in out
    # That run is `dagster job execute -m forecast_assets -j ml_pipeline` (the command `make run` and the README
    # give), in its own process: Spark's console there has the project's levels (resources/log4j2.properties).
    spark_warnings = [line for line in done.stderr.splitlines() if re.match(r"\d\d/\d\d/\d\d \S+ WARN ", line)]
    assert not [line for line in spark_warnings if re.search(r"NativeCodeLoader|DAGScheduler|SparkStringUtils", line)]
    assert "Using Spark's default log4j profile" not in done.stderr
    warehouse = tmp_path / "warehouse"
    assert not (warehouse / "raw-data" / "demo").exists()  # no demo data when the user gave data

    # Every product that sold in the last 8 weeks has 7 days of forecast; the newcomer from its own sales.
    manifest = json.loads((warehouse / "ml-data" / "sales_forecast" / "_manifest.json").read_text())
    forecast = pd.read_parquet(warehouse / "ml-data" / manifest["current"]["__all__"]["key"])
    active = set(sales.loc[sales["data_venda"] > LAST_DAY - timedelta(days=56), "produto"])
    assert set(forecast["produto"]) == active and "M14" not in active
    assert (forecast.groupby("produto").size() == 7).all()
    origin = LAST_DAY - timedelta(days=3)  # the Sunday ending the last complete week
    assert set(forecast["forecast_date"]) == {origin + timedelta(days=h) for h in range(1, 8)}
    newbie = forecast[forecast["produto"] == "NEWBIE"]
    assert (newbie["method"] == "new_product_mean").all() and newbie["forecast_valor_total"].tolist() == [45.0] * 7
    assert set(forecast.loc[forecast["produto"] != "NEWBIE", "method"]) <= {
        "model",
        *CANDIDATE_NAMES,
        "combination",
    } | {
        f"baseline_{c}"
        for c in ("lag_1", "seasonal_naive", "ma_7", "ma_28", "same_weekday_4w", "same_weekday_8w", "zero")
    }
    for product in active:  # the summary prints each active product's week
        assert f"\n{product} " in out

    # The empty week is named, training went on, and nothing in it was scored as zero sales.
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        key = dg.AssetCheckKey(dg.AssetKey("raw_sales"), "partitions_not_empty")
        execution = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        evaluation = execution.event.dagster_event.event_specific_data
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "1 week(s) without a good sales row: 2017-04-10" in evaluation.description
    assert "land their files in raw-data and rerun" in evaluation.description
    manifest = json.loads((warehouse / "ml-data" / "feature_dataset" / "_manifest.json").read_text())
    rows = pd.read_parquet(
        warehouse / "ml-data" / manifest["current"]["__all__"]["key"], columns=["origin_date", "forecast_date"]
    )
    in_gap = rows["forecast_date"].between(GAP_WEEK, GAP_WEEK + timedelta(days=6))
    assert len(rows) and not in_gap.any()
    first_target = rows["forecast_date"].min()

    # The next days' export (the rest of the last week and a whole new week) is added, not refused: the stored
    # weeks stay, the week both files hold is rebuilt from both, training reads every week. This run forecasts
    # units (FORECAST_TARGET=quantidade): the revenue champion is neither scored on units nor kept serving.
    later = marketplace_like(days=11, start=LAST_DAY + timedelta(days=1))
    count_whole_graph_run()
    added = run_data(
        tmp_path, str(write_erp(tmp_path / "vendas_semana.csv", later)), **QUICK, FORECAST_TARGET="quantidade"
    )
    out = added.stdout
    assert added.returncode == 0, out[-3000:] + added.stderr[-3000:]
    last_monday = LAST_DAY - timedelta(days=2)
    # 27 weeks less the one without sales (stored empty)
    assert f"adding your weeks to the {WEEKS} stored (2017-01-02 .. {last_monday})" in out
    assert f"1 stored week(s) get a new version ({last_monday} .. {last_monday})" in out
    raw = json.loads((warehouse / "processed-data" / "raw_sales" / "_manifest.json").read_text())["current"]
    assert len([k for k, e in raw.items() if e["key"]]) == WEEKS + 1
    week = pd.read_parquet(warehouse / "processed-data" / raw[str(last_monday)]["key"])
    both = pd.concat([sales, later])
    expected = both[both["data_venda"].between(last_monday, last_monday + timedelta(days=6))]
    assert len(week) == len(expected) and week["valor_total"].sum() == pytest.approx(expected["valor_total"].sum())
    manifest = json.loads((warehouse / "ml-data" / "feature_dataset" / "_manifest.json").read_text())
    rows = pd.read_parquet(warehouse / "ml-data" / manifest["current"]["__all__"]["key"])
    assert rows["forecast_date"].min() == first_target and rows["forecast_date"].max() == date(2017, 7, 16)
    units = both.groupby(["produto", "data_venda"])["quantidade"].sum()
    sample = rows[rows["target"] > 0].head(50)
    assert [units[(p, d)] for p, d in zip(sample["produto"], sample["forecast_date"], strict=True)] == list(
        sample["target"]
    )  # the series is units sold, not revenue

    report = json.loads((warehouse / "ml-experiments" / "model_comparison" / "_manifest.json").read_text())
    report = json.loads((warehouse / "ml-experiments" / report["current"]["__all__"]["key"]).read_text())
    assert report["champion"] is None
    assert "forecasts valor_total, this run quantidade: not comparable" in report["gate"]["champion_error"]
    manifest = json.loads((warehouse / "ml-data" / "sales_forecast" / "_manifest.json").read_text())
    forecast = pd.read_parquet(warehouse / "ml-data" / manifest["current"]["__all__"]["key"])
    assert "forecast_quantidade" in forecast.columns and "forecast_valor_total" not in forecast.columns
    assert "forecast of quantidade:" in out
    recent = both[both["data_venda"] > date(2017, 7, 16) - timedelta(days=28)]
    per_day = recent.groupby("produto")["quantidade"].sum() / 28
    mean = forecast[forecast["method"] != "new_product_mean"].groupby("produto")["forecast_quantidade"].mean()
    assert (mean / per_day[mean.index]).median() == pytest.approx(1.0, abs=0.5)  # units, not revenue (25-60x)


def test_every_command_has_help_and_a_wrong_command_is_refused(capsys):
    from forecast_assets.cli import parser

    commands = ["run-data", "summary", "demo-range-tags", "create-buckets", "restore-manifest"]
    for command in [None, *commands]:
        with pytest.raises(SystemExit) as stop:
            parser().parse_args([command, "--help"] if command else ["--help"])
        assert stop.value.code == 0
    for arguments, expected in [(["bogus"], "invalid choice: 'bogus'"), (["run-data"], "arguments are required: PATH")]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            parser().parse_args(arguments)
        assert stop.value.code == 2 and expected in capsys.readouterr().err
    # The module as `make run` calls it: one process.
    out = subprocess.run(
        [sys.executable, "-m", "forecast_assets.cli", "run-data", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0 and "produto, categoria_valor, quantidade" in out.stdout.replace("\n", " ")


def test_the_summary_says_n_a_for_a_metric_a_run_did_not_record():
    from forecast_assets.cli import _num, _sort_key

    assert [_num(None), _num(float("nan")), _num("x"), _num(True), _num(1.23456), _num(2, 1, "x")] == [
        "n/a",
        "n/a",
        "n/a",
        "n/a",
        "1.235",
        "2.0x",
    ]
    entries = [{"origin_mean": {"rmse": 2.0}}, {"origin_mean": {}}, {"origin_mean": {"rmse": 1.0}}, {}]
    assert [e.get("origin_mean", {}).get("rmse") for e in sorted(entries, key=lambda e: _sort_key(e, "rmse"))] == [
        1.0,
        2.0,
        None,
        None,
    ]


def test_a_warehouse_holding_only_the_demos_weeks_starts_a_new_history(tmp_path, monkeypatch):
    """run-data on a warehouse `make run` filled with the demo: the demo's weeks are retired (kept, no longer
    read by training), and once the user's files have landed the demo files are not read either."""
    from forecast_assets import cli
    from forecast_assets.definitions import build_defs
    from forecast_assets.landing.area import list_landing
    from forecast_assets_tests.conftest import settings_for_tests

    week, folder = "2025-03-03", tmp_path / "warehouse"
    defs = build_defs(settings_for_tests(warehouse=str(folder)))
    warehouse = resolved(defs, "warehouse")
    warehouse.write_bytes("raw-data", f"demo/sales_{week}.parquet", b"PAR1")  # what raw_sales's demo writes
    stored = {week: {"key": f"raw_sales/v0001/dagster_partition={week}"}}
    resolved(defs, "processed_data_io").point_to(dg.AssetKey("raw_sales"), stored, 1, "demo-run")
    monkeypatch.setenv("FORECAST_STORAGE", "local")
    monkeypatch.setenv("FORECAST_WAREHOUSE", str(folder))
    history = cli.choose_history(("2017-01-02", "2017-06-26"), fresh=False)
    assert history.weeks == [] and history.retire and history.folder.startswith("uploads/")
    assert "the warehouse held only the demo's weeks: a new history starts" in history.said[0]
    manifest = folder / "processed-data" / "raw_sales" / "_manifest.json"
    assert list(json.loads(manifest.read_text())["current"]) == [week]  # choosing changes nothing

    export = (Path(__file__).parent / "exports" / "erp_vendas.csv").read_bytes()
    warehouse.write_bytes("raw-data", f"{history.folder}landed/vendas.csv", export)
    assert cli.start_new_history(history.retire) == 1
    kept = json.loads(manifest.read_text())
    assert kept["current"] == {} and kept["retired"][0]["current"][week]["key"] == stored[week]["key"]
    assert not [o.key for o in list_landing(warehouse).sales if o.key.startswith("demo/")]
    again = cli.choose_history(("2025-03-03", "2025-03-03"), fresh=False)  # the next file joins this history
    assert (again.folder, again.retire, again.weeks) == (history.folder, None, [])
    fresh = cli.choose_history(("2025-03-03", "2025-03-03"), fresh=True)
    assert fresh.weeks == [] and fresh.retire is None  # nothing stored to retire any more
