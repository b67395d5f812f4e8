"""Integration: a real dagster-daemon sees a sales file dropped in the landing area and the run it launches
succeeds; then a real dagster-webserver takes the UI's Materialize of one asset (the same GraphQL mutation the
button sends) and that run goes through the queue, in one process, like ml_pipeline."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pandas as pd

from forecast_assets.assets.demo_sales import demo_week
from forecast_assets_tests.minio_server import REPO, free_port

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""
POOLS = '{ assetNodeOrError(assetKey: {path: ["drift_score"]}) { ... on AssetNode { pools } } }'


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["data"]


def wait_for_webserver(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"dagster-webserver not ready: {log.read_text()[-3000:]}")


def wait_for_run(instance: dg.DagsterInstance, run_id: str, log: Path) -> dg.DagsterRun:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish: {log.read_text()[-3000:]}")


def test_daemon_launches_a_successful_run_for_a_dropped_sales_file(tmp_path, spark):
    home, warehouse = tmp_path / "home", tmp_path / "warehouse"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "FORECAST_AUTOMATION": "running",
        "FORECAST_STORAGE": "local",
        "FORECAST_WAREHOUSE": str(warehouse),
        "FORECAST_PROFILE": "small",
        "FORECAST_CV_FOLDS": "2",
        "FORECAST_HOLDOUT_WEEKS": "2",
        "SPARK_DRIVER_MEMORY": "2g",
    }
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 (closed in finally)
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    servers = [daemon]
    try:
        weeks = pd.date_range("2025-06-02", "2025-10-13", freq="7D")
        sales = pd.concat([demo_week(w.date()) for w in weeks])
        (warehouse / "raw-data" / "uploads").mkdir(parents=True)
        sales.to_csv(warehouse / "raw-data" / "uploads" / "sales.csv", index=False)

        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline, run = time.monotonic() + 600, None
            while time.monotonic() < deadline:
                runs = instance.get_runs(
                    filters=dg.RunsFilter(job_name="ml_pipeline", tags={"forecast/trigger": "new_sales_file"})
                )
                run = runs[0] if runs else None
                if run is not None and run.is_finished:
                    break
                time.sleep(3)
            assert run is not None, (tmp_path / "daemon.log").read_text()[-3000:]
            assert run.status == dg.DagsterRunStatus.SUCCESS, (tmp_path / "daemon.log").read_text()[-3000:]
            assert run.tags["forecast/file"] == "uploads/sales.csv"
            assert run.tags["dagster/asset_partition_range_start"] == "2025-06-02"
            assert instance.get_latest_materialization_event(dg.AssetKey("production_model")) is not None

            # The UI: Materialize on drift_score is the implicit asset job with an asset selection.
            port = free_port()
            webserver = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(REPO / "workspace.yaml")]
                + ["-h", "127.0.0.1", "-p", str(port)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            servers.append(webserver)
            wait_for_webserver(port, webserver, tmp_path / "daemon.log")
            assert graphql(port, POOLS)["assetNodeOrError"]["pools"] == ["spark"]
            selector = {
                "repositoryLocationName": "forecast_assets",
                "repositoryName": "__repository__",
                "pipelineName": "__ASSET_JOB",
                "assetSelection": [{"path": ["drift_score"]}],
                # The button selects the asset's checks with it (drift_score's check is in its op).
                "assetCheckSelection": [{"assetKey": {"path": ["drift_score"]}, "name": "no_drift"}],
            }
            launched = graphql(
                port,
                LAUNCH,
                {"params": {"selector": selector, "mode": "default", "executionMetadata": {"tags": []}}},
            )["launchPipelineExecution"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run = wait_for_run(instance, launched["run"]["runId"], tmp_path / "daemon.log")
            assert run.status == dg.DagsterRunStatus.SUCCESS, (tmp_path / "daemon.log").read_text()[-3000:]
            assert run.job_name == "__ASSET_JOB"
            events = instance.all_logs(run.run_id)
            types = {e.dagster_event.event_type_value for e in events if e.dagster_event}
            assert "STEP_WORKER_STARTING" not in types  # the multiprocess executor's mark: a process per step
            assert len({e.dagster_event.pid for e in events if e.dagster_event and e.dagster_event.is_step_event}) == 1
            assert {e.step_key for e in events if e.dagster_event and e.dagster_event.is_step_event} == {"drift_score"}
    finally:
        for server in reversed(servers):
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()
