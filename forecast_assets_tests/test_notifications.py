"""resources/notifications.py and the run-status sensors: a real SMTP server and a real HTTP server
receive what a finished run sends."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest
from aiosmtpd.controller import Controller

from devtools.minio_server import free_port
from forecast_assets.resources.notifications import Notifier
from forecast_assets_tests.conftest import sensor


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
