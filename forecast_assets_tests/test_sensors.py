"""automation/sensors.py: the new-sales-files sensor on real storage (a local folder and the real MinIO) and
the drift sensor on a real Dagster instance."""

import io
import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.landing.demo import demo_week
from forecast_assets.resources.storage import Warehouse
from forecast_assets_tests.conftest import quarantined, resolved, sensor, settings_for_tests, tick_new_sales_files


# -- new sales files sensor --------------------------------------------------------------------------
@pytest.fixture(params=["local", pytest.param("minio", marks=pytest.mark.minio)])
def landing(request, tmp_path, spark):
    if request.param == "local":
        return Warehouse(root_uri=f"file://{tmp_path}/warehouse")
    return resolved(build_defs(request.getfixturevalue("minio_settings")), "warehouse")


def csv_of(week: str, scale: float = 1.0) -> bytes:
    frame = demo_week(pd.Timestamp(week).date())
    frame["valor_total"] = (frame["valor_total"] * scale).round(2)
    return frame.to_csv(index=False).encode()


def test_new_sales_file_sensor_requests_once_per_file_version(landing):
    landing.write_bytes("raw-data", "uploads/week.csv", csv_of("2025-03-03"))
    first = tick_new_sales_files(landing, None)
    (request,) = first.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2025-03-03"
    assert request.tags["dagster/asset_partition_range_end"] == "2025-03-03"
    assert request.tags["forecast/file"] == "uploads/week.csv"

    again = tick_new_sales_files(landing, first.cursor)
    assert not again.run_requests and "no new or changed" in again.skip_reason.skip_message

    landing.write_bytes("raw-data", "uploads/week.csv", csv_of("2025-03-03", scale=1.1))
    changed = tick_new_sales_files(landing, again.cursor)
    (request,) = changed.run_requests
    assert request.run_key != first.run_requests[0].run_key


def test_new_sales_file_sensor_covers_every_week_of_a_multi_week_file(landing):
    body = pd.concat([pd.read_csv(io.BytesIO(csv_of(w))) for w in ("2025-03-03", "2025-03-10", "2025-03-17")])
    landing.write_bytes("raw-data", "multi.csv", body.to_csv(index=False).encode())
    (request,) = tick_new_sales_files(landing, None).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2025-03-03"
    assert request.tags["dagster/asset_partition_range_end"] == "2025-03-17"


def test_unreadable_file_is_reported_and_quarantined(landing):
    landing.write_bytes("raw-data", "broken.parquet", b"this is not parquet")
    landing.write_bytes("raw-data", "no_dates.csv", b"produto,categoria_valor,quantidade,valor_total\nP1,casa,1,2.0\n")
    result = tick_new_sales_files(landing, None)
    assert not result.run_requests
    message = result.skip_reason.skip_message
    assert "broken.parquet" in message and "not a readable Parquet file" in message
    assert "no_dates.csv" in message and "no column for data_venda" in message
    moved = quarantined(landing)
    assert set(moved) == {"broken.parquet", "no_dates.csv"}
    assert "broken.parquet" not in {o.key for o in landing.list_objects("raw-data")}
    assert "not a readable Parquet file" in moved["broken.parquet"]
    assert not tick_new_sales_files(landing, result.cursor).run_requests  # a quarantined file is never read as sales


def test_file_for_a_week_far_in_the_future_is_reported_and_quarantined(landing):
    landing.write_bytes("raw-data", "future.csv", csv_of("2031-03-03"))
    result = tick_new_sales_files(landing, None)
    message = result.skip_reason.skip_message
    assert not result.run_requests and "future.csv row 1 (line 2)" in message and "is in the future" in message
    assert "is in the future" in quarantined(landing)["future.csv"]


def test_file_for_the_current_week_waits_until_the_week_is_complete(landing):
    today = datetime.now(UTC).date()
    landing.write_bytes("raw-data", "this_week.csv", csv_of(str(today - timedelta(days=today.weekday()))))
    result = tick_new_sales_files(landing, None)
    assert not result.run_requests and "fall in no complete week yet" in result.skip_reason.skip_message
    assert "this_week.csv" in {o.key for o in landing.list_objects("raw-data")}  # kept for later


def test_keys_storage_cannot_address_never_stop_a_tick(landing, tmp_path):
    """A backslash key and a 230-character name, on both backends: the first is skipped and reported, the
    second (broken) quarantined under a safe name, the good file requested, the cursor saved."""
    odd, long_name = "exports\\may.csv", "exports/" + "vendas_" + "x" * 220 + ".csv"
    if landing.is_s3:
        landing.ensure_bucket("raw-data")
        landing.fs.pipe_file(f"raw-data/{odd}", csv_of("2025-03-03"))  # past safe_key, as another client can
    else:
        (tmp_path / "warehouse" / "raw-data" / "exports").mkdir(parents=True)
        (tmp_path / "warehouse" / "raw-data" / odd).write_bytes(csv_of("2025-03-03"))
    landing.write_bytes("raw-data", long_name, b"\xd0\xcf\x11\xe0" + bytes(100))
    landing.write_bytes("raw-data", "exports/good.csv", csv_of("2025-03-10"))
    result = tick_new_sales_files(landing, None)
    assert [r.tags["forecast/file"] for r in result.run_requests] == ["exports/good.csv"]
    assert "damaged Excel 97-2003 (.xls) workbook" in quarantined(landing)[long_name]
    quarantine = [o.key for o in landing.list_objects("raw-data", "quarantine/files/")]
    assert all(len(part.encode()) <= 200 for key in quarantine for part in key.split("/"))  # filesystems: 255
    assert odd in json.loads(result.cursor)
    again = tick_new_sales_files(landing, result.cursor)
    assert not again.run_requests


# -- drift sensor ------------------------------------------------------------------------------------
def report_drift(instance: dg.DagsterInstance, drifted: bool) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "drift_score",
            metadata={"drifted": drifted, "drift_score": 0.8 if drifted else 0.1, "drifted_columns": "lag_1, ma_7"},
        )
    )


def tick(instance: dg.DagsterInstance, cursor: str | None, **settings) -> dg.SensorResult:
    drift_retraining = sensor("drift_retraining", settings_for_tests(**settings))
    return drift_retraining(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_drift_sensor_retrains_with_tags_that_say_why_then_cools_down():
    with dg.instance_for_test() as instance:
        report_drift(instance, drifted=False)
        quiet = tick(instance, None)
        assert not quiet.run_requests
        report_drift(instance, drifted=True)
        first = tick(instance, quiet.cursor)
        (request,) = first.run_requests
        assert request.tags["forecast/trigger"] == "drift"
        assert request.tags["forecast/drift_score"] == "0.800"
        assert request.tags["forecast/drifted_columns"] == "lag_1, ma_7"
        report_drift(instance, drifted=True)
        cooled = tick(instance, first.cursor, drift_cooldown_hours=24)
        assert not cooled.run_requests  # within the cooldown
        report_drift(instance, drifted=True)
        (again,) = tick(instance, cooled.cursor, drift_cooldown_hours=0).run_requests  # no cooldown: retrains
        assert again.tags["forecast/trigger"] == "drift"


def test_drift_sensor_can_wait_for_worse_realized_accuracy():
    def tick_worse(instance, cursor):
        return tick(instance, cursor, drift_needs_worse_accuracy=True)

    with dg.instance_for_test() as instance:
        report_drift(instance, drifted=True)
        first = tick_worse(instance, None)
        assert not first.run_requests  # drift, but no week has been scored against actual sales yet
        accuracy = {"forecast_weeks_scored": 2, "weeks_worse_than_best_baseline": 0, "weeks_worse_than_shadow": 0}
        instance.report_runless_asset_event(dg.AssetMaterialization("forecast_accuracy", metadata=accuracy))
        report_drift(instance, drifted=True)
        second = tick_worse(instance, first.cursor)
        assert not second.run_requests  # the champion still beats the baselines and the shadow
        accuracy["weeks_worse_than_shadow"] = 1
        instance.report_runless_asset_event(dg.AssetMaterialization("forecast_accuracy", metadata=accuracy))
        report_drift(instance, drifted=True)
        (request,) = tick_worse(instance, second.cursor).run_requests
        assert request.tags["forecast/trigger"] == "drift"


def test_drift_sensor_debounces_and_keeps_its_state_across_restarts():
    settings = {"drift_retrain_after": 2, "drift_cooldown_hours": 0}
    with dg.instance_for_test() as instance:
        cursor = None
        for drifted in (True, False, True):  # never two in a row
            report_drift(instance, drifted)
            result = tick(instance, cursor, **settings)
            assert not result.run_requests
            cursor = result.cursor
        # A restarted daemon starts from the stored cursor: the streak of one drifted score survives.
        report_drift(instance, drifted=True)
        (request,) = tick(instance, cursor, **settings).run_requests
        assert request.tags["forecast/trigger"] == "drift"
