"""FORECAST_HISTORY_START: the first weekly partition, validated where the rest of the settings are read."""

import subprocess
import sys
from datetime import date

import pytest

from forecast_assets import settings
from forecast_assets.landing.validation import Limits, parse_sales_file
from forecast_assets_tests.minio_server import REPO

TODAY = date(2026, 11, 30)


def test_default_is_the_demo_start(monkeypatch):
    monkeypatch.delenv(settings.HISTORY_START_VARIABLE, raising=False)
    assert settings.history_start(TODAY) == date(2023, 1, 2)


@pytest.mark.parametrize(
    ("value", "monday"),
    [("2017-01-02", date(2017, 1, 2)), ("2017-01-04", date(2017, 1, 2)), ("2017-01-08", date(2017, 1, 2))],
)
def test_partitions_start_on_the_monday_of_its_week(monkeypatch, value, monday):
    monkeypatch.setenv(settings.HISTORY_START_VARIABLE, value)
    assert settings.history_start(TODAY) == monday


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-13-01", "FORECAST_HISTORY_START='2017-13-01' is not a date; expected YYYY-MM-DD"),
        ("last year", "FORECAST_HISTORY_START='last year' is not a date"),
        ("2026-12-01", "FORECAST_HISTORY_START=2026-12-01 is in the future (today is 2026-11-30)"),
    ],
)
def test_a_malformed_or_future_start_is_refused_naming_the_variable(monkeypatch, value, expected):
    monkeypatch.setenv(settings.HISTORY_START_VARIABLE, value)
    with pytest.raises(ValueError) as error:
        settings.history_start(TODAY)
    assert expected in str(error.value)


def test_the_partitions_follow_the_variable():
    code = "from forecast_assets.partitions import weekly_partitions as w; print(w.get_first_partition_key())"
    env = {"FORECAST_HISTORY_START": "2017-01-04", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2017-01-02"


def test_older_rows_are_refused_with_a_message_that_names_the_variable():
    body = b"produto,categoria_valor,quantidade,valor_total,data_venda\nA,casa,1,10.0,2017-01-23\n"
    parsed = parse_sales_file("old.csv", body, Limits(first_day=date(2023, 1, 2), last_day=TODAY))
    (reason,) = parsed.bad["reason"]
    assert "'2017-01-23' is before the first weekly partition; expected 2023-01-02 or later" in reason
    assert "FORECAST_HISTORY_START" in reason
