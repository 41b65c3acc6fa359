"""Score every model through its served text path: test metrics, shuffled words, minimal pairs.

The two order probes:
- *shuffled-word test*: each test review's tokens in a seeded random order. A unigram
  bag-of-words model gives a review and any permutation of it the same score, so its accuracy
  cannot move; a sequence model's drop measures how much it uses order.
- *minimal pairs*: two reviews with the same multiset of tokens and opposite sentiment. A bag of
  words scores both the same, so it gets at most one of a pair right: its pair accuracy is 0.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from imdb_sentiment.data import PreparedPaths
from imdb_sentiment.serving import Predictor, load_predictor
from imdb_sentiment.text import tokenize

CONTRAST_PAIRS = Path("data/contrast/pairs.tsv")
ROC_POINTS = 200


class ContrastSetError(ValueError):
    """The contrast set is malformed or a pair is not bag-of-words equal."""


@dataclass(frozen=True)
class EvaluationData:
    """What every model is scored on: the same texts and labels for all of them."""

    val: pd.DataFrame
    test: pd.DataFrame
    shuffled_test_texts: list[str]
    contrast: pd.DataFrame  # one row per review: pair_id, text, label


@dataclass(frozen=True)
class ModelEvaluation:
    metrics: dict[str, float]
    test_probabilities: np.ndarray


def shuffle_words(texts: Sequence[str], seed: int) -> list[str]:
    """Each text's tokens in a random order, seeded per review so the result never depends on
    batching; the labels stay as they are. The output re-tokenizes to the same tokens."""
    shuffled = []
    for index, text in enumerate(texts):
        tokens = tokenize(text)
        order = np.random.default_rng([seed, index]).permutation(len(tokens))
        shuffled.append(" ".join(tokens[i] for i in order))
    return shuffled


def load_contrast_pairs(path: Path = CONTRAST_PAIRS) -> pd.DataFrame:
    """The minimal pairs, checked: opposite labels, the same bag of tokens, a different order."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            pairs = pd.DataFrame(list(csv.DictReader(handle, delimiter="\t")))
    except FileNotFoundError:
        raise ContrastSetError(f"{path}: contrast set not found") from None
    expected = ["pair_id", "label_a", "text_a", "label_b", "text_b"]
    if list(pairs.columns) != expected:
        raise ContrastSetError(f"{path}: columns must be {expected}, got {list(pairs.columns)}")
    for row in pairs.itertuples():
        where = f"{path}: pair {row.pair_id}"
        if {row.label_a, row.label_b} != {"positive", "negative"}:
            raise ContrastSetError(f"{where}: labels must be one positive, one negative")
        tokens_a, tokens_b = tokenize(row.text_a), tokenize(row.text_b)
        if Counter(tokens_a) != Counter(tokens_b):
            raise ContrastSetError(f"{where}: the two texts do not have the same words")
        if tokens_a == tokens_b:
            raise ContrastSetError(f"{where}: the two texts have the same word order")
    return pairs


def contrast_reviews(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs as one review per row (pair_id, text, label 0/1), a then b."""
    rows = [
        (pair.pair_id, text, int(label == "positive"))
        for pair in pairs.itertuples()
        for text, label in ((pair.text_a, pair.label_a), (pair.text_b, pair.label_b))
    ]
    return pd.DataFrame(rows, columns=["pair_id", "text", "label"])


def load_evaluation_data(prepared_dir: Path, contrast_path: Path, seed: int) -> EvaluationData:
    reviews = pd.read_parquet(
        PreparedPaths(prepared_dir).reviews, columns=["split", "text", "label"]
    )
    val = reviews[reviews.split == "val"].reset_index(drop=True)
    test = reviews[reviews.split == "test"].reset_index(drop=True)
    return EvaluationData(
        val=val,
        test=test,
        shuffled_test_texts=shuffle_words(test.text.tolist(), seed),
        contrast=contrast_reviews(load_contrast_pairs(contrast_path)),
    )


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (positive class), ROC AUC and log loss."""
    predicted = (probabilities >= 0.5).astype(int)
    return {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(labels, probabilities)),
        "log_loss": float(skm.log_loss(labels, np.clip(probabilities, 1e-7, 1 - 1e-7))),
    }


def evaluate_predictor(predictor: Predictor, data: EvaluationData) -> ModelEvaluation:
    """Every number the comparison reports, for one model."""
    val_probs = predictor.predict_proba(data.val.text.tolist())
    test_probs = predictor.predict_proba(data.test.text.tolist())
    shuffled_probs = predictor.predict_proba(data.shuffled_test_texts)
    contrast_probs = predictor.predict_proba(data.contrast.text.tolist())

    test_labels = data.test.label.to_numpy()
    test = classification_metrics(test_labels, test_probs)
    shuffled_accuracy = float(np.mean((shuffled_probs >= 0.5) == test_labels))
    contrast_right = (contrast_probs >= 0.5) == data.contrast.label.to_numpy()
    pair_right = pd.Series(contrast_right).groupby(data.contrast.pair_id.to_numpy()).all()
    metrics = {
        "val_accuracy": float(np.mean((val_probs >= 0.5) == data.val.label.to_numpy())),
        **{f"test_{name}": value for name, value in test.items()},
        "shuffled_test_accuracy": shuffled_accuracy,
        "shuffled_accuracy_drop": test["accuracy"] - shuffled_accuracy,
        # Largest change in any review's score when its words are shuffled: exactly 0 for a
        # model that cannot see order.
        "shuffled_max_probability_change": float(np.max(np.abs(shuffled_probs - test_probs))),
        "contrast_accuracy": float(np.mean(contrast_right)),
        "contrast_pair_accuracy": float(pair_right.mean()),
    }
    return ModelEvaluation({k: round(v, 6) for k, v in metrics.items()}, test_probs)


def evaluate_folder(folder: Path, data: EvaluationData) -> ModelEvaluation:
    return evaluate_predictor(load_predictor(folder / "predictor"), data)


def roc_points(labels: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """At most ROC_POINTS (fpr, tpr, threshold) rows: enough for a smooth curve in a plot."""
    fpr, tpr, thresholds = skm.roc_curve(labels, probabilities)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS)).astype(int))
    return pd.DataFrame(
        {"fpr": fpr[keep], "tpr": tpr[keep], "threshold": np.clip(thresholds[keep], 0, 1)}
    )


def confusion_rows(labels: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """One (actual, predicted) row per test review, the input DVC's confusion template wants."""
    names = np.array(["negative", "positive"])
    return pd.DataFrame(
        {"actual": names[labels], "predicted": names[(probabilities >= 0.5).astype(int)]}
    )
