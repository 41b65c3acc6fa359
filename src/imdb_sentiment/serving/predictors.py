"""Raw text in, sentiment out: the predictor every consumer uses (its MLflow pyfunc form is
mlflow_model.py).

A model folder (``models/<name>/predictor``) holds everything a prediction needs: the Keras
model plus vocabulary and text settings, or the scikit-learn Pipeline. Evaluation loads that
folder directly; the MLflow model carries the same folder as an artifact and this package as
code, so the served model runs the very code that evaluation ran.

No model file runs code when it is loaded: the Keras model loads in safe mode, the Pipeline
is a skops file whose types are checked before it is read (pipeline_file.py), and the MLflow
model is logged from code (``pyfunc_model.py``), not as a pickled instance.

This module imports no MLflow: evaluation scores through it in stages (probes, compare) that
would otherwise pay seconds to import MLflow's model code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from imdb_sentiment.data.text import Vocabulary, encode_texts, token_lengths
from imdb_sentiment.serving.pipeline_file import load_pipeline

POSITIVE, NEGATIVE = "positive", "negative"
THRESHOLD = 0.5  # a probability of positive at or above it is a positive prediction
KERAS_FILE = "model.keras"
VOCAB_FILE = "vocab.json"
TEXT_CONFIG_FILE = "text.json"
PIPELINE_FILE = "pipeline.skops"
ENSEMBLE_FILE = "ensemble.json"  # an ensemble's members and weights; members/NAME/ beside it
PREDICT_BATCH = 256  # reviews a batch holds at most
# Padded tokens a batch holds at most: a batch's activations grow with reviews x length (256
# reviews of 1,000 tokens: 1.1 GB for gru). With two batches in flight, 128 x 256 tokens kept
# score@gru at 1.94 GB peak against 2.18 GB at twice the budget, for 4% more time on the test
# set and the same scores to the bit (full data).
PREDICT_TOKENS = 128 * 256
# Batches in flight at once. A small recurrent layer's steps are dispatch-bound, leaving a core
# idle between tiny matmuls; a second batch fills it (TensorFlow runs ops outside the GIL).
PREDICT_THREADS = 2


class Predictor(Protocol):
    def positive_probability(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """Each text's probability of positive; ``progress(n)`` as n more are scored."""
        ...


class KerasPredictor:
    """A Keras model over the project's text path: tokenize, look up ids, pad, predict.

    Reviews are scored in batches of similar length, each cut to its longest review: no
    padding reaches a score (models/networks.py), so this changes no score, only the steps a
    recurrent layer walks (a whole-review ``max_len`` would make every short review cost the
    longest).
    """

    def __init__(self, model: Any, vocab: Vocabulary, max_len: int, truncating: str):
        import tensorflow as tf

        self.model, self.vocab = model, vocab
        self.max_len, self.truncating = max_len, truncating
        # One traced graph for every batch shape: `model.predict` re-traces for each new input
        # shape (every request size), which costs a serving request tens of milliseconds.
        self._forward = tf.function(
            lambda ids: model(ids, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
        )

    @classmethod
    def load(cls, folder: Path) -> KerasPredictor:
        from imdb_sentiment.runtime import import_tensorflow

        import_tensorflow()  # deferred and quiet: seconds to import; TF-IDF never needs it
        import keras

        import imdb_sentiment.serving.keras_layers  # noqa: F401 - registers the custom layers

        config = json.loads((folder / TEXT_CONFIG_FILE).read_text())
        return cls(
            # Safe mode refuses a Lambda layer's pickled bytecode; the custom layers load as
            # registered serializables (keras_layers.py).
            keras.models.load_model(folder / KERAS_FILE, compile=False, safe_mode=True),
            Vocabulary.load(folder / VOCAB_FILE),
            config["max_len"],
            config["truncating"],
        )

    def positive_probability(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        ids = encode_texts(texts, self.vocab, self.max_len, self.truncating)
        lengths = np.maximum(token_lengths(ids), 1)
        scores = np.zeros(len(ids), dtype=np.float64)

        def forward(rows: np.ndarray) -> np.ndarray:
            return self._forward(ids[rows, : lengths[rows].max()]).numpy().reshape(-1)

        batches = list(length_batches(lengths))
        # Each batch is scored alone, so running them PREDICT_THREADS at a time changes no score.
        with ThreadPoolExecutor(min(PREDICT_THREADS, len(batches)) or 1) as pool:
            for rows, batch_scores in zip(batches, pool.map(forward, batches), strict=True):
                scores[rows] = batch_scores
                if progress:
                    progress(len(rows))
        return scores


def length_batches(
    lengths: np.ndarray, reviews: int = PREDICT_BATCH, tokens: int = PREDICT_TOKENS
) -> Iterator[np.ndarray]:
    """Row indices in batches of similar length, shortest first: at most ``reviews`` rows and
    at most ``tokens`` padded tokens a batch (a review longer than that goes alone)."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        stop = min(start + reviews, len(order))
        # Sorted, so the window's last row is its longest: the budget holds for any prefix.
        size = max(1, min(stop - start, tokens // int(lengths[order[stop - 1]])))
        yield order[start : start + size]
        start += size


class PipelinePredictor:
    """A scikit-learn Pipeline that already takes raw text (its tokenizer is the project's)."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline

    @classmethod
    def load(cls, folder: Path) -> PipelinePredictor:
        return cls(load_pipeline(folder / PIPELINE_FILE))

    def positive_probability(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        if not len(texts):
            return np.zeros(0)
        scores = self.pipeline.predict_proba(list(texts))[:, 1].astype(np.float64)
        if progress:
            progress(len(texts))
        return scores


class EnsemblePredictor:
    """A weighted average of its members' probabilities: each member is a predictor folder of
    its own under ``members/``, so the ensemble serves raw text like any model."""

    def __init__(self, members: dict[str, Predictor], weights: dict[str, float]):
        self.members, self.weights = members, weights

    @classmethod
    def load(cls, folder: Path) -> EnsemblePredictor:
        weights = json.loads((folder / ENSEMBLE_FILE).read_text())["weights"]
        members = {name: load_predictor(folder / "members" / name) for name in weights}
        return cls(members, weights)

    def positive_probability(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        scores = average_scores(
            {name: member.positive_probability(texts) for name, member in self.members.items()},
            self.weights,
        )
        if progress:
            progress(len(texts))
        return scores


def average_scores(scores: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The ensemble rule, in one place: the weighted mean of members' probabilities (weights
    sum to 1). The served ensemble and the evaluation's average of saved scores both use it."""
    total = np.zeros(len(next(iter(scores.values()))), dtype=np.float64)
    for name, weight in weights.items():
        total += weight * np.asarray(scores[name], dtype=np.float64)
    return total


def load_predictor(folder: str | Path) -> Predictor:
    """The predictor saved in ``folder``: a Keras model, a scikit-learn Pipeline or an
    ensemble of such folders."""
    folder = Path(folder)
    if (folder / KERAS_FILE).exists():
        return KerasPredictor.load(folder)
    if (folder / PIPELINE_FILE).exists():
        return PipelinePredictor.load(folder)
    if (folder / ENSEMBLE_FILE).exists():
        return EnsemblePredictor.load(folder)
    raise FileNotFoundError(
        f"{folder}: none of {KERAS_FILE}, {PIPELINE_FILE}, {ENSEMBLE_FILE}; not a model"
    )


def label_probabilities(probabilities: np.ndarray) -> pd.DataFrame:
    """The served output: one row per review, ``probability`` of positive and its ``label``."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.where(probabilities >= THRESHOLD, POSITIVE, NEGATIVE)
    return pd.DataFrame({"probability": probabilities, "label": labels})
