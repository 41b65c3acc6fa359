"""Run MLflow's own scoring server (`mlflow models serve`) for tests and the load benchmark."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

START_TIMEOUT = 180  # seconds: loading TensorFlow and a Keras model on a 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def scoring_server(
    model_uri: str, cwd: Path, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[str]:
    """`mlflow models serve` on a free 127.0.0.1 port; yields its URL, always stops it.

    The server runs in its own process group so its uvicorn workers stop with it, and with
    this interpreter's bin/ first on PATH: `--env-manager local` starts `uvicorn` from PATH.
    """
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    port = free_port()
    log_path = Path(cwd) / f".scoring-server-{port}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_ready(server, url, log_path)
            yield url
        finally:
            _stop(server)
    log_path.unlink(missing_ok=True)


def _stop(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone, e.g. it failed to start
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def _wait_until_ready(server: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"scoring server exited early:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/ping", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"scoring server at {url} did not answer /ping in {START_TIMEOUT}s")
