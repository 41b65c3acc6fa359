"""MLflow's own scoring server (`mlflow models serve`) run for a while on a free loopback port:
for the serving tests and the benchmark's load test and soak."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imdb_sentiment.tracking.services import free_port, http_service

START_TIMEOUT = 180  # seconds: loading TensorFlow and a Keras model on a 2-core machine


@contextmanager
def scoring_server(
    model_uri: str, cwd: Path, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[str]:
    """`mlflow models serve` on a free 127.0.0.1 port; yields its URL, always stops it."""
    with scoring_server_process(model_uri, cwd, env, workers) as (url, _):
        yield url


@contextmanager
def scoring_server_process(
    model_uri: str, cwd: Path, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[tuple[str, subprocess.Popen]]:
    """As `scoring_server`, yielding (URL, the server's process: its workers are its children).

    The server runs with this interpreter's bin/ first on PATH: `--env-manager local` starts
    `uvicorn` from PATH.
    """
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(cwd) / f".scoring-server-{port}.log"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
    ]
    with http_service(command, url, "/ping", log_path, START_TIMEOUT, cwd=cwd, env=env) as process:
        yield url, process
    log_path.unlink(missing_ok=True)
