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
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.data.text import standardize, tokenize
from imdb_sentiment.errors import UserError
from imdb_sentiment.evaluation.intervals import (
    bootstrap_interval,
    classification_metrics,
    is_right,
    mean_statistic,
    metric_intervals,
    paired_difference,
    predicted_positive,
)
from imdb_sentiment.evaluation.suites import SUITES_FILE, Suite, load_suites, sentiment_words
from imdb_sentiment.progress import progress
from imdb_sentiment.serving.predictors import Predictor

CONTRAST_PAIRS = Path("data/contrast/pairs.tsv")
# Shuffle windows of the order curve: 1 is the review as written, None the whole review.
WINDOWS = (1, 2, 4, 8, 16, 64, None)
# The natural subsets' words (the report prints them from comparison.json).
CONTRAST_WORDS = ("but", "however", "although")
NEGATORS = ("not", "no", "never", "nothing")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class ContrastSetError(UserError, ValueError):
    """The contrast set is malformed or a pair is not bag-of-words equal."""


@dataclass(frozen=True)
class EvaluationData:
    """What every model is scored on: the same texts and labels for all of them."""

    val: pd.DataFrame
    test: pd.DataFrame
    shuffled_test_texts: list[str]
    contrast: pd.DataFrame  # one row per review: pair_id, text, label
    # The test reviews of window_index shuffled within windows of k words, k in WINDOWS but
    # 1 and None (the review itself, and shuffled_test_texts).
    window_texts: dict[int, list[str]]
    suites: dict[str, Suite]
    subsets: dict[str, np.ndarray]  # masks over test
    # The test reviews (indices, sorted) that the windows of the order curve shuffle.
    window_index: np.ndarray


@dataclass(frozen=True)
class Groupings:
    # Per suite, per group: 1.0 when the group counts (all right, or for filler unchanged).
    suite_groups: dict[str, np.ndarray]
    # Per suite, per group: the share of its reviews that are right.
    suite_reviews: dict[str, np.ndarray]


@dataclass(frozen=True)
class ModelEvaluation:
    metrics: dict[str, float]
    test_probabilities: np.ndarray
    # Per suite, per group: 1.0 when the group counts (all right, or for filler unchanged).
    suite_groups: dict[str, np.ndarray]
    # Per suite, per group: the share of its reviews that are right.
    suite_reviews: dict[str, np.ndarray]


def shuffle_words(texts: Sequence[str], seed: int, window: int | None = None) -> list[str]:
    """Each text's tokens in a random order within consecutive windows of ``window`` tokens
    (``None``: the whole review), seeded per review so the result never depends on batching;
    the labels stay as they are. The output re-tokenizes to the same tokens; ``window=1`` is
    the review's own tokens in their own order."""
    return shuffle_tokens([tokenize(text) for text in texts], seed, window)


def shuffle_tokens(
    tokenized: Sequence[Sequence[str]], seed: int, window: int | None = None
) -> list[str]:
    """``shuffle_words`` on reviews already tokenized: the curve tokenizes the test set once."""
    shuffled = []
    for index, tokens in enumerate(tokenized):
        rng = np.random.default_rng([seed, index])
        if window is None:
            order = rng.permutation(len(tokens))
        else:
            # Sorting i.i.d. uniform keys within each window draws a uniform permutation of
            # it: one draw per review, where a permutation per window meant ~100 NumPy calls
            # a review at window 2 (minutes and gigabytes over the test set's six curves).
            position = np.arange(len(tokens))
            order = np.lexsort((rng.random(len(tokens)), position // window))
        shuffled.append(" ".join([tokens[i] for i in order]))
    return shuffled


def window_key(window: int | None) -> str:
    """``2`` -> ``"2"``, ``None`` (the whole review) -> ``"all"``: the curve's x values."""
    return "all" if window is None else str(window)


def natural_subsets(test: pd.DataFrame, sentiment_words: set[str]) -> dict[str, np.ndarray]:
    """Boolean masks over the test reviews where word order should matter, and length
    quartiles: ``contrast_ending`` (the last sentence opens with but, however or although),
    ``negated_sentiment`` (not, no, never, nothing or a -n't word up to three words before a
    sentiment word of the suites' lexicon) and ``length_q1``..``length_q4``."""
    endings, negated, lengths = [], [], []
    for text in test.text:
        sentences = [s for s in _SENTENCE_END.split(standardize(text)) if tokenize(s)]
        endings.append(bool(sentences) and tokenize(sentences[-1])[0] in CONTRAST_WORDS)
        tokens = tokenize(text)
        lengths.append(len(tokens))
        negators = [i for i, token in enumerate(tokens) if _negates(token)]
        negated.append(
            any(
                tokens[j] in sentiment_words
                for i in negators
                for j in range(i + 1, i + 4)
                if j < len(tokens)
            )
        )
    # Quartiles of the length ranks (ties broken by position): four groups of equal size even
    # where many reviews share a length.
    quartile = pd.qcut(pd.Series(lengths).rank(method="first"), 4, labels=False).to_numpy()
    return {
        "contrast_ending": np.array(endings, dtype=bool),
        "negated_sentiment": np.array(negated, dtype=bool),
        **{f"length_q{q + 1}": quartile == q for q in range(4)},
    }


def _negates(token: str) -> bool:
    return token in NEGATORS or token.endswith("n't")


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


def load_evaluation_data(
    prepared_dir: Path,
    contrast_path: Path,
    seed: int,
    suites_path: Path = SUITES_FILE,
    window_reviews: int | None = None,
) -> EvaluationData:
    reviews = pd.read_parquet(
        PreparedPaths(prepared_dir).reviews,
        columns=["split", "text", "label"],
        filters=[("split", "in", ["val", "test"])],  # the train texts are never scored
    )
    val = reviews[reviews.split == "val"].reset_index(drop=True)
    test = reviews[reviews.split == "test"].reset_index(drop=True)
    return evaluation_data(val, test, contrast_path, seed, suites_path, window_reviews)


def evaluation_data(
    val: pd.DataFrame,
    test: pd.DataFrame,
    contrast_path: Path,
    seed: int,
    suites_path: Path = SUITES_FILE,
    window_reviews: int | None = None,
) -> EvaluationData:
    """Everything every model is scored on, derived from the val and test reviews; the order
    curve's windows on ``window_reviews`` test reviews (a seeded sample; None: all)."""
    suites = load_suites(suites_path, seed)  # first: a broken suites file fails at once
    # Interned: the test set's ~6M tokens share ~100k strings (300 MB less at the peak).
    tokenized = [[sys.intern(token) for token in tokenize(text)] for text in test.text]
    window_index = window_sample(len(test), window_reviews, seed)
    sampled = [tokenized[i] for i in window_index]
    return EvaluationData(
        val=val,
        test=test,
        shuffled_test_texts=shuffle_tokens(tokenized, seed),
        contrast=contrast_reviews(load_contrast_pairs(contrast_path)),
        window_texts={k: shuffle_tokens(sampled, seed, k) for k in WINDOWS if k not in (1, None)},
        suites=suites,
        subsets=natural_subsets(test, sentiment_words(suites_path)),
        window_index=window_index,
    )


def window_sample(n_test: int, reviews: int | None, seed: int) -> np.ndarray:
    """The test reviews the order curve shuffles within windows: a seeded sample of
    ``reviews`` of them (sorted), or all of them when ``reviews`` is None or not smaller."""
    if reviews is None or reviews >= n_test:
        return np.arange(n_test)
    return np.sort(np.random.default_rng([seed, n_test]).choice(n_test, reviews, replace=False))


def score_texts(
    predictor: Predictor, data: EvaluationData, model: str = "model"
) -> dict[str, np.ndarray]:
    """One model's probability of positive for every text set the evaluation reads, each
    scored once, as float32: what ``evaluate_scores`` turns into numbers and what an
    ensemble averages. Progress: a bar per set on a terminal, else a line per set."""
    sets: dict[str, Sequence[str]] = {
        "val": data.val.text.tolist(),
        "test": data.test.text.tolist(),
        "shuffled": data.shuffled_test_texts,
        "contrast": data.contrast.text.tolist(),
        **{f"window_{k}": texts for k, texts in data.window_texts.items()},
        **{f"suite_{name}": suite.cases.text.tolist() for name, suite in data.suites.items()},
    }
    scores = {}
    for name, texts in sets.items():
        with progress(f"{model}: {name}", len(texts)) as advance:
            probabilities = predictor.positive_probability(texts, progress=advance)
        scores[name] = np.asarray(probabilities, dtype=np.float32)
    return scores


def evaluate_scores(
    scores: dict[str, np.ndarray], data: EvaluationData, seed: int = 0
) -> ModelEvaluation:
    """Every number the comparison reports for one model, from its scores (``score_texts``,
    or an ensemble's average of its members' scores): nothing is scored here."""
    test_probs = scores["test"].astype(np.float64)
    shuffled_probs = scores["shuffled"].astype(np.float64)
    test_labels = data.test.label.to_numpy()
    test = classification_metrics(test_labels, test_probs)
    groups = group_results(scores, data)
    contrast_right = is_right(scores["contrast"], data.contrast.label.to_numpy())
    pair_right = groups.suite_groups["handwritten"]
    shuffled_right = is_right(shuffled_probs, test_labels)
    test_right = is_right(test_probs, test_labels)
    shuffled_accuracy = float(np.mean(shuffled_right))
    shuffled_low, shuffled_high = bootstrap_interval(mean_statistic, (shuffled_right,), seed)
    drop = paired_difference(test_right, shuffled_right, seed)
    pairs_low, pairs_high = bootstrap_interval(mean_statistic, (pair_right,), seed)
    metrics = {
        "val_accuracy": float(np.mean(is_right(scores["val"], data.val.label.to_numpy()))),
        **{f"test_{name}": value for name, value in test.items()},
        **metric_intervals(test_labels, test_probs, seed),
        "shuffled_test_accuracy": shuffled_accuracy,
        "shuffled_test_accuracy_ci_low": shuffled_low,
        "shuffled_test_accuracy_ci_high": shuffled_high,
        "shuffled_accuracy_drop": test["accuracy"] - shuffled_accuracy,
        "shuffled_accuracy_drop_ci_low": drop["ci_low"],
        "shuffled_accuracy_drop_ci_high": drop["ci_high"],
        # Largest change in any review's score when its words are shuffled: exactly 0 for a
        # model that cannot see order.
        "shuffled_max_probability_change": float(np.max(np.abs(shuffled_probs - test_probs))),
        "contrast_accuracy": float(np.mean(contrast_right)),
        "contrast_pair_accuracy": float(pair_right.mean()),
        "contrast_pair_accuracy_ci_low": pairs_low,
        "contrast_pair_accuracy_ci_high": pairs_high,
    }
    # The order curve: every window on the same reviews (the whole test set, or a seeded
    # sample of it), so that its points differ only by how far the words were shuffled.
    sample = data.window_index
    for window in WINDOWS:
        if window == 1:
            right = test_right[sample]
        elif window is None:
            right = shuffled_right[sample]
        else:
            right = is_right(scores[f"window_{window}"], test_labels[sample])
        metrics |= _accuracy_with_interval(f"window_{window_key(window)}", right, seed)
    for name, mask in data.subsets.items():
        metrics |= _accuracy_with_interval(f"subset_{name}", test_right[mask], seed)
    for name, suite in data.suites.items():
        metrics |= _accuracy_with_interval(f"suite_{name}", groups.suite_reviews[name], seed)
        metric = f"suite_{name}_{'invariance' if _unchanged(suite) else 'group_accuracy'}"
        low, high = bootstrap_interval(mean_statistic, (groups.suite_groups[name],), seed)
        metrics |= {
            metric: float(groups.suite_groups[name].mean()),
            f"{metric}_ci_low": low,
            f"{metric}_ci_high": high,
        }
    return ModelEvaluation(
        {k: round(v, 6) for k, v in metrics.items()},
        test_probs,
        groups.suite_groups,
        groups.suite_reviews,
    )


def group_results(scores: dict[str, np.ndarray], data: EvaluationData) -> Groupings:
    """Per suite and for the hand-written pairs, each group's result: what the paired probes
    compare between models. Bootstrap over groups: a group's reviews are not independent."""
    contrast_right = pd.Series(
        is_right(scores["contrast"], data.contrast.label.to_numpy()).astype(bool)
    )
    pair_right = contrast_right.groupby(data.contrast.pair_id.to_numpy()).all()
    suite_groups = {"handwritten": pair_right.to_numpy(np.float64)}
    suite_reviews = {}
    for name, suite in data.suites.items():
        predicted = pd.Series(predicted_positive(scores[f"suite_{name}"]))
        right = pd.Series(is_right(scores[f"suite_{name}"], suite.cases.label.to_numpy()))
        by_group = suite.cases.group.to_numpy()
        suite_reviews[name] = right.groupby(by_group).mean().to_numpy()
        if _unchanged(suite):  # a group counts when every review keeps one label
            counts = predicted.groupby(by_group).nunique() == 1
        else:  # a group counts when every review is right
            counts = right.groupby(by_group).min() == 1
        suite_groups[name] = counts.to_numpy(np.float64)
    return Groupings(suite_groups, suite_reviews)


def _unchanged(suite: Suite) -> bool:
    return suite.group_kind == "unchanged"


def evaluate_predictor(
    predictor: Predictor, data: EvaluationData, seed: int = 0
) -> ModelEvaluation:
    """Every number the comparison reports, for one model: its scores, then their numbers."""
    return evaluate_scores(score_texts(predictor, data), data, seed)


def _accuracy_with_interval(prefix: str, right: np.ndarray, seed: int) -> dict[str, float]:
    """``{prefix}_accuracy`` and its 95% bootstrap interval, from per-item correctness."""
    if not len(right):
        return {}
    low, high = bootstrap_interval(mean_statistic, (right,), seed)
    return {
        f"{prefix}_accuracy": float(np.mean(right)),
        f"{prefix}_accuracy_ci_low": low,
        f"{prefix}_accuracy_ci_high": high,
    }
