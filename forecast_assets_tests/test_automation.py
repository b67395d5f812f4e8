"""Schedule, sensors and notifications, evaluated on real storage (a local folder and the real MinIO),
a real Dagster instance, a real SMTP server and a real HTTP server."""

import io
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pandas as pd
import pytest
from aiosmtpd.controller import Controller

from forecast_assets.assets.demo_sales import demo_week
from forecast_assets.assets.training import CANDIDATES
from forecast_assets.definitions import build_defs
from forecast_assets.resources.notifications import Notifier
from forecast_assets.resources.storage import Warehouse
from forecast_assets_tests.conftest import quarantined, resolved, sensor, settings_for_tests, tick_new_sales_files
from forecast_assets_tests.minio_server import free_port


# -- schedule --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tick", "week"),
    [
        (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), "2026-11-23"),  # Monday 06:00: the week that just ended
        (datetime(2026, 12, 3, 6, 0, tzinfo=UTC), "2026-11-23"),  # any later tick that week: the same week
        (datetime(2025, 1, 6, 6, 0, tzinfo=UTC), "2024-12-30"),
    ],
)
def test_weekly_schedule_targets_the_latest_complete_week(tick, week):
    weekly_retraining = build_defs(settings_for_tests()).resolve_schedule_def("weekly_retraining")
    request = weekly_retraining(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == week and request.run_key == f"weekly-{week}"
    assert request.tags["forecast/trigger"] == "schedule"
    assert request.run_config["ops"] == {c.asset_name: {"config": {"profile": "full"}} for c in CANDIDATES}


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
    assert "no_dates.csv" in message and "lacks column(s) data_venda" in message
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


# -- notifications -----------------------------------------------------------------------------------
class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def webhook_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


@dg.op
def train():
    pass


@dg.op
def write_model():
    raise RuntimeError("cannot write s3://ml-models/production_model at http://127.0.0.1:9: EndpointConnectionError")


def run_status_context(instance, job: dg.JobDefinition, status: dg.DagsterEventType, notifier: Notifier):
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    event = next(
        e for e in instance.all_logs(result.run_id) if e.dagster_event and e.dagster_event.event_type == status
    )
    return dg.build_run_status_sensor_context(
        sensor_name="notify",
        dagster_event=event.dagster_event,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        resources={"notifier": notifier},
    )


def test_success_is_mailed_with_the_run_link_and_the_production_model(smtp_server):
    port, inbox = smtp_server
    notifier = Notifier(channel="smtp", smtp_port=port, webserver_url="http://dagster.local:3000")
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "production_model",
                metadata={
                    "model": "random_forest",
                    "version": 3,
                    "holdout_rmse": 41.5,
                    "holdout_wape": 0.16,
                    "holdout_mase": 0.7,
                },
            )
        )
        context = run_status_context(
            instance,
            dg.GraphDefinition(name="ok", node_defs=[train]).to_job(),
            dg.DagsterEventType.RUN_SUCCESS,
            notifier,
        )
        sensor("notify_on_success")(context)
    (message,) = inbox.messages
    assert "Subject: ml_pipeline succeeded" in message
    assert f"http://dagster.local:3000/runs/{context.dagster_run.run_id}" in message
    assert "random_forest version 3" in message and "rmse 41.500" in message


def test_failure_is_posted_to_the_webhook_with_the_failing_step(webhook_server):
    url, received = webhook_server
    notifier = Notifier(channel="webhook", webhook_url=url)
    with dg.instance_for_test() as instance:
        job = dg.GraphDefinition(name="broken", node_defs=[write_model]).to_job()
        context = run_status_context(instance, job, dg.DagsterEventType.RUN_FAILURE, notifier).for_run_failure()
        sensor("notify_on_failure")(context)
    (payload,) = received
    assert payload["text"].startswith("*ml_pipeline FAILED")
    assert "step write_model" in payload["text"] and "EndpointConnectionError" in payload["text"]
    assert f"/runs/{context.dagster_run.run_id}" in payload["text"]


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
    assert "old Excel workbook" in quarantined(landing)[long_name]
    quarantine = [o.key for o in landing.list_objects("raw-data", "quarantine/files/")]
    assert all(len(part.encode()) <= 200 for key in quarantine for part in key.split("/"))  # filesystems: 255
    assert odd in json.loads(result.cursor)
    again = tick_new_sales_files(landing, result.cursor)
    assert not again.run_requests
