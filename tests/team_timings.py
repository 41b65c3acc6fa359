"""Team-scale timings on the tiny archive and repo copies the tests use (tests/conftest.py).

    python tests/team_timings.py  # ~15 minutes on a 2-core CPU; needs PostgreSQL installed

1. the whole tiny pipeline (`dvc repro`) against the embedded SQLite store, then against the
   PostgreSQL-backed tracking server (`imdb-sentiment tracking-server`), each in a fresh copy;
2. a 4-experiment sweep (`dvc exp run --queue` over a 2 x 2 grid of GRU units and learning
   rate, then `dvc queue start -j N`) with one worker and with two, each from the same cached
   pipeline, until the queue is empty.

Writes bench/team.json. Not a test (pytest collects test_*.py): it lives beside the fixtures
it is built on, so that bench/ never imports tests/.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from conftest import REPO, cut_archive, dvc, git, project_env, tiny_repo

from imdb_sentiment.files import write_json
from imdb_sentiment.tracking.services import free_port
from imdb_sentiment.tracking.team_server import tracking_server

SWEEP = ["-S", "models.gru.units=8,16", "-S", "train.learning_rate=0.01,0.003"]


def timed_repro(repo: Path, env: dict) -> float:
    started = time.monotonic()
    dvc(repo, env, "repro")
    return time.monotonic() - started


def sweep(repo: Path, env: dict, workers: int) -> float:
    dvc(repo, env, "exp", "run", "--queue", *SWEEP)
    started = time.monotonic()
    dvc(repo, env, "queue", "start", "-j", str(workers))
    while True:
        status = dvc(repo, env, "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    elapsed = time.monotonic() - started
    dvc(repo, env, "queue", "stop", check=False)
    if "Failed" in status or status.count("Success") != 4:
        raise RuntimeError(f"sweep with -j {workers} did not finish cleanly:\n{status}")
    return elapsed


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="imdb-team-bench-"))
    work.chmod(0o755)  # PostgreSQL, run as `postgres` when this runs as root, must reach it
    results: dict = {"machine": f"{platform.node()} ({platform.processor() or 'cpu'})"}
    try:
        archive = cut_archive(work / "tiny.tar.gz")
        local_env = project_env("unused")
        del local_env["MLFLOW_TRACKING_URI"]  # the repo's own mlflow.db, as `make run` uses
        sqlite_repo = tiny_repo(work / "sqlite", archive)
        results["tiny_pipeline_sqlite_s"] = round(timed_repro(sqlite_repo, local_env), 1)
        print("tiny pipeline, SQLite:", results["tiny_pipeline_sqlite_s"], flush=True)

        with tracking_server(work / "server", free_port(), postgres_port=free_port()) as server:
            server_repo = tiny_repo(work / "server-repo", archive)
            seconds = timed_repro(server_repo, project_env(server.url))
        results["tiny_pipeline_postgres_server_s"] = round(seconds, 1)
        print("tiny pipeline, PostgreSQL server:", results["tiny_pipeline_postgres_server_s"])

        # Both sweeps start from the same finished pipeline: only train@imdb-gru and what follows.
        base = work / "sweep-base"
        shutil.copytree(sqlite_repo, base, symlinks=True)
        git(base, "add", "-A")
        git(base, "commit", "-qm", "pipeline ran")
        for workers in (1, 2):
            repo = shutil.copytree(base, work / f"sweep-j{workers}", symlinks=True)
            results[f"sweep_4_experiments_j{workers}_s"] = round(sweep(repo, local_env, workers), 1)
            print(
                f"4-experiment sweep, -j {workers}:", results[f"sweep_4_experiments_j{workers}_s"]
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json(REPO / "bench" / "team.json", results)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
