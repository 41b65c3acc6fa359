"""The pipeline at its defaults, measured: a cold `dvc repro` in a fresh clone (each stage's
time and peak memory), the accuracy it reaches, and the spread of that accuracy over training
seeds."""

from __future__ import annotations

import functools
import hashlib
import json
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
from bench.corpora import WORDS_EQUAL, mean_and_std, spread_of
from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.files import atomic_path, read_json, write_json
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


# In a clone: the benchmark's own trainings (seeds, init twins), scores and numbers, each kept
# under a digest of what it was trained from.
BENCH_CACHE = Path(".bench-cache")


class CloneCorpus:
    """One corpus of a full-data clone, as the benchmark's extra trainings need it: its params,
    prepared data, probes, saved scores and answer, and a way to train and score a model
    exactly as `train@NAME` and `score@NAME` do."""

    def __init__(self, clone: Path, corpus: str):
        from imdb_sentiment.data.text import Vocabulary
        from imdb_sentiment.evaluation.probes import load_probes
        from imdb_sentiment.params import BAG_OF_WORDS, load_params

        self.clone, self.corpus = clone, corpus
        self.params = load_params(clone / "params.yaml", corpus)
        self.paths = CorpusPaths(corpus)
        self.prepared = PreparedPaths(clone / self.paths.prepared)
        self.config = read_json(self.prepared.config)["prepare"]
        self.data = load_probes(clone / self.paths.probes)
        self.vocab = Vocabulary.load(self.prepared.vocab)
        self.answer = evaluation_of(clone, "order", corpus)
        self.bag = self.answer["best_bag"]
        self.bag_scores = self.saved_scores(self.bag, BAG_OF_WORDS)

    def saved_scores(self, name: str, family: str | None = None) -> dict[str, np.ndarray]:
        """The validation and test scores the pipeline saved for ``name``."""
        from imdb_sentiment.evaluation.scoring import SCORES_FILE, score_folder

        family = family or self.params.models[name].family
        with np.load(score_folder(family, name, self.clone / self.paths.scores) / SCORES_FILE) as f:
            return {key: f[key] for key in ("val", "test")}

    def train_and_score(self, name: str, seed: int, spec=None) -> tuple[dict, dict]:
        """``name`` (or ``spec`` under its name) trained with ``seed`` and scored on validation
        and test: (its scores, its run's numbers). Each is kept in the clone's bench cache,
        keyed by everything it was trained from, so a killed benchmark or a later one with
        other options trains it once."""
        spec = spec or self.params.models[name]
        cached = self.clone / BENCH_CACHE / self.corpus / f"{name}-{seed}-{self.key(spec, seed)}"
        if (cached / "scores.npz").exists():
            with np.load(cached / "scores.npz") as saved:
                own = {key: saved[key] for key in ("val", "test")}
            log.info("%s seed %d: from %s", name, seed, cached)
            return own, read_json(cached / "run.json")
        own, run = self._train_and_score(name, seed, spec)
        with atomic_path(cached, directory=True) as tmp:
            np.savez(tmp / "scores.npz", **own)
            write_json(tmp / "run.json", run)
        return own, run

    def key(self, spec, seed: int) -> str:
        """A digest of what a training depends on: the model, seed and training params, and
        the DVC hashes of the prepared data and the word vectors it reads."""
        basis = {
            "spec": spec.model_dump(),
            "seed": seed,
            "train": self.params.train.model_dump(),
            "data": self.data_hashes,
        }
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:10]

    @functools.cached_property
    def data_hashes(self) -> dict[str, str | None]:
        """dvc.lock's hashes of the prepared data and the word vectors, read once."""
        lock = yaml.safe_load((self.clone / "dvc.lock").read_text())["stages"]
        return {
            out["path"]: out.get("md5")
            for stage in (f"prepare@{self.corpus}", "word_vectors")
            for out in lock.get(stage, {}).get("outs", [])
        }

    def _train_and_score(self, name: str, seed: int, spec) -> tuple[dict, dict]:
        import keras

        from imdb_sentiment.data.text import Vocabulary
        from imdb_sentiment.evaluation.intervals import is_right, metric_intervals
        from imdb_sentiment.serving.predictors import KerasPredictor

        started = time.perf_counter()
        model, stopper = seed_model(self.params, self.prepared, name, seed, spec, self.clone)
        predictor = KerasPredictor(
            model,
            Vocabulary(self.vocab.tokens[: spec.vocab_size]),
            self.config["max_len"],
            self.config["truncating"],
        )
        own = {
            "val": predictor.positive_probability(self.data.val.text.tolist()).astype(np.float32),
            "test": predictor.positive_probability(self.data.test.text.tolist()).astype(np.float32),
        }
        keras.backend.clear_session()
        labels = self.data.test.label.to_numpy()
        interval = metric_intervals(labels, own["test"], seed=self.params.seed)
        run = {
            "seed": seed,
            "val_accuracy": float(np.mean(is_right(own["val"], self.data.val.label.to_numpy()))),
            "test_accuracy": float(np.mean(is_right(own["test"], labels))),
            "test_accuracy_ci_low": interval["test_accuracy_ci_low"],
            "test_accuracy_ci_high": interval["test_accuracy_ci_high"],
            "best_epoch": stopper.best_epoch + 1,
            "seconds": round(time.perf_counter() - started, 1),
        }
        return own, run

    def paired(self, one: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict:
        """``one`` minus ``other`` in test accuracy, paired on the same texts."""
        from imdb_sentiment.evaluation.intervals import is_right, paired_difference

        labels = self.data.test.label.to_numpy()
        difference = paired_difference(
            is_right(one["test"], labels), is_right(other["test"], labels), self.params.seed
        )
        return {k: round(v, 6) for k, v in difference.items()}


def seed_spread(
    clone: Path,
    seeds: list[int],
    models: dict,
    only: list[str] | None = None,
    corpus: str = "imdb",
) -> dict:
    """Each neural default (or those in ``only``) trained with each of ``seeds`` (weights,
    dropout and batch order; the prepared data and validation split stay the cold run's),
    scored on test, and what it adds on top of the cold run's best bag (weights on
    validation, paired on test); the mean and std over seeds of both. The cold run's own seed
    is the first entry, from its saved scores. Where the best recurrent model and the neural
    bag the answer sets it against are both measured, ``words_equal`` holds that difference
    per seed (each seed's recurrent model against the same seed's neural bag)."""
    from imdb_sentiment.evaluation.compare import on_top_of

    here = CloneCorpus(clone, corpus)
    results: dict = {}
    kept: dict[str, dict[int, dict]] = {}
    for name in here.params.models:
        if only and name not in only:
            continue
        kept[name] = {here.params.seed: here.saved_scores(name)}
        runs = [{"seed": here.params.seed, "test_accuracy": models[name]["test_accuracy"]}]
        for seed in seeds:
            kept[name][seed], run = here.train_and_score(name, seed)
            runs.append(run)
        for run in runs:
            run["on_top"] = on_top_of(
                here.bag_scores,
                kept[name][run["seed"]],
                here.bag,
                name,
                here.data,
                here.params.seed,
            )
            log.info(
                "seed %d %s: test_accuracy %.4f, on top of %s %+.4f",
                run["seed"],
                name,
                run["test_accuracy"],
                here.bag,
                run["on_top"]["difference"],
            )
        results[name] = {"seeds": [r["seed"] for r in runs], "runs": runs, "bag": here.bag}
        results[name] |= spread_of(runs)
    words = here.answer.get("words_equal")
    if words and words["model"] in kept and words["neural_bag"] in kept:
        recurrent, twin = kept[words["model"]], kept[words["neural_bag"]]
        runs = [{"seed": s, **here.paired(recurrent[s], twin[s])} for s in recurrent]
        results[WORDS_EQUAL] = {
            "model": words["model"],
            "neural_bag": words["neural_bag"],
            "embedding_init": words["embedding_init"],
            "runs": runs,
            **mean_and_std("difference", [r["difference"] for r in runs]),
        }
    return results


def what_vectors_buy(clone: Path, names: list[str], corpus: str = "imdb") -> dict:
    """Each of ``names`` trained at the clone's seed with the other ``embedding_init`` (random
    <-> word_vectors; a model that takes the vectors takes their width), against the
    pipeline's own model, paired on test: the word vectors minus random init; and each init's
    model averaged with the best bag (weights on validation, as `on_top`), minus the bag."""
    from imdb_sentiment.evaluation.compare import on_top_of

    here = CloneCorpus(clone, corpus)
    results = {}
    for name in names:
        spec = here.params.models[name]
        other = "random" if spec.embedding_init == "word_vectors" else "word_vectors"
        changed = {"embedding_init": other}
        if other == "word_vectors":
            changed["embedding_dim"] = here.params.word_vectors.dim
        swapped = spec.model_copy(update=changed)
        scores, run = here.train_and_score(name, here.params.seed, swapped)
        saved = here.saved_scores(name)
        vectors, random = (saved, scores) if other == "random" else (scores, saved)
        results[name] = {
            "default_init": spec.embedding_init,
            "other": {"changed": changed, **run},
            "vectors_minus_random": here.paired(vectors, random),
            "on_top": {
                init: on_top_of(here.bag_scores, own, here.bag, name, here.data, here.params.seed)
                for init, own in (("random", random), ("word_vectors", vectors))
            },
            "bag": here.bag,
        }
        log.info(
            "%s: %s init %.4f test; word vectors minus random %+.4f",
            name,
            other,
            run["test_accuracy"],
            results[name]["vectors_minus_random"]["difference"],
        )
    return results


def seed_model(
    params, prepared, name: str, seed: int, spec=None, clone: Path = Path(".")
) -> tuple:  # (keras.Model, its stopper)
    """Model ``name`` of ``params`` (or ``spec``) trained with ``seed``, as `train@NAME` trains
    it, its word vectors the ``clone``'s."""
    from imdb_sentiment.models.batches import SplitArrays
    from imdb_sentiment.models.training import early_stopping, embedding_start, fit_model
    from imdb_sentiment.paths import WORD_VECTORS

    spec = spec or params.models[name]
    arrays = SplitArrays.load(prepared, spec.vocab_size)
    stopper = early_stopping(params.train)
    start = embedding_start(spec, prepared, clone / WORD_VECTORS)
    model = fit_model(name, spec, arrays, seed, params.train, stopper, start=start)
    return model, stopper
