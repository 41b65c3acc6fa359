"""Score every trained model on the validation and test splits, through its served text path."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from imdb_sentiment.data import PreparedPaths
from imdb_sentiment.files import read_json, write_json
from imdb_sentiment.serving import load_predictor
from imdb_sentiment.tracking import RUN_FILE, open_recorded_run

log = logging.getLogger(__name__)


def accuracy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((probabilities >= 0.5) == (labels == 1)))


def evaluate_models(
    model_names: Sequence[str], models_root: Path, prepared_dir: Path, metrics_dir: Path
) -> dict[str, dict[str, float]]:
    """Write ``metrics_dir/<model>.json`` and log the same numbers into each model's run.

    Predictions go through ``load_predictor`` on the raw review text, the code the served
    model runs, so a metric here is what a user of the REST model would measure.
    """
    reviews = pd.read_parquet(
        PreparedPaths(prepared_dir).reviews, columns=["split", "text", "label"]
    )
    splits = {name: reviews[reviews.split == name] for name in ("val", "test")}
    results = {}
    for name in model_names:
        folder = models_root / name
        predictor = load_predictor(folder / "predictor")
        metrics = {}
        for split, part in splits.items():
            probabilities = predictor.predict_proba(part.text.tolist())
            metrics[f"{split}_accuracy"] = round(accuracy(part.label.to_numpy(), probabilities), 5)
        log.info("%s: %s", name, metrics)
        record = read_json(folder / RUN_FILE)
        # Logged at the run's last epoch step so these, not a mid-training epoch, are the
        # values MLflow shows as the run's latest val_accuracy.
        last_step = max(read_json(folder / "training.json").get("epochs_run", 1) - 1, 0)
        with open_recorded_run(record["run_id"], name):
            mlflow.log_metrics(metrics, step=last_step)
        write_json(metrics_dir / f"{name}.json", metrics)
        results[name] = metrics
    return results
