"""The few numbers DVC shows (`dvc metrics show`, `dvc exp show`): what a person compares
across experiments. Every detail (intervals, curves, suites, subsets) stays in
reports/evaluation/ and MLflow.

Training writes one small file per model (``metrics/train/NAME.json``). Compare writes one
file per headline number, keyed by model (``metrics/test.json``: ``{"gru": 0.891,
...}``), so `dvc metrics show` reads as a table with a column per model instead of a column per
number, and the answer: ``metrics/head_to_head*.json`` and ``metrics/on_top*.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imdb_sentiment.files import write_json
from imdb_sentiment.paths import ANSWER_FILES, EVALUATION_FILES

# Names short enough that `dvc exp show --only-changed` after a one-model experiment fits a
# 200-column terminal (the README's command drops the timings, epochs, intervals and hashes).
# The training headline, headline key -> summary key: the kept epoch's validation accuracy,
# and the seconds training took. Every key is a column of `dvc metrics show`, which must fit
# 160 columns: the kept epoch and the epochs run are in MLflow and models/NAME/training.json.
TRAIN_KEYS = {"val": "best_val_accuracy", "seconds": "train_seconds"}

PRECISION = 5  # what `dvc metrics show` prints; more digits only make the files noisier


def training_headline(summary: dict[str, Any]) -> dict[str, float]:
    """A model's training summary cut to the headline (``best_val_accuracy`` -> val)."""
    return {key: summary[source] for key, source in TRAIN_KEYS.items() if source in summary}


def write_training_headline(summary: dict[str, Any], path: Path) -> None:
    write_json(path, training_headline(summary))


def evaluation_headline(
    per_model: dict[str, dict[str, float]], answer: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """file stem -> {model: value}: the headline of every model, and the answer."""
    files = {
        stem: {model: round(metrics[key], PRECISION) for model, metrics in per_model.items()}
        for stem, key in EVALUATION_FILES.items()
    }
    parts = {
        "head_to_head": {answer["head_to_head"]["model"]: answer["head_to_head"]},
        "on_top": answer["on_top"],
        # Absent where no neural bag has the best recurrent model's embedding init.
        "words_equal": {m["model"]: m for m in [answer.get("words_equal")] if m},
    }
    for stem, (part, key) in ANSWER_FILES.items():
        files[stem] = {model: round(v[key], PRECISION) for model, v in parts[part].items()}
    return files


def write_evaluation_headline(
    per_model: dict[str, dict[str, float]], answer: dict[str, Any], folder: Path
) -> list[Path]:
    written = []
    for stem, values in evaluation_headline(per_model, answer).items():
        write_json(folder / f"{stem}.json", values)
        written.append(folder / f"{stem}.json")
    return written
