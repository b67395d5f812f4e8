"""A real MinIO server for the tests: 127.0.0.1, a free port, a temporary data folder, fresh credentials."""

import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port free now, below the kernel's range of ephemeral ports: a server planned on it minutes before it starts
    (the suite's MinIO is planned at collection, so the Spark session can be configured for it) must not find it
    taken by the local end of some client connection meanwhile (MinIO once exited "port is already in use")."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    for _ in range(50 if low > 12000 else 0):
        port = random.randint(10000, low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(process: subprocess.Popen, url: str, seconds: float, output) -> None:
    """Until `url` answers 200; a server that exits or stays silent raises with the end of `output()`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {output()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s: {output()[-2000:]}")


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def minio_binary() -> str:
    """$MINIO_BIN (set by `make test`), or the pinned build from the cache (built once when missing)."""
    if os.environ.get("MINIO_BIN"):
        return os.environ["MINIO_BIN"]
    return subprocess.run(
        [str(REPO / "scripts" / "build-minio.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class MinioServer:
    data_dir: str
    port: int
    access_key: str
    secret_key: str
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "MINIO_ROOT_USER": self.access_key, "MINIO_ROOT_PASSWORD": self.secret_key}
        self.process = subprocess.Popen(
            [
                minio_binary(),
                "server",
                self.data_dir,
                "--address",
                f"127.0.0.1:{self.port}",
                "--console-address",
                f"127.0.0.1:{free_port()}",
                "--quiet",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for_health(
            self.process, f"{self.endpoint}/minio/health/ready", 60, lambda: self.process.stderr.read().decode()
        )

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def new_server() -> MinioServer:
    """A server planned, not started: its port, credentials and data folder are chosen now, so a Spark session
    can be configured for it before (or without) it runs."""
    return MinioServer(
        data_dir=tempfile.mkdtemp(prefix="forecast-minio-"),
        port=free_port(),
        access_key="test-" + secrets.token_hex(4),
        secret_key=secrets.token_urlsafe(24),
    )


def remove(server: MinioServer) -> None:
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)
