"""The ensemble rule's weights: picked on validation from members' saved scores.

Apart from ensemble.py, which also logs and writes the ensemble's model folder (MLflow), so
that compare, which weighs every recurrent model with the best bag, imports no MLflow.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from imdb_sentiment.evaluation.intervals import classification_metrics
from imdb_sentiment.serving.predictors import average_scores


def weight_grid(members: int, step: float) -> list[tuple[float, ...]]:
    """Every weighting of ``members`` on the simplex in steps of ``step`` (each weight a
    multiple of it, summing to 1), in a fixed order."""
    units = round(1 / step)
    return [
        tuple(k / units for k in (*head, units - sum(head)))
        for head in itertools.product(range(units + 1), repeat=members - 1)
        if sum(head) <= units
    ]


def pick_weights(
    val_scores: dict[str, np.ndarray], labels: np.ndarray, method: str, step: float
) -> tuple[dict[str, float], dict[str, float]]:
    """(weights, their validation metrics): ``equal``, or for ``validation`` the grid point
    with the best validation accuracy, ties to the lower validation log loss, then to the
    first in grid order. Validation only: the test set never weighs a member."""
    names = list(val_scores)
    candidates = [tuple(1 / len(names) for _ in names)]
    if method == "validation":
        candidates = weight_grid(len(names), step)
    best: tuple[Any, ...] | None = None
    for weights in candidates:
        chosen = dict(zip(names, weights, strict=True))
        metrics = classification_metrics(labels, average_scores(val_scores, chosen))
        key = (-metrics["accuracy"], metrics["log_loss"])
        if best is None or key < best[0]:
            best = (key, chosen, metrics)
    assert best is not None
    return {m: round(w, 6) for m, w in best[1].items()}, best[2]
