"""docker-compose.yml, checked without a Docker engine: loaded by compose-go (the loader Docker Compose uses,
deploy/compose-check) with .env.example, then cross-checked against deploy/dagster.yaml, deploy/workspace.yaml,
the Dockerfiles and settings.py. `make smoke` runs the same topology natively."""

import json
import os
import re
import subprocess
from pathlib import Path

import pyspark
import pytest
import yaml

from devtools.minio_server import REPO
from forecast_assets.resources.spark import spark_config
from forecast_assets.settings import VARIABLES, Settings

SERVICES = {
    "minio",
    "minio-init",
    "spark-master",
    "spark-worker",
    "postgres",
    "user-code",
    "dagster-webserver",
    "dagster-daemon",
    "dagster-proxy",
}
DAGSTER_SERVICES = ("user-code", "dagster-webserver", "dagster-daemon")
POSTGRES_VARIABLES = {f"DAGSTER_POSTGRES_{k}" for k in ("HOST", "PORT", "USER", "PASSWORD", "DB")}


def compose_check(env_file: Path) -> subprocess.CompletedProcess:
    cache = Path(os.environ.get("FORECAST_CACHE", Path.home() / ".cache" / "forecast_assets"))
    binary = cache / "compose-check"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=REPO / "deploy" / "compose-check", check=True)
    # Only what Go needs: nothing of the caller's environment may fill the file's variables.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME") or k.startswith("GO")}
    return subprocess.run(
        [str(binary), "docker-compose.yml", str(env_file)], cwd=REPO, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def project() -> dict:
    loaded = compose_check(REPO / ".env.example")
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout)


def env_example() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def command_option(service: dict, option: str) -> str:
    command = service["command"]
    return command[command.index(option) + 1]


def test_the_compose_loader_accepts_the_file_with_env_example(project):
    assert set(project["services"]) == SERVICES
    for name, service in project["services"].items():
        if name != "minio-init":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES


def test_secrets_come_only_from_env_and_missing_ones_stop_compose(tmp_path):
    example = env_example()
    for secret in ("AWS_SECRET_ACCESS_KEY", "POSTGRES_PASSWORD", "DAGSTER_UI_PASSWORD_HASH"):
        assert secret in example  # a local-only placeholder, documented
        env_file = tmp_path / f"without-{secret}.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in example.items() if k != secret))
        refused = compose_check(env_file)
        assert refused.returncode != 0 and f"set {secret} in .env" in refused.stderr
    text = (REPO / "docker-compose.yml").read_text()
    for value in example.values():
        if len(value) > 8:
            assert value not in text  # no placeholder secret is copied into the file


def published(project: dict) -> dict[str, list[tuple[str, int]]]:
    return {
        name: [(port.get("host_ip", ""), port["target"]) for port in service["ports"]]
        for name, service in project["services"].items()
        if service.get("ports")
    }


def test_published_ports_listen_on_loopback_unless_opened_and_the_ui_only_behind_basic_auth(project, tmp_path):
    assert published(project) == {
        "minio": [("127.0.0.1", 9000), ("127.0.0.1", 9001)],
        "spark-master": [("127.0.0.1", 8080)],
        "dagster-proxy": [("127.0.0.1", 3000)],  # the webserver itself publishes nothing
    }
    opened = tmp_path / "opened.env"
    opened.write_text((REPO / ".env.example").read_text() + "FORECAST_BIND_ADDRESS=0.0.0.0\n")
    loaded = compose_check(opened)
    assert loaded.returncode == 0, loaded.stderr
    assert {ip for ports in published(json.loads(loaded.stdout)).values() for ip, _ in ports} == {"0.0.0.0"}
    # The proxy: Caddy with basic auth from .env, forwarding to the webserver's port.
    proxy, webserver = project["services"]["dagster-proxy"], project["services"]["dagster-webserver"]
    (mount,) = proxy["volumes"]
    assert mount["source"].endswith("deploy/caddy/Caddyfile") and mount["read_only"]
    caddyfile = (REPO / "deploy" / "caddy" / "Caddyfile").read_text()
    assert re.search(r"basic_auth \{\s+\{\$DAGSTER_UI_USER\} \{\$DAGSTER_UI_PASSWORD_HASH\}\s+\}", caddyfile)
    target = re.search(r"reverse_proxy (\S+):(\d+)", caddyfile)
    assert target.group(1) == "dagster-webserver" and target.group(2) == command_option(webserver, "-p")
    assert proxy["environment"]["DAGSTER_UI_PASSWORD_HASH"].startswith("$2")  # a bcrypt hash, not a password
    assert "dagster-webserver" in proxy["depends_on"]


def test_dagster_yaml_postgres_storage_matches_every_dagster_service(project):
    instance = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    assert instance["telemetry"]["enabled"] is False
    db = instance["storage"]["postgres"]["postgres_db"]
    variables = {entry["env"] for entry in db.values() if isinstance(entry, dict)}
    assert variables == POSTGRES_VARIABLES
    postgres = project["services"]["postgres"]["environment"]
    for name in DAGSTER_SERVICES:
        env = project["services"][name]["environment"]
        assert set(env) >= POSTGRES_VARIABLES, name
        assert env["DAGSTER_POSTGRES_HOST"] == "postgres" and env["DAGSTER_POSTGRES_PORT"] == "5432"
        assert env["DAGSTER_POSTGRES_USER"] == postgres["POSTGRES_USER"]
        assert env["DAGSTER_POSTGRES_PASSWORD"] == postgres["POSTGRES_PASSWORD"]
        assert env["DAGSTER_POSTGRES_DB"] == postgres["POSTGRES_DB"]
        assert "postgres" in project["services"][name]["depends_on"]
    embedded = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert instance["concurrency"] == embedded["concurrency"]  # the same concurrency limits
    assert instance["concurrency"]["runs"]["tag_concurrency_limits"] == [{"key": "forecast/training", "limit": 1}]
    assert instance["concurrency"]["pools"] == {"default_limit": 1, "granularity": "run"}
    assert "run_coordinator" not in instance and "run_coordinator" not in embedded  # the legacy block is gone


def test_workspace_names_the_user_code_server(project):
    (entry,) = yaml.safe_load((REPO / "deploy" / "workspace.yaml").read_text())["load_from"]
    server = project["services"][entry["grpc_server"]["host"]]
    assert server is project["services"]["user-code"]
    assert command_option(server, "-p") == str(entry["grpc_server"]["port"])
    assert str(entry["grpc_server"]["port"]) in server["healthcheck"]["test"]
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    home = re.search(r"DAGSTER_HOME=(\S+)", dockerfile)[1]
    assert re.search(rf"COPY deploy/dagster.yaml deploy/workspace.yaml {home}/", dockerfile)
    for name in ("dagster-webserver", "dagster-daemon"):
        assert command_option(project["services"][name], "-w") == f"{home}/workspace.yaml"
    for name in DAGSTER_SERVICES:
        mounts = {v["target"]: v["source"] for v in project["services"][name]["volumes"]}
        assert mounts == {f"{home}/storage": "dagster-storage"}, name  # compute logs shared between them


def test_user_code_environment_is_what_settings_reads(project):
    env = project["services"]["user-code"]["environment"]
    read = {*VARIABLES.values(), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FORECAST_WEBHOOK_URL"}
    for variable in env:
        assert variable in POSTGRES_VARIABLES or variable in read, f"{variable} is read by nothing"
    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    assert settings.storage == "minio"
    config = spark_config(settings)
    master = project["services"]["spark-master"]
    assert config["spark.master"] == f"spark://{command_option(master, '--host')}:{command_option(master, '--port')}"
    assert config["spark.driver.host"] == "user-code" and config["spark.driver.bindAddress"] == "0.0.0.0"
    assert config["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    worker = project["services"]["spark-worker"]
    assert worker["command"][2] == config["spark.master"]
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # executors' S3A reads them from the worker
        assert worker["environment"][variable] == env[variable]
    minio = project["services"]["minio"]
    assert env["FORECAST_S3_ENDPOINT"].endswith(command_option(minio, "--address"))
    assert minio["environment"]["MINIO_ROOT_USER"] == env["AWS_ACCESS_KEY_ID"]
    assert minio["environment"]["MINIO_ROOT_PASSWORD"] == env["AWS_SECRET_ACCESS_KEY"]
    assert project["services"]["minio-init"]["command"][-1] == "create-buckets"


def test_ports_volumes_and_images(project):
    published = [p["published"] for s in project["services"].values() for p in s.get("ports", [])]
    assert len(published) == len(set(published)) and "3000" in published
    assert not project["services"]["spark-worker"].get("ports")  # replicas must not collide
    mounts = {name: {v["target"]: v["source"] for v in s.get("volumes", [])} for name, s in project["services"].items()}
    assert mounts["minio"] == {command_option(project["services"]["minio"], "server"): "minio-data"}
    assert mounts["postgres"] == {"/var/lib/postgresql/data": "postgres-data"}
    assert set(project["volumes"]) == {"minio-data", "postgres-data", "dagster-storage"}
    for service in project["services"].values():
        if "build" in service:
            dockerfile = REPO / service["build"]["context"] / service["build"]["dockerfile"]
            for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile.read_text(), re.M):
                for path in source.split():
                    assert (REPO / path).exists(), f"{dockerfile.name} copies {path}, which does not exist"
    # The cluster runs the driver's image: its Spark (PySpark's spark-class) and its Python for Python tasks.
    project_image = (REPO / "deploy" / "Dockerfile").read_text()
    assert "FROM python:3.11-" in project_image and "pip install --no-cache-dir ." in project_image
    for name in ("spark-master", "spark-worker"):
        service = project["services"][name]
        assert service["image"] == project["services"]["user-code"]["image"]
        assert service["command"][0] == "/usr/local/lib/python3.11/site-packages/pyspark/bin/spark-class"
    assert f'"pyspark=={pyspark.__version__}"' in (REPO / "pyproject.toml").read_text()
    pinned = re.search(r"version=\$\{MINIO_VERSION:-(\S+)\}", (REPO / "scripts" / "build-minio.sh").read_text())[1]
    assert f"ARG MINIO_VERSION={pinned}" in (REPO / "deploy" / "minio" / "Dockerfile").read_text()
