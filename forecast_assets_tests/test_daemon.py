"""Integration: a real dagster-daemon sees a sales file dropped in the landing area and the run it launches succeeds."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from forecast_assets.assets.demo_sales import demo_week
from forecast_assets_tests.conftest import count_whole_graph_run
from forecast_assets_tests.minio_server import REPO

pytestmark = pytest.mark.daemon


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
        "FORECAST_STATISTICAL": "none",  # tested in test_pipeline; ~40 s a run here
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
    try:
        weeks = pd.date_range("2025-06-02", "2025-10-13", freq="7D")
        sales = pd.concat([demo_week(w.date()) for w in weeks])
        (warehouse / "raw-data" / "uploads").mkdir(parents=True)
        sales.to_csv(warehouse / "raw-data" / "uploads" / "sales.csv", index=False)

        count_whole_graph_run()  # the run the sensor launches
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
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()
