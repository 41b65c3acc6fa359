"""Soak test of `mlflow models serve`: a bounded stream of good and malformed requests.

    python -m bench.soak          # the champion and a recurrent model, at -w 1 and -w 2
    python -m bench.soak --tracking-uri sqlite:////abs/repo/mlflow.db \\
        --reviews /abs/repo/data/prepared/reviews.parquet --requests 300
    python -m bench.soak --model models:/imdb-sentiment/3 --workers 2

Each server (one per model and worker count) gets --requests requests, --concurrency at a time;
every --malformed-every'th is a hostile one, the kinds in turn: broken JSON, an empty body, a
wrong column, an int, a null, nested lists, a wrong content type (each must get a 4xx), and a
2.4 MB review and 5,000 reviews in one request (valid, so each must get a 200). Good requests
are one real test review each, in the four request formats in turn. Recorded: requests/s,
p50/p99 of good requests, answers by status per kind, the server's peak RSS (the process and
its workers, sampled), and whether it still answers /ping afterwards. Writes bench/soak.json
and renders bench/RESULTS.md (bench/render.py). Exits 1 if any target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import pandas as pd
import psutil
import requests

from bench import RESULTS_JSON, RESULTS_MD, ROOT, SOAK_JSON
from bench.render import write_rendered
from bench.serve_load import percentile
from imdb_sentiment.files import read_json, write_json
from imdb_sentiment.serving.scoring_server import scoring_server_process
from imdb_sentiment.tracking.registry import CHAMPION_ALIAS, registered_model
from imdb_sentiment.tracking.runs import git_commit
from imdb_sentiment.tracking.store import tracking_uri

log = logging.getLogger(__name__)
REGISTERED = registered_model("imdb")  # the soak serves IMDB's champion

REQUEST_TIMEOUT = 120  # seconds; MLflow's own request timeout (60 s by default) answers 504 first
HUGE_REVIEW_BYTES = 2_400_000
MANY_ROWS = 5_000
JSON, CSV = "application/json", "text/csv"

# A request: (kind, body, content type). A kind's expected answer: "200" or "4xx".
Request = tuple[str, str, str]


def good_requests() -> list[Callable[[str], Request]]:
    """One review per request, in each of the request formats the contract names."""
    return [
        lambda r: ("good: inputs", json.dumps({"inputs": [r]}), JSON),
        lambda r: (
            "good: dataframe_split",
            json.dumps({"dataframe_split": {"columns": ["text"], "data": [[r]]}}),
            JSON,
        ),
        lambda r: (
            "good: dataframe_records",
            json.dumps({"dataframe_records": [{"text": r}]}),
            JSON,
        ),
        lambda r: ("good: csv", pd.DataFrame({"text": [r]}).to_csv(index=False), CSV),
    ]


def hostile_requests(reviews: list[str]) -> list[tuple[Request, str]]:
    """The hostile requests in turn, each with the answer it must get."""
    huge = " ".join(reviews)
    huge = (huge * (HUGE_REVIEW_BYTES // max(len(huge), 1) + 1))[:HUGE_REVIEW_BYTES]
    # Short rows: the request's cost is its row count, not 5,000 whole reviews to score.
    rows = [reviews[i % len(reviews)][:100] for i in range(MANY_ROWS)]
    return [
        (("bad JSON", '{"inputs": ["an unterminated review', JSON), "4xx"),
        (("empty body", "", JSON), "4xx"),
        (
            (
                "wrong column",
                json.dumps({"dataframe_split": {"columns": ["review"], "data": [["Fine."]]}}),
                JSON,
            ),
            "4xx",
        ),
        (("int", json.dumps({"inputs": ["Fine.", 5]}), JSON), "4xx"),
        (("null", json.dumps({"inputs": {"text": ["Fine.", None]}}), JSON), "4xx"),
        (
            (
                "nested lists",
                json.dumps(
                    {"dataframe_split": {"columns": ["text"], "data": [[["Fine.", "Dull."]]]}}
                ),
                JSON,
            ),
            "4xx",
        ),
        (("wrong content type", "text\nFine.\n", "text/plain"), "4xx"),
        (("2.4 MB review", json.dumps({"inputs": [huge]}), JSON), "200"),
        ((f"{MANY_ROWS} rows", json.dumps({"inputs": rows}), JSON), "200"),
    ]


def request_plan(reviews: list[str], count: int, malformed_every: int) -> tuple[list, dict]:
    """``count`` requests, every ``malformed_every``'th hostile; and each kind's expected answer."""
    good, hostile = good_requests(), hostile_requests(reviews)
    expected = {kind: answer for (kind, _, _), answer in hostile}
    expected |= {make("")[0]: "200" for make in good}
    plan = []
    for i in range(count):
        if (i + 1) % malformed_every == 0:
            plan.append(hostile[(i // malformed_every) % len(hostile)][0])
        else:
            plan.append(good[i % len(good)](reviews[i % len(reviews)]))
    return plan, expected


class PeakRss:
    """The largest resident memory of a process and its children, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.2):
        self.process, self.every = psutil.Process(pid), every
        self.peak = self.last = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            # a worker that exited between listing and reading
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        self.last, self.peak = total, max(self.peak, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> PeakRss:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def send(url: str, plan: list[Request], concurrency: int) -> tuple[list[tuple], float]:
    """POST every request, ``concurrency`` at a time: ([(kind, status, ms)], wall seconds)."""
    local = threading.local()

    def one(request: Request) -> tuple[str, str, float]:
        kind, body, content_type = request
        if not hasattr(local, "session"):
            local.session = requests.Session()
        started = time.perf_counter()
        try:
            response = local.session.post(
                f"{url}/invocations",
                data=body.encode(),
                headers={"Content-Type": content_type},
                timeout=REQUEST_TIMEOUT,
            )
            status = str(response.status_code)
        except requests.RequestException as error:  # no answer at all: as bad as a 5xx
            status = f"no answer ({type(error).__name__})"
        return kind, status, (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, plan))
    return results, time.perf_counter() - started


def answers(url: str) -> dict:
    """Whether the server still answers /ping and a review, after the soak."""
    try:
        ping = requests.get(f"{url}/ping", timeout=10).status_code
        review = requests.post(
            f"{url}/invocations", json={"inputs": ["Still there?"]}, timeout=30
        ).status_code
    except requests.RequestException as error:
        return {"ping_after": False, "predicts_after": False, "error": type(error).__name__}
    return {"ping_after": ping == 200, "predicts_after": review == 200}


def soak_server(
    model_uri: str,
    name: str,
    workers: int,
    plan: list[Request],
    expected: dict,
    args: argparse.Namespace,
    cwd: Path,
    env: dict,
) -> dict:
    with scoring_server_process(model_uri, cwd, env, workers=workers) as (url, process):
        warm_up = [request for request in plan if request[0].startswith("good")]
        send(url, warm_up[: args.concurrency * 4], args.concurrency)  # not counted
        with PeakRss(process.pid) as rss:
            start_mb = rss.sample() / 2**20
            results, wall = send(url, plan, args.concurrency)
        after = answers(url)
    by_kind: dict[str, Counter] = {kind: Counter() for kind in expected}
    for kind, status, _ in results:
        by_kind[kind][status] += 1
    good_ms = [ms for kind, status, ms in results if kind.startswith("good") and status == "200"]
    missed = {
        kind: {s: n for s, n in counts.items() if not _meets(s, expected[kind])}
        for kind, counts in by_kind.items()
    }
    return {
        "model_uri": model_uri,
        "model_name": name,
        "workers": workers,
        "requests": len(plan),
        "concurrency": args.concurrency,
        "wall_seconds": round(wall, 1),
        "requests_per_second": round(len(plan) / wall, 1),
        "good_requests": sum(kind.startswith("good") for kind, _, _ in results),
        "good_p50_ms": round(percentile(good_ms, 50), 1) if good_ms else None,
        "good_p99_ms": round(percentile(good_ms, 99), 1) if good_ms else None,
        "by_kind": {
            kind: {"expected": expected[kind], "statuses": dict(sorted(counts.items()))}
            for kind, counts in by_kind.items()
        },
        "server_errors": sum(
            n for counts in by_kind.values() for s, n in counts.items() if s[0] not in "1234"
        ),
        "missed_targets": sum(n for counts in missed.values() for n in counts.values()),
        "rss_mb_after_warm_up": round(start_mb, 1),
        "rss_mb_at_end": round(rss.last / 2**20, 1),
        "peak_rss_mb": round(rss.peak / 2**20, 1),
        **after,
    }


def _meets(status: str, expected: str) -> bool:
    return status == "200" if expected == "200" else status.startswith("4")


def default_models(client: mlflow.MlflowClient) -> list[tuple[str, str]]:
    """(URI, name): the champion, and a recurrent model (lstm, unless it is the champion)."""
    champion = client.get_model_version_by_alias(REGISTERED, CHAMPION_ALIAS)
    versions = client.search_model_versions(f"name='{REGISTERED}'")
    recurrent = {
        v.tags.get("model_name"): v
        for v in sorted(versions, key=lambda v: int(v.version))
        if v.tags.get("model_family") == "recurrent" and v.version != champion.version
    }
    if not recurrent:
        sys.exit(
            f"error: no recurrent model registered as {REGISTERED!r} besides the "
            "champion; run `dvc repro` and `imdb-sentiment promote` first"
        )
    other = recurrent.get("lstm") or next(iter(recurrent.values()))
    return [
        (f"models:/{REGISTERED}@{CHAMPION_ALIAS}", champion.tags.get("model_name", "?")),
        (f"models:/{REGISTERED}/{other.version}", other.tags.get("model_name", "?")),
    ]


def run_soak(store: str, reviews_file: Path, args: argparse.Namespace, cwd: Path = ROOT) -> dict:
    """Soak every model at every worker count; the results as bench/soak.json holds them."""
    if not reviews_file.exists():
        sys.exit(f"error: {reviews_file} is missing; run `dvc repro` first (or pass --reviews)")
    reviews = pd.read_parquet(reviews_file, columns=["split", "text"])
    reviews = reviews[reviews.split == "test"].text.tolist()
    client = mlflow.MlflowClient(tracking_uri=store)
    models = [(uri, uri) for uri in args.model] if args.model else default_models(client)
    plan, expected = request_plan(reviews, args.requests, args.malformed_every)
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    runs = []
    for uri, name in models:
        for workers in args.workers:
            log.info("soak: %s (%s), %d worker(s) ...", uri, name, workers)
            runs.append(soak_server(uri, name, workers, plan, expected, args, cwd, env))
            log.info("%s", json.dumps(runs[-1], indent=2))
    return {
        "date": time.strftime("%Y-%m-%d"),
        "commit": git_commit(ROOT),
        "tracking_uri": _within(store, cwd),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "malformed_every": args.malformed_every,
        "runs": runs,
    }


def targets_met(soak: dict) -> bool:
    """0 server errors, every good request 200, every malformed one 4xx, /ping after."""
    return all(
        not run["missed_targets"] and not run["server_errors"] and run["ping_after"]
        for run in soak["runs"]
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracking-uri", help="the store to serve from (default: the project's)")
    parser.add_argument(
        "--model",
        action="append",
        help="model URI, repeatable (default: the champion and a recurrent model)",
    )
    parser.add_argument(
        "--reviews",
        type=Path,
        default=ROOT / "data" / "prepared" / "reviews.parquet",
        help="prepared reviews; the test split's are sent",
    )
    parser.add_argument("--requests", type=int, default=10_000, help="requests per server")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--malformed-every", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="`-w` values")
    parser.add_argument("--out", type=Path, default=SOAK_JSON)
    parser.add_argument("--no-report", action="store_true", help=f"leave {RESULTS_MD} as it is")
    return parser


def main() -> int:
    args = parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    store = args.tracking_uri or tracking_uri()
    soak = run_soak(store, args.reviews.resolve(), args)
    write_json(args.out, soak)
    log.info("wrote %s", args.out)
    if not args.no_report and RESULTS_JSON.exists():
        write_rendered(read_json(RESULTS_JSON), soak)
        log.info("rendered %s", RESULTS_MD)
    return 0 if targets_met(soak) else 1


def _within(store: str, checkout: Path) -> str:
    """The store as bench/soak.json records it: a SQLite file inside the soaked checkout is
    named relative to it, so the results carry no machine's paths."""
    inside = f"sqlite:///{checkout.resolve()}/"
    return "sqlite:///" + store.removeprefix(inside) if store.startswith(inside) else store


if __name__ == "__main__":
    sys.exit(main())
