"""Load test of `mlflow models serve` on 127.0.0.1: single-review latency, batch throughput.

    python -m bench.serve_load                       # the champion and tfidf
    python -m bench.serve_load --model models:/imdb-sentiment/3 --requests 500

Bounded: a fixed number of requests at a fixed concurrency, against a server this script starts
on a free loopback port and always stops. Reviews are real test-split reviews from
data/prepared (run `dvc repro` first). Writes bench/serving.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import pandas as pd
import requests

from bench import BENCH, ROOT
from imdb_sentiment.files import read_json, write_json
from imdb_sentiment.serving.scoring_server import scoring_server
from imdb_sentiment.tracking.store import tracking_uri

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 60
# What a load test sends by default (bench/run.py's load test too): single-review requests,
# requests of ``batch_size`` reviews, how many at a time, and the server's worker processes.
SETTINGS = {
    "requests": 2000,
    "batch_requests": 200,
    "batch_size": 64,
    "concurrency": 8,
    "workers": 1,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def fire(url: str, bodies: list[str], concurrency: int) -> tuple[list[float], int, float]:
    """POST every body, ``concurrency`` at a time: (latencies in ms, errors, wall seconds)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=concurrency, pool_maxsize=concurrency)
    session.mount("http://", adapter)

    def one(body: str) -> tuple[float, bool]:
        started = time.perf_counter()
        try:
            response = session.post(
                f"{url}/invocations",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=REQUEST_TIMEOUT,
            )
            ok = response.status_code == 200
        except requests.RequestException:
            ok = False
        return (time.perf_counter() - started) * 1000, ok

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, bodies))
    wall = time.perf_counter() - started
    return [ms for ms, _ in results], sum(not ok for _, ok in results), wall


def load_test(
    model_uri: str, reviews: list[str], settings: Mapping[str, int], cwd: Path = ROOT
) -> dict:
    """One server of ``model_uri`` under the load ``settings`` (as SETTINGS) describe:
    single-review latency, then batch throughput."""
    concurrency, batch = settings["concurrency"], settings["batch_size"]
    singles = [
        json.dumps({"inputs": [reviews[i % len(reviews)]]}) for i in range(settings["requests"])
    ]
    batches = [
        json.dumps({"inputs": [reviews[(i * batch + j) % len(reviews)] for j in range(batch)]})
        for i in range(settings["batch_requests"])
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()}
    with scoring_server(model_uri, cwd, env, workers=settings["workers"]) as url:
        fire(url, singles[: concurrency * 4], concurrency)  # warm-up, not counted
        latencies, single_errors, single_wall = fire(url, singles, concurrency)
        batch_latencies, batch_errors, batch_wall = fire(url, batches, concurrency)
    return {
        "model_uri": model_uri,
        "single_review": {
            "requests": len(singles),
            "concurrency": concurrency,
            "errors": single_errors,
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "requests_per_second": round(len(singles) / single_wall, 1),
        },
        f"batch_of_{batch}": {
            "requests": len(batches),
            "concurrency": concurrency,
            "errors": batch_errors,
            "p50_ms": round(percentile(batch_latencies, 50), 1),
            "p95_ms": round(percentile(batch_latencies, 95), 1),
            "reviews_per_second": round(len(batches) * batch / batch_wall, 1),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", help="model URI (repeatable)")
    for name, default in SETTINGS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    parser.add_argument("--out", type=Path, default=BENCH / "serving.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    mlflow.set_tracking_uri(tracking_uri())
    models = args.model or ["models:/imdb-sentiment@champion", _run_uri("tfidf")]
    reviews_file = ROOT / "data" / "prepared" / "reviews.parquet"
    if not reviews_file.exists():
        sys.exit(f"error: {reviews_file} is missing; run `dvc repro` first")
    reviews = pd.read_parquet(reviews_file, columns=["split", "text"])
    reviews = reviews[reviews.split == "test"].text.tolist()
    settings = {name: getattr(args, name) for name in SETTINGS}
    results = []
    for uri in models:
        log.info("load-testing %s ...", uri)
        results.append(load_test(uri, reviews, settings))
        log.info("%s", json.dumps(results[-1], indent=2))
    write_json(args.out, {"date": time.strftime("%Y-%m-%d"), "results": results})
    failed = sum(
        r["single_review"]["errors"] + r[f"batch_of_{args.batch_size}"]["errors"] for r in results
    )
    return 1 if failed else 0


def _run_uri(model_name: str) -> str:
    record = read_json(ROOT / "models" / model_name / "mlflow.json")
    return f"runs:/{record['run_id']}/{model_name}"


if __name__ == "__main__":
    sys.exit(main())
