"""The ensemble stage (ensemble@NAME): the weights of an average of other models'
probabilities, picked on validation from the scores their score stages saved, and a model
folder that serves it from raw text like any model (its members' predictors inside it)."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from imdb_sentiment.evaluation.scoring import SCORES_FILE, score_folder
from imdb_sentiment.evaluation.weights import pick_weights
from imdb_sentiment.files import read_json, write_json
from imdb_sentiment.params import ENSEMBLE, NEURAL, EnsembleParams, Params
from imdb_sentiment.paths import RUN_FILE
from imdb_sentiment.serving.model_folder import write_model_folder
from imdb_sentiment.serving.predictors import ENSEMBLE_FILE
from imdb_sentiment.tracking.runs import log_dataset, model_run, prepared_dataset

log = logging.getLogger(__name__)


def member_val_scores(
    members: tuple[str, ...], families: dict[str, str], scores_root: Path
) -> dict[str, np.ndarray]:
    scores = {}
    for member in members:
        path = score_folder(families[member], member, scores_root) / SCORES_FILE
        with np.load(path) as saved:
            scores[member] = saved["val"]
    return scores


def build_ensemble(
    name: str,
    params: Params,
    val_labels: np.ndarray,
    prepared_dir: Path,
    models_root: Path,
    scores_root: Path,
) -> dict[str, Any]:
    """Pick the ensemble's weights on validation, log its run and write ``models/NAME``."""
    spec: EnsembleParams = params.ensembles[name]
    families = params.families()
    started = time.perf_counter()
    val_scores = member_val_scores(spec.members, families, scores_root)
    weights, val_metrics = pick_weights(val_scores, val_labels, spec.weights, spec.weight_step)
    log.info(
        "%s: weights %s (validation accuracy %.4f)",
        name,
        ", ".join(f"{m} {w:.2f}" for m, w in weights.items()),
        val_metrics["accuracy"],
    )
    requirements = ["scikit-learn", "skops"]
    if any(families[m] in NEURAL for m in spec.members):
        requirements += ["tensorflow", "keras"]
    with model_run(name, ENSEMBLE, params.corpus) as run:
        mlflow.log_params(
            {
                "seed": params.seed,
                "model.arch": "ensemble",
                "ensemble.members": ",".join(spec.members),
                "ensemble.weights": spec.weights,
                "ensemble.weight_step": spec.weight_step,
                **{f"ensemble.weight.{m}": w for m, w in weights.items()},
                **{
                    f"ensemble.member_run.{m}": read_json(models_root / m / RUN_FILE)["run_id"]
                    for m in spec.members
                },
            }
        )
        log_dataset(prepared_dataset(prepared_dir, "val"), "training")
        summary = {
            "members": list(spec.members),
            "weights": weights,
            "best_val_accuracy": val_metrics["accuracy"],
            "train_seconds": round(time.perf_counter() - started, 2),
            # What serving it holds: every member's parameters (its weights add none).
            "parameters": sum(
                read_json(models_root / m / "training.json").get("parameters", 0)
                for m in spec.members
            ),
        }
        mlflow.log_metrics({k: summary[k] for k in ("best_val_accuracy", "train_seconds")})
        with write_model_folder(models_root / name, run, summary, requirements) as folder:
            write_json(folder.predictor / ENSEMBLE_FILE, {"weights": weights})
            for member in spec.members:
                shutil.copytree(
                    models_root / member / "predictor", folder.predictor / "members" / member
                )
    return summary | folder.record
