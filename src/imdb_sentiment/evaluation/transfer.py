"""transfer@CORPUS: what one corpus's pipeline found, in one file the summary stage sets beside
the other corpora's (reports/corpora/CORPUS.json).

It holds the corpus's answer as compare wrote it (head to head, on top, the probes) for the
models its validation split chose (the champion, the best recurrent model, the best bag), and
those models scored on every corpus's test set: how a model trained on long reviews reads
single sentences, and the other way round. A model reads a text as its own corpus prepared
texts (its vocabulary and its length cap), as it would serve it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from imdb_sentiment.evaluation.intervals import bootstrap_interval, is_right, mean_statistic
from imdb_sentiment.evaluation.probes import load_probes
from imdb_sentiment.files import read_json
from imdb_sentiment.progress import progress
from imdb_sentiment.serving.predictors import load_predictor

log = logging.getLogger(__name__)

# The models of a corpus the summary compares, each chosen on that corpus's validation split.
ROLES = ("best_recurrent", "neural_bag", "best_bag", "champion")
# The probes the summary sets side by side: written sentences, the same for every corpus.
SHARED_PROBES = (
    "suite_negation_reviews",
    "suite_negation",
    "suite_contrast",
    "suite_order",
    "pairs_handwritten",
)
MODEL_NUMBERS = ("val_accuracy", "test_accuracy", "test_accuracy_ci_low", "test_accuracy_ci_high")


def corpus_summary(
    corpus: str, probes: dict[str, Path], models_root: Path, evaluation_dir: Path, seed: int
) -> dict[str, Any]:
    """``corpus``'s answer and chosen models, each scored on the test set of every corpus of
    ``probes`` (corpus -> its probes folder); its own test numbers are its score stages',
    read back."""
    comparison = read_json(evaluation_dir / "comparison.json")
    order = read_json(evaluation_dir / "order.json")
    chosen = {role: comparison[role] for role in ROLES if comparison.get(role)}
    models = {}
    for name in dict.fromkeys(chosen.values()):
        numbers = read_json(evaluation_dir / f"{name}.json")
        models[name] = {"family": comparison["models"][name]["family"]}
        models[name] |= {key: numbers[key] for key in MODEL_NUMBERS}
    transfer: dict[str, Any] = {}
    for other, folder in probes.items():
        if other == corpus:
            accuracy = {
                name: _accuracy(
                    m["test_accuracy"], m["test_accuracy_ci_low"], m["test_accuracy_ci_high"]
                )
                for name, m in models.items()
            }
            transfer[other] = {"n": comparison["texts"]["test"], "accuracy": accuracy}
            continue
        test = load_probes(folder).test
        labels = test.label.to_numpy()
        accuracy = {}
        for name in models:
            predictor = load_predictor(models_root / name / "predictor")
            with progress(f"{corpus}/{name} on {other}'s test set", len(test)) as advance:
                probabilities = predictor.positive_probability(test.text.tolist(), progress=advance)
            right = is_right(np.asarray(probabilities), labels).astype(np.float64)
            low, high = bootstrap_interval(mean_statistic, (right,), seed)
            accuracy[name] = _accuracy(float(right.mean()), low, high)
            log.info("%s/%s on %s: %.4f", corpus, name, other, right.mean())
        transfer[other] = {"n": len(test), "accuracy": accuracy}
    probes = {
        key: {
            "label": order["probes"][key]["label"],
            "n": order["probes"][key]["n"],
            "accuracy": {name: order["probes"][key]["accuracy"][name] for name in models},
        }
        for key in SHARED_PROBES
        if key in order["probes"]
    }
    return {
        "corpus": corpus,
        "texts": comparison["texts"],
        "chosen": chosen,
        "models": models,
        "head_to_head": order["head_to_head"],
        "on_top": order["on_top"],
        "words_equal": order.get("words_equal"),
        "probes": probes,
        "transfer": transfer,
    }


def _accuracy(value: float, low: float, high: float) -> dict[str, float]:
    return {"accuracy": round(value, 6), "ci_low": round(low, 6), "ci_high": round(high, 6)}
