"""What SST-2's phrase labels teach: the clone's SST-2 pipeline run again on the training
sentences alone (params.yaml `corpora.sst2.read.train_on: sentences`) as a DVC experiment in a
temporary copy of the clone (`dvc exp run --temp`), so the clone's own outputs stay those of
its run on every phrase. Each model's test and validation accuracy and the answer in two parts,
both ways, and each model's test accuracy on phrases minus on sentences, paired on the same test
sentences with its bootstrap interval."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.pipeline import bench_env
from imdb_sentiment.params import Params, Source, load_params
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.tracking.runs import git_commit

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

CORPUS = "sst2"
SETTING = f"corpora.{CORPUS}.read.train_on"
EXPERIMENT = "bench-sst2-sentences"  # removed after it is read, and before, if a run left it
TARGET = f"compare@{CORPUS}"  # the corpus's stages up to its numbers, no other corpus's
PATHS = CorpusPaths(CORPUS)
# Keys of the compare stage's answer (reports/sst2/evaluation/order.json) kept per side.
ANSWER_KEYS = ("best_recurrent", "best_bag", "head_to_head", "on_top")
AGREEMENT = 1e-5  # the metric files round to 5 digits


def train_on_sentences(clone: Path) -> dict:
    """The clone's SST-2 run on phrases (its workspace) against the same pipeline trained on
    sentences alone (a temporary DVC experiment, removed afterwards): per side, each model's
    test and validation accuracy, the answer and the training texts; per model, phrases minus
    sentences on test with its paired interval; the experiment's wall seconds.

    The clone's SST-2 outputs must be those of its params and code (`dvc status` clean), and
    no other DVC command may hold the clone's lock while the experiment is set up or saved."""
    params = load_params(clone / "params.yaml", CORPUS)
    if params.read.train_on != "phrases":
        raise SystemExit(f"{clone}: {SETTING} is {params.read.train_on}, not phrases")
    env = bench_env()
    status = json.loads(dvc(clone, env, "status", "--json", TARGET, capture=True) or "{}")
    if status:
        raise SystemExit(
            f"{clone}: `dvc status {TARGET}` lists changes ({', '.join(status)}): its SST-2 "
            "numbers are not those of its params and code; run `dvc repro` there first"
        )
    dvc(clone, env, "exp", "remove", EXPERIMENT, check=False)  # an interrupted run's
    # The experiment's MLflow runs go to a store of their own, thrown away as the experiment
    # is: the clone's store, where serving finds its champion, keeps its own runs alone.
    with tempfile.TemporaryDirectory(prefix="bench-sentences-mlflow-") as store:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(store) / 'mlflow.db'}"
        command = ["exp", "run", "--temp", "-n", EXPERIMENT, "-S", f"{SETTING}=sentences"]
        command += [*pinned_sources(clone, params.sources), TARGET]
        log.info("sentences: dvc %s", " ".join(command))
        started = time.perf_counter()
        dvc(clone, env, *command)
        seconds = time.perf_counter() - started
    try:
        workspace, experiment = shown_rows(dvc(clone, env, "exp", "show", "--json", capture=True))
        phrases = side(clone, workspace, None)
        sentences = side(clone, experiment, experiment["rev"])
        paired = phrases_minus_sentences(clone, experiment["rev"], params, phrases, sentences)
    finally:
        dvc(clone, env, "exp", "remove", EXPERIMENT, check=False)
    return {
        "commit": git_commit(clone),
        "setting": SETTING,
        "seconds": round(seconds, 1),
        "phrases": phrases,
        "sentences": sentences,
        "phrases_minus_sentences": paired,
    }


def dvc(clone: Path, env: dict, *args: str, capture: bool = False, check: bool = True) -> str:
    """`dvc ARGS` in ``clone``: its output when ``capture``, else streamed to stderr (as the
    cold run's stages are)."""
    out = subprocess.PIPE if capture else sys.stderr
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=clone, env=env, stdout=out, text=True
    )
    if check and result.returncode:
        raise SystemExit(f"dvc {' '.join(args)} failed in {clone} (exit {result.returncode})")
    return result.stdout or ""


def pinned_sources(clone: Path, sources: Sequence[Source]) -> list[str]:
    """`-S` naming the corpus's relative local sources by absolute path, or nothing: the
    experiment runs in a copy of the clone under .dvc/tmp, where `../shared/...` leads
    elsewhere."""

    def pinned(url: str) -> str:
        if url.startswith(("http:", "https:")) or Path(url).is_absolute():
            return url
        return str((clone / url).resolve())

    if all(pinned(s.url) == s.url for s in sources):
        return []
    listed = ",".join(f"{{url:'{pinned(s.url)}',sha256:'{s.sha256}'}}" for s in sources)
    return ["-S", f"corpora.{CORPUS}.sources=[{listed}]"]


def shown_rows(shown: str) -> tuple[dict, dict]:
    """The workspace's and the experiment's data from `dvc exp show --json`."""
    rows = json.loads(shown)
    workspace = next(row["data"] for row in rows if row["rev"] == "workspace")
    experiment = next(
        rev["data"]
        for row in rows
        for exp in row.get("experiments") or []
        for rev in exp["revs"]
        if rev.get("name") == EXPERIMENT
    )
    return workspace, experiment


def side(clone: Path, data: dict, rev: str | None) -> dict:
    """One side from its `dvc exp show` data (params and metrics) and its files at ``rev``
    (None: the workspace): the setting, the training texts, each model's test and validation
    accuracy, and the answer."""
    metrics = {path: found["data"] for path, found in data["metrics"].items() if "data" in found}
    test = metrics[str(PATHS.outputs.metrics / "test.json")]
    order = json.loads(read_at(clone, PATHS.outputs.order, rev))
    head = order["head_to_head"]
    shown_head = metrics[str(PATHS.outputs.metrics / "head_to_head.json")][head["model"]]
    agree(shown_head, head["difference"], f"{rev or 'workspace'}'s head to head")
    stats = json.loads(read_at(clone, PATHS.dataset_stats, rev))
    return {
        "train_on": data["params"]["params.yaml"]["data"]["corpora"][CORPUS]["read"]["train_on"],
        "train_texts": stats["counts"]["train"]["total"],
        "models": {
            name: {
                "test_accuracy": accuracy,
                "val_accuracy": metrics[str(PATHS.train_metrics / f"{name}.json")]["val"],
            }
            for name, accuracy in test.items()
        },
        "answer": {key: order[key] for key in ANSWER_KEYS},
    }


def phrases_minus_sentences(
    clone: Path, rev: str, params: Params, phrases: dict, sentences: dict
) -> dict:
    """Per model, test accuracy trained on phrases minus trained on sentences, paired on the
    same test sentences, with its bootstrap interval (each side's saved test scores)."""
    from imdb_sentiment.evaluation.intervals import is_right, paired_difference
    from imdb_sentiment.evaluation.probes import TEXTS_FILE
    from imdb_sentiment.evaluation.scoring import SCORES_FILE, score_folder

    tests = [labeled_test_set(read_at(clone, PATHS.probes / TEXTS_FILE, r)) for r in (None, rev)]
    if not tests[0].equals(tests[1]):
        raise SystemExit("the two runs' test sets differ: their scores cannot be paired")
    labels = tests[0].label.to_numpy()
    families = params.families()
    paired = {}
    for name in phrases["models"]:
        if name not in sentences["models"]:
            continue
        folder = score_folder(families[name], name, PATHS.scores) / SCORES_FILE
        right = {}
        for label, part, r in (("phrases", phrases, None), ("sentences", sentences, rev)):
            with np.load(io.BytesIO(read_at(clone, folder, r))) as saved:
                right[label] = is_right(saved["test"], labels)
            # The scores are those the side's metrics came from, in the test set's order.
            agree(part["models"][name]["test_accuracy"], right[label].mean(), f"{label} {name}")
        difference = paired_difference(right["phrases"], right["sentences"], params.seed)
        paired[name] = {key: round(value, 6) for key, value in difference.items()}
    return paired


def labeled_test_set(texts: bytes) -> pd.DataFrame:
    """The test rows (text, label) of a probes stage's texts file."""
    import pandas as pd

    rows = pd.read_parquet(io.BytesIO(texts))
    return rows[rows.set == "test"][["text", "label"]].reset_index(drop=True)


def read_at(clone: Path, path: Path, rev: str | None) -> bytes:
    """The bytes of ``path`` (tracked by git or DVC) in ``clone`` at ``rev``, or in its
    workspace (None)."""
    import dvc.api

    with dvc.api.open(str(path), repo=str(clone), rev=rev, mode="rb") as file:
        return file.read()


def agree(shown: float, computed: float, what: str) -> None:
    """Stop where a metric file and the file it was computed from disagree: the two were not
    read from the same run."""
    if abs(shown - computed) > AGREEMENT:
        raise SystemExit(f"{what}: the metric file says {shown}, its source {computed}")
