"""The tuning search's space: what a trial may set, how it draws it, and what scores it.

One flat space for every architecture, so that a winner of one study is a valid trial of
another (see `tuning_workers.seed_study`).
"""

from __future__ import annotations

from typing import Any

import optuna

from imdb_sentiment.params import LR_SCHEDULES, POOLINGS, ModelParams

OBJECTIVE = "best_val_accuracy"  # validation accuracy at the epoch early stopping keeps

# In the order a trial draws it (choices fixed, so a study keeps one space): categorical
# ``choices``, or ``low`` to ``high`` with a ``step`` or ``log``-uniform (ints: every integer
# between).
SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "vocab_size": {"choices": [10000, 20000, 30000, 50000]},
    "embedding_dim": {"choices": [64, 128, 256]},
    "embedding_dropout": {"low": 0.0, "high": 0.6, "step": 0.1},
    "units": {"choices": [32, 64, 128]},
    "layers": {"low": 1, "high": 2},
    "dropout": {"low": 0.0, "high": 0.6, "step": 0.1},
    "pooling": {"choices": list(POOLINGS)},
    "batch_size": {"choices": [32, 64, 128]},
    "learning_rate": {"low": 3e-4, "high": 3e-3, "log": True},
    "lr_schedule": {"choices": list(LR_SCHEDULES)},
}


def search_space(max_vocab: int) -> dict[str, dict[str, Any]]:
    """SEARCH_SPACE with the vocabularies the prepared data holds (up to ``max_vocab``)."""
    sizes = [v for v in SEARCH_SPACE["vocab_size"]["choices"] if v <= max_vocab] or [max_vocab]
    return SEARCH_SPACE | {"vocab_size": {"choices": sizes}}


def suggest_model(trial: optuna.Trial, arch: str, max_vocab: int) -> ModelParams:
    """One point of the search space for ``arch`` (vocabularies up to ``max_vocab``)."""
    values = {}
    for key, dimension in search_space(max_vocab).items():
        if "choices" in dimension:
            values[key] = trial.suggest_categorical(key, dimension["choices"])
        elif isinstance(dimension["low"], int):
            values[key] = trial.suggest_int(key, dimension["low"], dimension["high"])
        else:
            values[key] = trial.suggest_float(
                key,
                dimension["low"],
                dimension["high"],
                step=dimension.get("step"),
                log=dimension.get("log", False),
            )
    return ModelParams(arch=arch, **values)


def in_space(spec: ModelParams, max_vocab: int) -> dict[str, Any]:
    """The entry's values that lie in the search space (a trial samples the rest)."""
    values = {}
    for key, dimension in search_space(max_vocab).items():
        value = getattr(spec, key)
        if "choices" in dimension:
            fits = value in dimension["choices"]
        elif "step" in dimension:
            low, high, step = dimension["low"], dimension["high"], dimension["step"]
            grid = {round(low + i * step, 10) for i in range(round((high - low) / step) + 1)}
            fits = round(value, 10) in grid
        else:
            fits = dimension["low"] <= value <= dimension["high"]
        if fits:
            values[key] = value
    return values
