"""The score stages: one model on every text set of the probes stage -> its per-review
scores and its numbers (``scores/FAMILY/NAME/``), added to the model's MLflow run.

``score@NAME`` (a recurrent model) and ``score_baseline@NAME`` load the model and score each
text set once; ``score_ensemble@NAME`` scores nothing: an ensemble's probability is the
weighted mean of its members' (serving.average_scores), so it is computed from the scores
its members' stages saved. compare.py compares them all; nothing here reads another model.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from imdb_sentiment.evaluation.intervals import confusion_rows, roc_points
from imdb_sentiment.evaluation.model_evaluation import EvaluationData, evaluate_scores, score_texts
from imdb_sentiment.files import atomic_outputs, atomic_path, read_json, write_json
from imdb_sentiment.params import BAG_OF_WORDS, ENSEMBLE, NEURAL_BAG, RECURRENT
from imdb_sentiment.paths import RUN_FILE, CorpusPaths
from imdb_sentiment.serving.predictors import ENSEMBLE_FILE, average_scores, load_predictor

log = logging.getLogger(__name__)

SCORES_FILE = "scores.npz"  # float32, one array per text set (val, test, shuffled, ...)
METRICS_FILE = "metrics.json"
ROC_FILE, CONFUSION_FILE = "roc.csv", "confusion.csv"
# The stage that made each family's model folder and run (named in a missing-run error).
MAKER = {RECURRENT: "train", NEURAL_BAG: "train", BAG_OF_WORDS: "baseline", ENSEMBLE: "ensemble"}
# The folder under scores/CORPUS/ of each family's models: one per kind of stage that makes
# them, since DVC's templated outputs cannot tell a recurrent network from a dan by params.
SCORE_FOLDERS = {
    RECURRENT: "neural",
    NEURAL_BAG: "neural",
    BAG_OF_WORDS: "bag_of_words",
    ENSEMBLE: "ensemble",
}
# Already on the run from training, under the key it was logged with (best_val_accuracy):
# logged again here it would add a false last point to the per-epoch val_accuracy curve.
TRAINING_RUN_KEYS = {"val_accuracy"}


def score_folder(family: str, name: str, root: Path) -> Path:
    """Where a model's scores and numbers live: one folder per family, so that an ensemble's
    stage can depend on the single models' scores without depending on its own."""
    return root / SCORE_FOLDERS[family] / name


def score_model(
    name: str, family: str, data: EvaluationData, seed: int, paths: CorpusPaths
) -> dict[str, float]:
    """Score one trained model of a corpus (models/CORPUS/NAME) on every text set."""
    predictor = load_predictor(paths.models / name / "predictor")
    scores = score_texts(predictor, data, name)
    return write_scores(name, family, scores, data, seed, paths)


def ensemble_scores(weights: dict[str, float], member_folders: dict[str, Path]) -> dict:
    """An ensemble's scores on every text set, from its members' saved scores."""
    members = {}
    for member, folder in member_folders.items():
        if not (folder / SCORES_FILE).exists():
            raise FileNotFoundError(f"{folder / SCORES_FILE}: {member} has not been scored")
        with np.load(folder / SCORES_FILE) as saved:
            members[member] = {key: saved[key] for key in saved.files}
    sets = members[next(iter(members))].keys()
    return {
        key: average_scores({m: s[key] for m, s in members.items()}, weights).astype(np.float32)
        for key in sets
    }


def score_ensemble(
    name: str,
    families: dict[str, str],
    data: EvaluationData,
    seed: int,
    paths: CorpusPaths,
) -> dict[str, float]:
    """Score an ensemble from its members' saved scores, with the weights its folder holds."""
    weights = read_json(paths.models / name / "predictor" / ENSEMBLE_FILE)["weights"]
    folders = {m: score_folder(families[m], m, paths.scores) for m in weights}
    log.info("%s: %s, from their saved scores", name, _shown(weights))
    scores = ensemble_scores(weights, folders)
    return write_scores(name, ENSEMBLE, scores, data, seed, paths)


def write_scores(
    name: str,
    family: str,
    scores: dict[str, np.ndarray],
    data: EvaluationData,
    seed: int,
    paths: CorpusPaths,
) -> dict[str, float]:
    """Turn ``scores`` into the model's numbers, write its folder (scores/CORPUS/FAMILY/NAME,
    whole or not at all) and add the numbers and files to its MLflow run; return them."""
    out_dir = score_folder(family, name, paths.scores)
    evaluation = evaluate_scores(scores, data, seed)
    metrics = evaluation.metrics
    log.info(
        "%s: test_accuracy %.4f, shuffled %.4f, contrast pairs %.3f",
        name,
        metrics["test_accuracy"],
        metrics["shuffled_test_accuracy"],
        metrics["contrast_pair_accuracy"],
    )
    labels = data.test.label.to_numpy()
    # Staged in a folder of a fixed name (.score-NAME.partial) that a killed run leaves and the
    # next clears, outside scores/, which the ensemble and compare stages hash.
    with atomic_outputs([out_dir], f"score-{name}") as staging:
        tmp = staging / out_dir
        tmp.mkdir(parents=True)
        np.savez_compressed(tmp / SCORES_FILE, **scores)
        write_json(tmp / METRICS_FILE, metrics)
        roc_points(labels, evaluation.test_probabilities).to_csv(tmp / ROC_FILE, index=False)
        confusion = confusion_rows(labels, evaluation.test_probabilities)
        confusion.to_csv(tmp / CONFUSION_FILE, index=False)
        # Here, not at the top: compare reads this module's file names and needs no MLflow.
        from imdb_sentiment.tracking.runs import log_evaluation, prepared_dataset

        log_evaluation(
            read_json(paths.models / name / RUN_FILE),
            f"{MAKER[family]}@{paths.corpus}-{name}",
            {k: v for k, v in metrics.items() if k not in TRAINING_RUN_KEYS},
            prepared_dataset(paths.prepared, "evaluation"),
            artifacts={"evaluation": [tmp / METRICS_FILE, tmp / ROC_FILE, tmp / CONFUSION_FILE]},
        )
    return metrics


def copy_score_file(folder: Path, file: str, dest: Path) -> None:
    """One file of a model's score folder, copied whole to ``dest`` (compare's plot CSVs)."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(folder / file, tmp)


def _shown(weights: dict[str, float]) -> str:
    return " + ".join(f"{w:.2f} x {m}" for m, w in weights.items())
