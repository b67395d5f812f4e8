"""`make smoke`: docker-compose.yml's topology, natively on loopback, proven end to end.

Starts PostgreSQL (Dagster's storage, deploy/dagster.yaml as is), MinIO (+ the buckets, as compose's
minio-init does), a Spark standalone master and worker from PySpark's own launch script (bin/spark-class),
the user-code gRPC server, dagster-webserver and dagster-daemon (deploy/workspace.yaml, pointed at the
loopback port). Then it launches ml_pipeline through the webserver's GraphQL API, waits for success, checks
that the Spark work ran on the standalone cluster and that the artifacts are in MinIO, drops a sales file in
the landing bucket and waits for the daemon's sensor to launch a run for it that starts (a daemon-launched run is
run to success in test_ui.py). Everything is shut down, with that run in flight
at the end, pass or fail: processes stopped, ports released, temporary folders removed.

    python -m deploy.smoke      (from the repository; make smoke: with MINIO_BIN and FORECAST_S3A_JARS set)
"""

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, suppress
from pathlib import Path

import boto3
import pandas as pd
import yaml

from devtools.minio_server import free_port, new_server, remove
from forecast_assets import settings
from forecast_assets.landing.demo import demo_week

REPO = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
WEEKS = ("2025-06-02", "2025-10-13")  # 20 weekly partitions of demo data
UPLOADED_WEEK = "2025-10-06"
CANDIDATES = ("linear_regression", "xgboost")
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[smoke {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


class Processes:
    """Long-running processes, each in its own session with its log in the work folder; stopped in reverse."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict, **kwargs) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed by the process's end)
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        self.started.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self) -> None:
        for name, process in reversed(self.started):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)  # the whole session: run workers, executors
                except ProcessLookupError:
                    continue
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            with suppress(ProcessLookupError, PermissionError):  # children left in the session (an executor)
                os.killpg(process.pid, signal.SIGKILL)
            say(f"stopped {name}")


def wait_for(what: str, probe, timeout: float, processes: Processes | None = None, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if processes:
            processes.check_alive()
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


# -- PostgreSQL ------------------------------------------------------------------------------------------
def start_postgres(work: Path, processes: Processes) -> dict[str, str]:
    bindir = Path(
        subprocess.run(
            [str(REPO / "scripts/install-postgres.sh")], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    data = work / "postgres"
    data.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as Debian's postgres user
        shutil.chown(work, "postgres")
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    password = os.urandom(12).hex()
    pwfile = work / "pgpass"
    pwfile.write_text(password + "\n")
    if as_postgres:
        shutil.chown(pwfile, "postgres")
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "dagster",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    processes.start(
        "postgres",
        [*as_postgres, str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(work)],
        env={**os.environ},
    )
    env = {"PGPASSWORD": password, "PATH": os.environ["PATH"]}
    wait_for(
        "PostgreSQL",
        lambda: (
            subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode
            == 0
        ),
        60,
        processes,
    )
    subprocess.run(
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"],
        check=True,
        env=env,
        capture_output=True,
    )
    say(f"PostgreSQL {bindir.parent.name} on 127.0.0.1:{port} (database dagster)")
    return {
        "DAGSTER_POSTGRES_HOST": "127.0.0.1",
        "DAGSTER_POSTGRES_PORT": str(port),
        "DAGSTER_POSTGRES_USER": "dagster",
        "DAGSTER_POSTGRES_PASSWORD": password,
        "DAGSTER_POSTGRES_DB": "dagster",
    }


# -- Spark standalone -----------------------------------------------------------------------------------
def start_spark(work: Path, processes: Processes, credentials: dict[str, str]) -> tuple[str, int, Path]:
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(work / "spark-logs")}
    port, web = free_port(), free_port()
    processes.start(
        "spark-master",
        [
            str(spark_class),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(web),
        ],
        env=env,
    )
    master = f"spark://127.0.0.1:{port}"
    wait_for("Spark master", lambda: get_json(f"http://127.0.0.1:{web}/json/").get("status") == "ALIVE", 90, processes)
    worker_dir = work / "spark-worker"
    worker_dir.mkdir()
    processes.start(
        "spark-worker",
        [
            str(spark_class),
            "org.apache.spark.deploy.worker.Worker",
            master,
            "--host",
            "127.0.0.1",
            "--cores",
            "2",
            "--memory",
            "3g",
            "--webui-port",
            str(free_port()),
            "--work-dir",
            str(worker_dir),
        ],
        env={**env, **credentials},  # executors inherit it: their S3A reads MinIO's credentials there
    )
    wait_for(
        "a Spark worker registered",
        lambda: get_json(f"http://127.0.0.1:{web}/json/").get("aliveworkers") == 1,
        90,
        processes,
    )
    say(f"Spark standalone: master {master} (UI :{web}), one worker (2 cores, 3g)")
    return master, web, worker_dir


# -- Dagster --------------------------------------------------------------------------------------------
def workspace_for(grpc_port: int, path: Path) -> None:
    """deploy/workspace.yaml with the user-code server's address on loopback instead of the compose name."""
    workspace = yaml.safe_load((REPO / "deploy" / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    entry["grpc_server"].update(host="127.0.0.1", port=grpc_port)
    path.write_text(yaml.safe_dump(workspace))


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}"""
RUN_STATUS = """
query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { runId status } } }"""
RUNS_TAGGED = """
query Runs($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}"""
STEP_STATS = """
query Steps($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { stepStats { stepKey startTime endTime } } }
}"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def wait_for_run(web: int, run_id: str, processes: Processes, timeout: float = 1500) -> str:
    last = None

    def finished():
        nonlocal last
        status = graphql(web, RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        if status != last:
            say(f"run {run_id[:8]}: {status}")
            last = status
        return status if status in FINISHED else None

    status = wait_for(f"run {run_id}", finished, timeout, processes, every=5)
    steps = graphql(web, STEP_STATS, {"runId": run_id})["runOrError"].get("stepStats") or []
    took = sorted(((s["endTime"] or s["startTime"]) - s["startTime"], s["stepKey"]) for s in steps if s["startTime"])
    say(f"run {run_id[:8]}: slowest steps " + ", ".join(f"{key} {seconds:.0f} s" for seconds, key in took[::-1][:6]))
    return status


def main() -> int:
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="forecast-smoke-"))
        logs = work / "logs"
        logs.mkdir()
        processes = Processes(logs)
        minio = new_server()
        ports: list[int] = []

        def cleanup():
            processes.stop_all()
            remove(minio)
            say("stopped MinIO")
            shutil.rmtree(work, ignore_errors=True)
            busy = [p for p in ports if port_open(p)]
            assert not busy, f"ports still in use after shutdown: {busy}"
            assert not work.exists() and not Path(minio.data_dir).exists()
            say(f"shut down cleanly: {len(ports)} ports released, temporary folders removed")

        stack.callback(cleanup)
        try:
            postgres_env = start_postgres(work, processes)
            ports.append(int(postgres_env["DAGSTER_POSTGRES_PORT"]))
            minio.start()
            ports.append(minio.port)
            say(f"MinIO on {minio.endpoint}")
            credentials = {"AWS_ACCESS_KEY_ID": minio.access_key, "AWS_SECRET_ACCESS_KEY": minio.secret_key}
            master, spark_web, worker_dir = start_spark(work, processes, credentials)
            ports += [int(master.rsplit(":", 1)[1]), spark_web]

            home = work / "dagster_home"
            home.mkdir()
            shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")  # the deployment's, as is
            grpc_port, web = free_port(), free_port()
            ports += [grpc_port, web]
            workspace = work / "workspace.yaml"
            workspace_for(grpc_port, workspace)
            base = {
                **os.environ,
                **postgres_env,
                "DAGSTER_HOME": str(home),
                "SPARK_LOCAL_IP": "127.0.0.1",
                "PYTHONWARNINGS": "ignore",
            }
            storage = {
                "FORECAST_STORAGE": "minio",
                "FORECAST_S3_ENDPOINT": minio.endpoint,
                "AWS_ACCESS_KEY_ID": minio.access_key,
                "AWS_SECRET_ACCESS_KEY": minio.secret_key,
            }
            user_code_env = {
                **base,
                **storage,
                "SPARK_MASTER": master,
                "SPARK_DRIVER_HOST": "127.0.0.1",
                "SPARK_DRIVER_MEMORY": "2g",
                "SPARK_EXECUTOR_MEMORY": "2g",
                "FORECAST_AUTOMATION": "running",
                "FORECAST_PROFILE": "small",
                "FORECAST_CV_FOLDS": "2",
                "FORECAST_HOLDOUT_WEEKS": "2",
                # 20 demo weeks and the small grids: any improvement on the best baseline promotes (the
                # smoke checks the topology, not the models; the sensor's run must promote version 2).
                "FORECAST_MIN_IMPROVEMENT": "0",
                # One MLlib candidate and XGBoost (its barrier-mode tasks on the cluster's executors): the
                # topology is proven by them; random forest and the statistical fits add minutes, not paths.
                "FORECAST_CANDIDATES": ",".join(CANDIDATES),
                "FORECAST_STATISTICAL": "none",
                "FORECAST_RETRY_DELAY_SECONDS": "2",
                "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{web}",
            }
            subprocess.run(
                [str(BIN / "python"), "-m", "forecast_assets.cli", "create-buckets"],
                cwd=REPO,
                env={**base, **storage},
                check=True,
                capture_output=True,
            )
            say("buckets created (compose's minio-init command)")

            processes.start(
                "user-code",
                [str(BIN / "dagster"), "api", "grpc", "-h", "127.0.0.1", "-p", str(grpc_port), "-m", "forecast_assets"],
                env=user_code_env,
                cwd=REPO,
            )
            wait_for(
                "user-code gRPC server",
                lambda: (
                    subprocess.run(
                        [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(grpc_port)],
                        env=base,
                        capture_output=True,
                    ).returncode
                    == 0
                ),
                120,
                processes,
                every=2,
            )
            say(f"user-code gRPC server on 127.0.0.1:{grpc_port}")
            processes.start(
                "dagster-webserver",
                [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web), "-w", str(workspace)],
                env=base,
                cwd=work,
            )
            processes.start(
                "dagster-daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env=base, cwd=work
            )
            wait_for("dagster-webserver", lambda: get_json(f"http://127.0.0.1:{web}/server_info"), 120, processes)
            say(f"dagster-webserver on http://127.0.0.1:{web}, dagster-daemon running")

            # 1. What the UI's "Materialize all" does: launch the job over a partition range.
            training = {"config": {"profile": "small", "cv_folds": 2}}
            run_config = {
                "ops": {
                    "features": {"config": {"holdout_weeks": 2}},
                    "model_comparison": {"config": {"min_improvement": 0.0}},
                    **{f"{name}_model": training for name in CANDIDATES},
                }
            }
            launched = graphql(
                web,
                LAUNCH,
                {
                    "executionParams": {
                        "selector": {
                            "repositoryLocationName": "forecast_assets",
                            "repositoryName": "__repository__",
                            "jobName": "ml_pipeline",
                        },
                        "runConfigData": run_config,
                        "executionMetadata": {
                            "tags": [
                                {"key": "dagster/asset_partition_range_start", "value": WEEKS[0]},
                                {"key": "dagster/asset_partition_range_end", "value": WEEKS[1]},
                            ]
                        },
                    }
                },
            )["launchRun"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run_id = launched["run"]["runId"]
            say(f"launched ml_pipeline through GraphQL: run {run_id}")
            status = wait_for_run(web, run_id, processes)
            assert status == "SUCCESS", f"run {run_id} ended {status}:\n{processes.tail('user-code', 80)}"

            # 2. The Spark work ran on the standalone cluster: an application there, executor logs on the worker.
            apps = get_json(f"http://127.0.0.1:{spark_web}/json/")
            ours = [
                a for a in apps.get("completedapps", []) + apps.get("activeapps", []) if a["name"] == "forecast_assets"
            ]
            assert ours, f"no forecast_assets application on the Spark master: {apps}"
            executor_logs = list(worker_dir.glob(f"{ours[0]['id']}/*/stderr"))
            assert executor_logs and any(p.stat().st_size for p in executor_logs), "no executor log on the worker"
            say(
                f"Spark application {ours[0]['id']} ran on the cluster ({len(executor_logs)} executor(s) on the worker)"
            )

            # 3. The artifacts are in MinIO.
            s3 = boto3.client(
                "s3",
                endpoint_url=minio.endpoint,
                aws_access_key_id=minio.access_key,
                aws_secret_access_key=minio.secret_key,
                region_name=settings.S3_REGION,
            )
            manifest = json.loads(
                s3.get_object(Bucket="ml-models", Key="production_model/_manifest.json")["Body"].read()
            )
            assert manifest["last_version"] == 1 and manifest["current"]["__all__"]["run_id"] == run_id, manifest
            for bucket, key in [
                ("processed-data", "raw_sales/_manifest.json"),
                ("ml-data", "feature_dataset/_manifest.json"),
                ("ml-data", "sales_forecast/_manifest.json"),
                ("ml-experiments", "drift_score/_manifest.json"),
            ]:
                s3.head_object(Bucket=bucket, Key=key)
            say("artifacts in MinIO: production_model v1 from that run, raw_sales, features, forecast, drift")

            # 4. The daemon's sensor launches a run for a newly landed sales file.
            week = demo_week(pd.Timestamp(UPLOADED_WEEK).date()).assign(produto=lambda f: "UP-" + f["produto"])
            buffer = io.StringIO()
            week.to_csv(buffer, index=False)
            s3.put_object(Bucket="raw-data", Key="uploads/week.csv", Body=buffer.getvalue().encode())
            say("dropped raw-data/uploads/week.csv; waiting for the new_sales_files sensor")

            def sensor_run():
                results = graphql(web, RUNS_TAGGED, {"key": "forecast/trigger", "value": "new_sales_file"})
                return results["runsOrError"]["results"]

            (triggered,) = wait_for("a run launched by the sensor", sensor_run, 300, processes, every=5)
            tags = {t["key"]: t["value"] for t in triggered["tags"]}
            assert (
                tags["forecast/file"] == "uploads/week.csv"
                and tags["dagster/asset_partition_range_start"] == UPLOADED_WEEK
            )
            say(f"sensor launched run {triggered['runId']} for {tags['forecast/file']}")
            # The run itself is the one above with the sensor's run config (a daemon-launched run is run to success
            # in test_ui.py): here it must start, as the daemon's; the shutdown below stops it in flight and must
            # still release every port.
            wait_for(
                "the sensor's run to start",
                lambda: (
                    graphql(web, RUN_STATUS, {"runId": triggered["runId"]})["runOrError"]["status"]
                    in ("STARTED", *FINISHED)
                ),
                300,
                processes,
                every=2,
            )
            say(f"sensor-launched run {triggered['runId'][:8]} started; shutting down with it in flight")
        except BaseException:
            for name, _ in processes.started:
                print(f"---- {name} (last lines) ----\n{processes.tail(name)}", file=sys.stderr)
            raise
    say("SMOKE PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
