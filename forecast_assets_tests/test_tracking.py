"""MLflow tracking's failure modes: off, mlflow never imported; a server that is down costs a warning, not the
run. (What a run logs to a real tracking server is tested in test_lifecycle.py, on MinIO.)"""

import logging
import subprocess
import sys
from types import SimpleNamespace

import dagster as dg

from devtools.minio_server import free_port
from forecast_assets.resources.tracking import MlflowTracking


def test_without_a_tracking_uri_mlflow_is_never_imported():
    code = (
        "import sys, dagster as dg\n"
        "from forecast_assets import defs\n"
        "defs = defs()\n"
        "with defs.resources['tracking'].process_config_and_initialize_cm() as tracking:\n"
        "    assert not tracking.enabled\n"
        "    context = type('C', (), {'log': None, 'run': None})()\n"
        "    assert tracking.log_comparison(context, {}, {}) == {} and tracking.link(context) == {}\n"
        "print('mlflow' in sys.modules)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "FORECAST_STORAGE": "local", "HOME": "/tmp"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_a_tracking_server_that_is_down_is_a_warning_and_the_run_goes_on(caplog):
    tracking = MlflowTracking(tracking_uri=f"http://127.0.0.1:{free_port()}", probe_timeout_seconds=1)
    context = SimpleNamespace(log=logging.getLogger("forecast_test"), run=dg.DagsterRun(job_name="ml_pipeline"))
    report = {"gate": {"passed": True, "description": "x"}, "models": {}, "baselines": {}, "best_model": "x"}
    with caplog.at_level(logging.WARNING, logger="forecast_test"):
        assert tracking.log_comparison(context, report, {"gate_metric": "rmse"}) == {}
        assert tracking.log_candidate(context, "random_forest", {}, [], {}) == {}
        assert tracking.serve(context, None, "ml-models", "production_model/v0001", "promotion", "x") == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # probed once, then skipped for the rest of the process
    assert "does not answer" in warnings[0] and "the run goes on" in warnings[0]


def test_a_server_that_fails_a_call_is_a_warning_naming_what_was_not_logged(tracking_server, caplog):
    """A real server that answers its probe but refuses a call (an invalid experiment name)."""
    tracking = MlflowTracking(tracking_uri=tracking_server.uri, experiment="")
    context = SimpleNamespace(log=logging.getLogger("forecast_test"), run=dg.DagsterRun(job_name="ml_pipeline"))
    with caplog.at_level(logging.WARNING, logger="forecast_test"):
        assert tracking.link(context) == {}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("MLflow tracking: could not open the MLflow run:")
