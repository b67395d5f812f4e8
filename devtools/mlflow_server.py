"""A real MLflow tracking server for the tests: 127.0.0.1, a free port, a SQLite backend and an artifact folder
in a temporary directory. The server runs from its own virtualenv (scripts/build-mlflow-server.sh); the
product talks to it with mlflow-skinny's client, as a user's installation would."""

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devtools.minio_server import REPO, free_port, stop_process, wait_for_health


def mlflow_binary() -> str:
    """$MLFLOW_BIN (set by `make test`), or the pinned server from the cache (installed once when missing)."""
    if os.environ.get("MLFLOW_BIN"):
        return os.environ["MLFLOW_BIN"]
    script = REPO / "scripts" / "build-mlflow-server.sh"
    return subprocess.run([str(script)], check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class MlflowServer:
    binary: str
    folder: str
    port: int
    process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        folder = Path(self.folder)
        log = open(folder / "server.log", "wb")  # noqa: SIM115 - the server writes it for its whole life
        self.process = subprocess.Popen(
            [
                self.binary,
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        wait_for_health(self.process, f"{self.uri}/health", 120, lambda: (folder / "server.log").read_text())

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def new_server() -> MlflowServer:
    return MlflowServer(binary=mlflow_binary(), folder=tempfile.mkdtemp(prefix="forecast-mlflow-"), port=free_port())


def remove(server: MlflowServer) -> None:
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)
