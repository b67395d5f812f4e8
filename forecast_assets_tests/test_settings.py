"""Settings.from_env: every variable read once, validated with a message that names it; FORECAST_HISTORY_START
and the first weekly partition."""

from datetime import date

import dagster as dg
import pytest

from devtools.minio_server import REPO
from forecast_assets.definitions import build_defs
from forecast_assets.jobs import automated_run_config
from forecast_assets.landing.validation import Limits, parse_sales_file
from forecast_assets.resources.spark import spark_config
from forecast_assets.settings import HISTORY_START_VARIABLE, VARIABLES, Settings

TODAY = date(2026, 11, 30)


def test_default_is_the_demo_start():
    assert Settings.from_env({}, today=TODAY).first_week == date(2023, 1, 2)


@pytest.mark.parametrize(
    ("value", "monday"),
    [("2017-01-02", date(2017, 1, 2)), ("2017-01-04", date(2017, 1, 2)), ("2017-01-08", date(2017, 1, 2))],
)
def test_partitions_start_on_the_monday_of_its_week(value, monday):
    assert Settings.from_env({HISTORY_START_VARIABLE: value}, today=TODAY).first_week == monday


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            HISTORY_START_VARIABLE,
            "2017-13-01",
            "FORECAST_HISTORY_START='2017-13-01' is not a date; expected YYYY-MM-DD",
        ),
        (HISTORY_START_VARIABLE, "last year", "FORECAST_HISTORY_START='last year' is not a date"),
        (
            HISTORY_START_VARIABLE,
            "2026-12-01",
            "FORECAST_HISTORY_START=2026-12-01 is in the future (today is 2026-11-30)",
        ),
        ("FORECAST_STORAGE", "s3", "FORECAST_STORAGE='s3': expected local or minio"),
        ("SPARK_MASTER", "yarn", "SPARK_MASTER='yarn': expected local[*], local[N] or spark://host:port"),
        ("FORECAST_CV_FOLDS", "three", "FORECAST_CV_FOLDS='three' is not a whole number"),
        ("FORECAST_DRIFT_COOLDOWN_HOURS", "a day", "FORECAST_DRIFT_COOLDOWN_HOURS='a day' is not a number"),
        ("FORECAST_DRIFT_NEEDS_WORSE_ACCURACY", "maybe", "FORECAST_DRIFT_NEEDS_WORSE_ACCURACY='maybe': expected true"),
        ("FORECAST_PROFILE", "huge", "FORECAST_PROFILE='huge': expected full or small"),
        ("FORECAST_AUTOMATION", "on", "FORECAST_AUTOMATION='on': expected running or stopped"),
        ("FORECAST_CONSOLE", "quiet", "FORECAST_CONSOLE='quiet': expected full or steps"),
        ("FORECAST_NOTIFY", "pager", "FORECAST_NOTIFY='pager': expected log, smtp or webhook"),
        (
            "FORECAST_CANDIDATES",
            "random_forest,lightgbm",
            "FORECAST_CANDIDATES='random_forest,lightgbm': expected one or more of random_forest, linear_regression, "
            "gradient_boosting, xgboost, each once",
        ),
        ("FORECAST_CANDIDATES", "xgboost, xgboost", "FORECAST_CANDIDATES='xgboost,xgboost': expected one or more"),
        ("FORECAST_CANDIDATES", ",", "FORECAST_CANDIDATES='': expected one or more"),
        ("FORECAST_TRAINING_ORIGINS", "hourly", "FORECAST_TRAINING_ORIGINS='hourly': expected auto, weekly or daily"),
        ("FORECAST_HOLIDAYS_COUNTRY", "Brasil", "FORECAST_HOLIDAYS_COUNTRY='BRASIL': not a country the holidays"),
        ("FORECAST_STATISTICAL", "prophet", "FORECAST_STATISTICAL='prophet': expected none, or some of ets, auto_ets"),
        ("FORECAST_STATISTICAL", "ets,ets", "FORECAST_STATISTICAL='ets,ets': expected none, or some of"),
        ("FORECAST_HOLIDAYS_COUNTRY", "br-xx", "FORECAST_HOLIDAYS_COUNTRY='BR-XX': BR has no subdivision 'XX'"),
    ],
)
def test_a_malformed_value_is_refused_naming_the_variable(variable, value, expected):
    with pytest.raises(ValueError) as error:
        Settings.from_env({variable: value}, today=TODAY)
    assert expected in str(error.value)


def test_minio_storage_needs_an_endpoint_of_the_right_form():
    for endpoint in ("", "127.0.0.1:9000", "http://minio:9000/bucket"):
        with pytest.raises(ValueError, match="FORECAST_S3_ENDPOINT=.*expected http"):
            Settings.from_env({"FORECAST_STORAGE": "minio", "FORECAST_S3_ENDPOINT": endpoint}, today=TODAY)
    settings = Settings.from_env({"FORECAST_STORAGE": "MinIO", "FORECAST_S3_ENDPOINT": "https://s3.local:9000"})
    assert spark_config(settings)["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"


def test_every_variable_reaches_its_field_and_empty_means_the_default():
    environ = {
        "FORECAST_AUTOMATION": "running",
        "FORECAST_OWNERS": " team:a , b@example.com ,",
        "FORECAST_DRIFT_NEEDS_WORSE_ACCURACY": "yes",
        "FORECAST_CONSOLE": "full",
        "FORECAST_RETRY_DELAY_SECONDS": "0.5",
        "SPARK_SHUFFLE_PARTITIONS": "8",
        "FORECAST_MIN_IMPROVEMENT": "0.05",
        "MLFLOW_TRACKING_URI": "http://user:secret@mlflow:5000",
        "SPARK_MASTER": "",  # empty: the default
    }
    settings = Settings.from_env(environ, today=TODAY)
    assert settings.automation_running and settings.drift_needs_worse_accuracy and settings.console_full
    assert settings.owners == ("team:a", "b@example.com")
    assert (settings.retry_delay_seconds, settings.spark_shuffle_partitions, settings.min_improvement) == (0.5, 8, 0.05)
    assert settings.spark_master == "local[*]" and settings.mlflow
    assert "secret" not in repr(settings)  # the URI stays in the environment, read by dg.EnvVar
    assert Settings.from_env({}, today=TODAY) == Settings()


def test_the_candidates_tuned_are_chosen_and_the_graph_follows():
    settings = Settings.from_env({"FORECAST_CANDIDATES": " gradient_boosting, linear_regression "}, today=TODAY)
    assert settings.candidates == ("gradient_boosting", "linear_regression")
    graph = build_defs(settings).resolve_asset_graph()
    trained = {k.to_user_string() for k in graph.get_all_asset_keys() if k.to_user_string().endswith("_model")}
    assert trained == {"gradient_boosting_model", "linear_regression_model", "production_model"}
    for compared in ("model_comparison", "production_model", "shadow_forecast"):
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(compared)).parent_keys}
        assert {"gradient_boosting_model", "linear_regression_model"} <= parents
        assert not parents & {"random_forest_model", "xgboost_model"}
    assert set(automated_run_config(settings)["ops"]) == {"gradient_boosting_model", "linear_regression_model"}
    assert Settings().candidates == ("random_forest", "linear_regression", "xgboost")


def test_training_origins_reach_the_features_config_of_automated_runs():
    assert "features" not in automated_run_config(Settings())["ops"]  # auto: the asset's default
    settings = Settings.from_env({"FORECAST_TRAINING_ORIGINS": "Weekly"}, today=TODAY)
    assert automated_run_config(settings)["ops"]["features"] == {"config": {"training_origins": "weekly"}}


def test_the_statistical_candidates_of_automated_runs():
    assert "model_comparison" not in automated_run_config(Settings())["ops"]  # the asset's default: ets
    settings = Settings.from_env({"FORECAST_STATISTICAL": "None", "FORECAST_MIN_IMPROVEMENT": "0.01"}, today=TODAY)
    expected = {"config": {"min_improvement": 0.01, "statistical": []}}
    assert automated_run_config(settings)["ops"]["model_comparison"] == expected
    settings = Settings.from_env({"FORECAST_STATISTICAL": "ets, AUTO_THETA"}, today=TODAY)
    assert automated_run_config(settings)["ops"]["model_comparison"]["config"]["statistical"] == ["ets", "auto_theta"]


def test_the_holidays_country_reaches_the_features_config_of_automated_runs():
    settings = Settings.from_env({"FORECAST_HOLIDAYS_COUNTRY": "br-sp"}, today=TODAY)
    assert automated_run_config(settings)["ops"]["features"] == {"config": {"holidays_country": "BR-SP"}}


def test_older_rows_are_refused_with_a_message_that_names_the_variable():
    body = b"produto,categoria_valor,quantidade,valor_total,data_venda\nA,casa,1,10.0,2017-01-23\n"
    parsed = parse_sales_file("old.csv", body, Limits(first_day=date(2023, 1, 2), last_day=TODAY))
    (reason,) = parsed.bad["reason"]
    assert "'2017-01-23' is before the first weekly partition; expected 2023-01-02 or later" in reason
    assert "FORECAST_HISTORY_START" in reason


def test_env_example_lists_every_variable():
    listed = (REPO / ".env.example").read_text()
    assert [variable for variable in VARIABLES.values() if f"{variable}=" not in listed] == []


def test_only_the_named_variables_are_read_and_settings_built_in_code_read_none(monkeypatch):
    # A shell's COLUMNS (or TIMEZONE) is not FORECAST_COLUMNS: fields are read by their variables' names only.
    settings = Settings.from_env({"COLUMNS": "80", "TIMEZONE": "Europe/Lisbon", "profile": "small"}, today=TODAY)
    assert (settings.columns, settings.timezone, settings.profile) == ("", "UTC", "full")
    monkeypatch.setenv("FORECAST_PROFILE", "small")
    assert Settings().profile == "full" and Settings.from_env().profile == "small"


def test_a_replaced_setting_is_validated_again():
    assert Settings().replace(candidates=("xgboost",)).candidates == ("xgboost",)
    with pytest.raises(ValueError, match="FORECAST_CANDIDATES='lightgbm': expected one or more"):
        Settings().replace(candidates=("lightgbm",))
