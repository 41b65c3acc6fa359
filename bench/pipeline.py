"""The pipeline at its defaults, measured: a cold `dvc repro` in a fresh clone (each stage's
time and peak memory), the accuracy it reaches, and the spread of that accuracy over training
seeds."""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from bench import ROOT
from bench.corpora import spread_of
from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.files import read_json
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.tracking.runs import git_commit

log = logging.getLogger(__name__)

CACHED_REPROS = 3  # fully cached `dvc repro` runs (the median counts)


def run_measured(command: list[str], cwd: Path, env: dict) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB of the command and the processes it waited for, status)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=sys.stderr, stderr=sys.stderr)
    _, status, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def bench_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for name in ("MLFLOW_TRACKING_URI", "DVC_ROOT"):
        env.pop(name, None)
    return env


def pipeline_stages(params: dict) -> list[str]:
    """Every stage of the pipeline, corpus by corpus, in an order `dvc repro` can run them."""
    stages = []
    for c in params["corpora"]:
        stages += [f"download@{c}", f"prepare@{c}", *(f"train@{c}-{a}" for a in params["models"])]
        stages += [*(f"baseline@{c}-{b}" for b in params["baselines"]), f"probes@{c}"]
        stages += [*(f"score@{c}-{m}" for m in params["models"])]
        stages += [*(f"score_baseline@{c}-{b}" for b in params["baselines"])]
        for ensemble in params.get("ensembles", {}):
            stages += [f"ensemble@{c}-{ensemble}", f"score_ensemble@{c}-{ensemble}"]
        stages += [f"compare@{c}", f"report@{c}"]
    return [*stages, *(f"transfer@{c}" for c in params["corpora"]), "summary"]


def clone_head(clone: Path) -> dict:
    """A fresh clone of HEAD at ``clone``, its local data sources pinned to this checkout's;
    returns its params."""
    if clone.exists():
        shutil.rmtree(clone)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return pin_sources(clone)


def pin_sources(clone: Path) -> dict:
    params = yaml.safe_load((clone / "params.yaml").read_text())
    sources = [s for corpus in params["corpora"].values() for s in corpus["sources"]]
    local = [s for s in sources if not s["url"].startswith(("http:", "https:"))]
    if any(not (clone / s["url"]).exists() for s in local):
        for source in local:  # a clone elsewhere: pin the local sources to this checkout's
            source["url"] = str((ROOT / source["url"]).resolve())
        (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def cold_pipeline(clone: Path) -> dict:
    """Time every stage of a cold `dvc repro` in a fresh clone, then a cached one."""
    params = clone_head(clone)
    commands = {s: ["dvc", "repro", "--single-item", s] for s in pipeline_stages(params)}
    commands["promote"] = ["imdb_sentiment", "promote"]  # as `make run`: register, move `champion`
    return timed(clone, commands)


def rescore(clone: Path, cold: dict) -> dict:
    """The cold run's clone moved to HEAD, whose recurrent training code is the cold run's:
    every stage but download, prepare and train@* run again and timed (the recurrent models
    stay cached), then the cached repro."""
    # HEAD's files, but the clone's dvc.lock: it records the cold run's trained models, which
    # stay valid while their code is unchanged (dvc repro then retrains nothing). Their
    # training headlines (metrics/train/, kept in git) stay the cold run's too: HEAD's copies
    # may come from another machine's run.
    subprocess.run(["git", "fetch", "--quiet", str(ROOT), "HEAD"], cwd=clone, check=True)
    keep = [":(exclude)dvc.lock", ":(exclude)metrics/*/train"]
    checkout = ["git", "checkout", "FETCH_HEAD", "--", ".", *keep]
    subprocess.run(checkout, cwd=clone, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "FETCH_HEAD"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.strip()
    params = pin_sources(clone)
    stages = pipeline_stages(params)
    trained = [s for s in stages if s.startswith("train@")]
    # HEAD's code for the cold run's models (moved or inference-only code, never the fit):
    # recorded in dvc.lock, so that the cached repro below retrains nothing.
    record = [sys.executable, "-m", "dvc", "commit", "--force", *trained]
    subprocess.run(record, cwd=clone, check=True)
    later = [s for s in stages if not s.startswith(("download@", "prepare@")) and s not in trained]
    commands = {s: ["dvc", "repro", "--force", "--single-item", s] for s in later}
    commands["promote"] = ["imdb_sentiment", "promote"]
    again = timed(clone, commands)
    kept = {s: t for s, t in cold["stages"].items() if s not in again["stages"]}
    return again | {
        "commit": head,
        "stages": kept | again["stages"],
        "trained_at": cold["commit"],
        **totals(kept | again["stages"]),
    }


def totals(timings: dict) -> dict:
    scoring = [s for s in timings if s.startswith(("score", "ensemble")) or s == "compare"]
    return {
        "total_seconds": round(sum(t["seconds"] for t in timings.values()), 1),
        # Every score stage, ensembles included, and compare: what `evaluate` alone once did.
        "scoring_seconds": round(sum(timings[s]["seconds"] for s in scoring), 1),
        "outside_training_seconds": round(
            sum(t["seconds"] for s, t in timings.items() if not s.startswith("train@")), 1
        ),
        "max_stage_rss_mb": max(t["peak_rss_mb"] for t in timings.values()),
    }


def timed(clone: Path, commands: dict) -> dict:
    """Run each command in ``clone``, timing it and its peak RSS; then the cached repro."""
    env = bench_env()
    timings = {}
    for step, command in commands.items():
        log.info("cold: %s", step)
        wall, rss, status = run_measured([sys.executable, "-m", *command], clone, env)
        if status:
            raise SystemExit(f"{step} failed (exit {status})")
        timings[step] = {"seconds": round(wall, 1), "peak_rss_mb": round(rss)}
    cached = []
    for _ in range(CACHED_REPROS):
        wall, _, status = run_measured([sys.executable, "-m", "dvc", "repro"], clone, env)
        cached.append(wall)
    return {
        "commit": git_commit(clone),
        "stages": timings,
        **totals(timings),
        "cached_repro_seconds": round(statistics.median(cached), 2),
        "cached_repro_runs": CACHED_REPROS,
    }


def evaluation_of(clone: Path, name: str, corpus: str = "imdb") -> dict:
    """The compare stage's detail JSON of model ``name`` of ``corpus`` in ``clone`` (or
    ``order``, the answer)."""
    return read_json(clone / CorpusPaths(corpus).outputs.evaluation / f"{name}.json")


def test_texts(clone: Path, corpus: str = "imdb") -> int:
    """How many texts (reviews, sentences) the corpus's prepared test split holds."""
    import pandas as pd

    prepared = PreparedPaths(clone / CorpusPaths(corpus).prepared)
    reviews = pd.read_parquet(prepared.reviews, columns=["split"])
    return int((reviews.split == "test").sum())


def accuracy_at_defaults(clone: Path, corpus: str = "imdb") -> dict:
    params = yaml.safe_load((clone / "params.yaml").read_text())
    results = {}
    for name in [*params["models"], *params["baselines"], *params.get("ensembles", {})]:
        metrics = evaluation_of(clone, name, corpus)
        training = read_json(clone / CorpusPaths(corpus).models / name / "training.json")
        results[name] = {
            "test_accuracy": metrics["test_accuracy"],
            "test_accuracy_ci_low": metrics["test_accuracy_ci_low"],
            "test_accuracy_ci_high": metrics["test_accuracy_ci_high"],
            "val_accuracy": metrics["val_accuracy"],
            "shuffled_test_accuracy": metrics["shuffled_test_accuracy"],
            "contrast_pair_accuracy": metrics["contrast_pair_accuracy"],
            "epochs_run": training.get("epochs_run"),
            "best_epoch": training.get("best_epoch"),
            "train_seconds": training["train_seconds"],
        }
    return results


def seed_spread(
    clone: Path,
    seeds: list[int],
    models: dict,
    only: list[str] | None = None,
    corpus: str = "imdb",
) -> dict:
    """Each recurrent default (or those in ``only``) trained with each of ``seeds`` (weights,
    dropout and batch order; the prepared data and validation split stay the cold run's),
    scored on test, and what it adds on top of the cold run's best bag (weights on
    validation, paired on test); the mean and std over seeds of both. The cold run's own seed
    is the first entry."""
    import keras

    from imdb_sentiment.data.text import Vocabulary
    from imdb_sentiment.evaluation.compare import on_top_of
    from imdb_sentiment.evaluation.intervals import is_right, metric_intervals
    from imdb_sentiment.evaluation.probes import load_probes
    from imdb_sentiment.evaluation.scoring import SCORES_FILE, score_folder
    from imdb_sentiment.params import BAG_OF_WORDS, load_params
    from imdb_sentiment.serving.predictors import KerasPredictor

    params = load_params(clone / "params.yaml", corpus)
    paths = CorpusPaths(corpus)
    prepared = PreparedPaths(clone / paths.prepared)
    config = read_json(prepared.config)["prepare"]
    data = load_probes(clone / paths.probes)
    test = data.test
    vocab = Vocabulary.load(prepared.vocab)
    answer = evaluation_of(clone, "order", corpus)
    bag = answer["best_bag"]
    with np.load(score_folder(BAG_OF_WORDS, bag, clone / paths.scores) / SCORES_FILE) as saved:
        bag_scores = {key: saved[key] for key in ("val", "test")}
    results = {}
    for name, spec in params.models.items():
        if only and name not in only:
            continue
        runs = [
            {
                "seed": params.seed,
                "test_accuracy": models[name]["test_accuracy"],
                "on_top": answer["on_top"][name],
            }
        ]
        for seed in seeds:
            started = time.perf_counter()
            model, stopper = seed_model(params, prepared, name, seed)
            predictor = KerasPredictor(
                model,
                Vocabulary(vocab.tokens[: spec.vocab_size]),
                config["max_len"],
                config["truncating"],
            )
            probabilities = predictor.positive_probability(test.text.tolist())
            labels = test.label.to_numpy()
            accuracy = float(np.mean(is_right(probabilities, labels)))
            interval = metric_intervals(labels, probabilities, seed=params.seed)
            own = {
                "val": predictor.positive_probability(data.val.text.tolist()).astype(np.float32),
                "test": probabilities.astype(np.float32),
            }
            gain = on_top_of(bag_scores, own, bag, name, data, params.seed)
            runs.append(
                {
                    "seed": seed,
                    "test_accuracy": accuracy,
                    "test_accuracy_ci_low": interval["test_accuracy_ci_low"],
                    "test_accuracy_ci_high": interval["test_accuracy_ci_high"],
                    "best_epoch": stopper.best_epoch + 1,
                    "seconds": round(time.perf_counter() - started, 1),
                    "on_top": gain,
                }
            )
            log.info(
                "seed %d %s: test_accuracy %.4f, on top of %s %+.4f [%+.4f, %+.4f]",
                seed,
                name,
                accuracy,
                bag,
                gain["difference"],
                gain["ci_low"],
                gain["ci_high"],
            )
            keras.backend.clear_session()
        results[name] = {
            "seeds": [r["seed"] for r in runs],
            "runs": runs,
            "bag": bag,
            **spread_of(runs),
        }
    return results


def seed_model(params, prepared, name: str, seed: int) -> tuple:  # (keras.Model, its stopper)
    """Model ``name`` of ``params`` trained with ``seed``, as `train@NAME` trains it."""
    from imdb_sentiment.models.batches import SplitArrays
    from imdb_sentiment.models.training import early_stopping, embedding_start, fit_model

    spec = params.models[name]
    arrays = SplitArrays.load(prepared, spec.vocab_size)
    stopper = early_stopping(params.train)
    start = embedding_start(spec, prepared)
    model = fit_model(name, spec, arrays, seed, params.train, stopper, start=start)
    return model, stopper
