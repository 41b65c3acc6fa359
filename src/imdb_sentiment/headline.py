"""The few numbers DVC shows (`dvc metrics show`, `dvc exp show`): what a person compares
across experiments. Every detail (intervals, curves, suites, subsets) stays in
reports/evaluation/ and MLflow.

Training writes one small file per model (``metrics/train/NAME.json``). Compare writes one
file per headline number, keyed by model (``metrics/test_accuracy.json``: ``{"gru": 0.891,
...}``), so `dvc metrics show` reads as a table with a column per model instead of a column per
number, and ``metrics/answer.json``: what order buys, head to head and on top of the words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imdb_sentiment.files import write_json

# The training headline: the kept epoch's validation accuracy, which epoch that was, how many
# ran, and the seconds they took (baselines have no epochs).
TRAIN_KEYS = ("val_accuracy", "best_epoch", "epochs_run", "train_seconds")

# file name -> the per-model evaluation metric it holds. Validation accuracy is each model's
# training headline (metrics/train/NAME.json) and is not repeated here: each fact once.
EVALUATION_FILES = {
    "test_accuracy": "test_accuracy",
    "shuffle_drop": "shuffled_accuracy_drop",  # test accuracy lost when words are shuffled
    "pair_accuracy": "contrast_pair_accuracy",  # minimal pairs with both reviews right
}
# The answer in two parts (compare.two_part_answer): head to head, and on top of the best bag
# per recurrent model; each a paired difference of test accuracy with its interval.
ANSWER_FILE = "answer"
ANSWER_KEYS = ("difference", "ci_low", "ci_high")
PRECISION = 5  # what `dvc metrics show` prints; more digits only make the files noisier


def training_headline(summary: dict[str, Any]) -> dict[str, float]:
    """A model's training summary cut to the headline (``best_val_accuracy`` -> val_accuracy)."""
    values = {"val_accuracy": summary["best_val_accuracy"], **summary}
    return {key: values[key] for key in TRAIN_KEYS if key in values}


def write_training_headline(summary: dict[str, Any], path: Path) -> None:
    write_json(path, training_headline(summary))


def evaluation_headline(
    per_model: dict[str, dict[str, float]], answer: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """file stem -> its numbers: a file per headline metric with a column per model, and the
    answer (``head_to_head``, ``on_top.MODEL``)."""
    files: dict[str, dict[str, Any]] = {
        stem: {model: round(metrics[key], PRECISION) for model, metrics in per_model.items()}
        for stem, key in EVALUATION_FILES.items()
    }

    def cut(difference: dict[str, float]) -> dict[str, float]:
        return {key: round(difference[key], PRECISION) for key in ANSWER_KEYS}

    files[ANSWER_FILE] = {
        "head_to_head": cut(answer["head_to_head"]),
        "on_top": {model: cut(values) for model, values in answer["on_top"].items()},
    }
    return files


def write_evaluation_headline(
    per_model: dict[str, dict[str, float]], answer: dict[str, Any], folder: Path
) -> list[Path]:
    written = []
    for stem, values in evaluation_headline(per_model, answer).items():
        write_json(folder / f"{stem}.json", values)
        written.append(folder / f"{stem}.json")
    return written
