"""The test metrics and their bootstrap intervals: the decision rule, the classification
metrics, percentile intervals from paired resamples, paired differences, and the ROC and
confusion tables of the plots. Every number with an interval in the reports comes from here.

scikit-learn and scipy are imported in the functions that use them: the probes stage reads
only this module's decision rule, and would otherwise pay seconds to start."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from imdb_sentiment.serving.predictors import THRESHOLD

ROC_POINTS = 200
# 95% percentile intervals over 1,000 resamples of the test reviews: the interval's ends move
# by about 0.05 points between bootstrap seeds at n=25,000, well under the widths (~0.7).
CONFIDENCE = 0.95
RESAMPLES = 1000
_BATCH = 100  # resamples in memory at once: 100 x 25,000 floats
_EPS = 1e-7


def predicted_positive(probabilities: np.ndarray) -> np.ndarray:
    """The decision rule, in one place: positive when the probability is at least THRESHOLD."""
    return np.asarray(probabilities) >= THRESHOLD


def is_right(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per review, 1.0 where the decision matches the label (0/1), else 0.0."""
    return (predicted_positive(probabilities) == np.asarray(labels).astype(bool)).astype(np.float64)


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (positive class), ROC AUC and log loss."""
    from sklearn import metrics as skm

    predicted = predicted_positive(probabilities).astype(int)
    return {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(labels, probabilities)),
        "log_loss": float(skm.log_loss(labels, np.clip(probabilities, 1e-7, 1 - 1e-7))),
    }


Statistic = Callable[..., np.ndarray]  # (labels, probabilities, axis) -> one value per resample


def metric_statistic(name: str) -> Statistic:
    """``name`` as a statistic scipy.stats.bootstrap can evaluate on many resamples at once."""

    def counts(y, p, axis):
        predicted = p >= THRESHOLD
        tp = np.sum(predicted & (y == 1), axis=axis)
        fp = np.sum(predicted & (y == 0), axis=axis)
        fn = np.sum(~predicted & (y == 1), axis=axis)
        return tp, fp, fn

    def accuracy(y, p, axis=-1):
        return np.mean((p >= THRESHOLD) == (y == 1), axis=axis)

    def precision(y, p, axis=-1):
        tp, fp, _ = counts(y, p, axis)
        return np.divide(tp, tp + fp, out=np.zeros(np.shape(tp)), where=(tp + fp) > 0)

    def recall(y, p, axis=-1):
        tp, _, fn = counts(y, p, axis)
        return np.divide(tp, tp + fn, out=np.zeros(np.shape(tp)), where=(tp + fn) > 0)

    def f1(y, p, axis=-1):
        tp, fp, fn = counts(y, p, axis)
        return np.divide(
            2 * tp, 2 * tp + fp + fn, out=np.zeros(np.shape(tp)), where=(2 * tp + fp + fn) > 0
        )

    def roc_auc(y, p, axis=-1):
        # Mann-Whitney: the chance a random positive outscores a random negative (ties half),
        # counted per distinct score instead of ranked: no sort of each resample, and the
        # same sums (integers and halves, exact in float64) as the rank-sum formula.
        y, p = np.moveaxis(np.asarray(y), axis, -1), np.moveaxis(np.asarray(p), axis, -1)
        shape, n = y.shape[:-1], y.shape[-1]
        # Integer scores are already ranks (metric_intervals passes them): no sort at all.
        ranked = p if np.issubdtype(p.dtype, np.integer) else np.unique(p, return_inverse=True)[1]
        rows, bins = y.reshape(-1, n) == 1, ranked.reshape(-1, n)
        m, distinct = rows.shape[0], int(bins.max()) + 1 if bins.size else 1
        flat = bins + distinct * np.arange(m)[:, None]
        negatives_at = np.bincount(flat[~rows], minlength=m * distinct).reshape(m, distinct)
        earned = np.cumsum(negatives_at, axis=1) - 0.5 * negatives_at  # below + half the ties
        u = np.sum(np.where(rows, np.take_along_axis(earned, bins, axis=1), 0.0), axis=1)
        positives = rows.sum(axis=1)
        return (u / np.maximum(positives * (n - positives), 1)).reshape(shape)

    def log_loss(y, p, axis=-1):
        p = np.clip(p, _EPS, 1 - _EPS)
        return -np.mean(np.where(y == 1, np.log(p), np.log(1 - p)), axis=axis)

    return locals()[name]


def bootstrap_interval(
    statistic: Statistic, samples: Sequence[np.ndarray], seed: int
) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of ``statistic(*samples, axis)``, resampling the
    rows of ``samples`` together (paired), seeded so every model gets the same resamples."""
    low, high = bootstrap_intervals(statistic, samples, seed)
    return float(low), float(high)


def bootstrap_intervals(
    statistic: Statistic, samples: Sequence[np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``bootstrap_interval`` of a statistic with several outputs (stacked first), all from
    one set of resamples: the same resamples each output would get alone, drawn once."""
    if len(samples[0]) < 2:
        value = np.asarray(statistic(*samples, axis=-1), dtype=np.float64)
        return value, value
    from scipy import stats

    if statistic in (mean_statistic, _mean_difference) and _zero_or_one(*samples):
        # Accuracies and their differences: the same resamples as stats.bootstrap draws, and
        # the same numbers (tests/evaluation holds them equal), from counts of how often each
        # row is drawn. A score stage asks for dozens of intervals and compare for dozens of
        # differences on one set of rows and seed: milliseconds each instead of a second.
        counts = _resample_counts(len(samples[0]), seed)
        # Counts times 0/1 values are integer sums below 2**24, exact in float32: each mean
        # is the float64 sum / n that np.mean of the resampled rows gives.
        means = [(counts @ x.astype(np.float32)).astype(np.float64) / len(x) for x in samples]
        resampled = means[0] if statistic is mean_statistic else means[0] - means[1]
        alpha = np.asarray((1 - CONFIDENCE) / 2)
        low, high = stats.quantile(resampled, np.stack([alpha, 1 - alpha]), axis=-1)
        return np.asarray(low), np.asarray(high)
    result = stats.bootstrap(
        tuple(samples),
        statistic,
        n_resamples=RESAMPLES,
        batch=_BATCH,
        vectorized=True,
        paired=True,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return np.asarray(result.confidence_interval.low), np.asarray(result.confidence_interval.high)


METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


def metric_intervals(
    labels: np.ndarray, probabilities: np.ndarray, seed: int, prefix: str = "test_"
) -> dict[str, float]:
    """``{prefix}{metric}_ci_low`` / ``_ci_high`` for every classification metric, from one
    set of resamples of (label, probability, rank) rows."""
    # AUC depends on the scores' order only: resampled as ranks, it needs no sort per resample.
    ranks = np.unique(probabilities, return_inverse=True)[1].reshape(np.shape(probabilities))
    statistics = [metric_statistic(name) for name in METRICS]

    def every_metric(y: np.ndarray, p: np.ndarray, r: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.stack(
            [
                statistic(y, r if name == "roc_auc" else p, axis=axis)
                for name, statistic in zip(METRICS, statistics, strict=True)
            ]
        )

    lows, highs = bootstrap_intervals(every_metric, (labels, probabilities, ranks), seed)
    intervals = {}
    for name, low, high in zip(METRICS, lows, highs, strict=True):
        intervals[f"{prefix}{name}_ci_low"] = float(low)
        intervals[f"{prefix}{name}_ci_high"] = float(high)
    return intervals


def mean_statistic(*columns: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(columns[0], axis=axis)


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, seed: int) -> dict[str, float]:
    """Accuracy of A minus accuracy of B on the same reviews, with its paired 95% interval."""
    a, b = correct_a.astype(np.float64), correct_b.astype(np.float64)
    low, high = bootstrap_interval(_mean_difference, (a, b), seed)
    return {"difference": float(a.mean() - b.mean()), "ci_low": low, "ci_high": high}


def _zero_or_one(*columns: np.ndarray) -> bool:
    return all(bool(np.all((column == 0) | (column == 1))) for column in columns)


@functools.lru_cache(maxsize=2)  # the test set's rows, and the order curve's sample
def _resample_counts(n: int, seed: int) -> np.ndarray:
    """How often each of ``n`` rows appears in each resample (RESAMPLES x n, float32): the
    draws scipy.stats.bootstrap makes for a paired sample of ``n`` rows with ``seed``, which
    resamples the rows' indices, ``_BATCH`` resamples at a time."""
    rng = np.random.default_rng(seed)
    counts = np.empty((RESAMPLES, n), dtype=np.float32)
    for start in range(0, RESAMPLES, _BATCH):
        rows = min(_BATCH, RESAMPLES - start)
        drawn = rng.integers(0, n, (rows, n)) + n * np.arange(rows)[:, None]
        counts[start : start + rows] = np.bincount(drawn.ravel(), minlength=rows * n).reshape(
            rows, n
        )
    return counts


def roc_points(labels: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """At most ROC_POINTS (fpr, tpr, threshold) rows: enough for a smooth curve in a plot."""
    from sklearn import metrics as skm

    fpr, tpr, thresholds = skm.roc_curve(labels, probabilities)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS)).astype(int))
    return pd.DataFrame(
        {"fpr": fpr[keep], "tpr": tpr[keep], "threshold": np.clip(thresholds[keep], 0, 1)}
    )


def confusion_rows(labels: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """One (actual, predicted) row per test review, the input DVC's confusion template wants."""

    names = np.array(["negative", "positive"])
    return pd.DataFrame(
        {"actual": names[labels], "predicted": names[predicted_positive(probabilities).astype(int)]}
    )
