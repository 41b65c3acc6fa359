"""The tuning search's space: what a trial may set, how it draws it, and what scores it.

One flat space shared by every architecture, so that a winner of one study is a valid trial
of another (see `workers.seed_study`), except where an architecture allows other values
(ARCH_SPACE: dan's dense layers and its order-blind pooling). A value another study found
that this architecture does not allow is drawn afresh (`in_space`).
"""

from __future__ import annotations

from typing import Any

import optuna

from imdb_sentiment.params import (
    EMBEDDING_INITS,
    LR_SCHEDULES,
    ORDER_BLIND_POOLINGS,
    POOLINGS,
    ModelParams,
)

OBJECTIVE = "best_val_accuracy"  # validation accuracy at the epoch early stopping keeps

# In the order a trial draws it (choices fixed, so a study keeps one space): categorical
# ``choices``, or ``low`` to ``high`` with a ``step`` or ``log``-uniform (ints: every integer
# between). embedding_init comes before embedding_dim: a trial that starts from the word
# vectors takes their width instead of drawing one (SET_BY_SPACE).
SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "vocab_size": {"choices": [10000, 20000, 30000, 50000]},
    "embedding_init": {"choices": list(EMBEDDING_INITS)},
    "embedding_dim": {"choices": [64, 128, 256]},
    "embedding_dropout": {"low": 0.0, "high": 0.6, "step": 0.1},
    "word_dropout": {"low": 0.0, "high": 0.5, "step": 0.1},
    "units": {"choices": [32, 64, 128]},
    "layers": {"low": 1, "high": 2},
    "dropout": {"low": 0.0, "high": 0.6, "step": 0.1},
    "pooling": {"choices": list(POOLINGS)},
    "batch_size": {"choices": [32, 64, 128]},
    "learning_rate": {"low": 3e-4, "high": 3e-3, "log": True},
    "lr_schedule": {"choices": list(LR_SCHEDULES)},
}
# Where an architecture's dimensions differ from the shared ones.
ARCH_SPACE: dict[str, dict[str, dict[str, Any]]] = {
    "dan": {"layers": {"low": 1, "high": 3}, "pooling": {"choices": list(ORDER_BLIND_POOLINGS)}},
}
# What a trial that did not draw a dimension trained with: the trials run before it joined
# the space (their history has no value for it) read as this.
UNDRAWN = {"embedding_init": "random", "word_dropout": 0.0}
SET_BY_SPACE = "set_by_space"  # a trial's user attr: the values it took instead of drawing


def search_space(max_vocab: int, arch: str | None = None) -> dict[str, dict[str, Any]]:
    """SEARCH_SPACE with the vocabularies the prepared data holds (up to ``max_vocab``) and,
    for ``arch``, its own dimensions."""
    sizes = [v for v in SEARCH_SPACE["vocab_size"]["choices"] if v <= max_vocab] or [max_vocab]
    return SEARCH_SPACE | {"vocab_size": {"choices": sizes}} | ARCH_SPACE.get(arch or "", {})


def suggest_model(trial: optuna.Trial, arch: str, max_vocab: int, vectors_dim: int) -> ModelParams:
    """One point of the search space for ``arch`` (vocabularies up to ``max_vocab``); a
    trial that starts from the word vectors has their width, ``vectors_dim``."""
    values: dict[str, Any] = {}
    for key, dimension in search_space(max_vocab, arch).items():
        if key == "embedding_dim" and values["embedding_init"] == "word_vectors":
            values[key] = vectors_dim
            trial.set_user_attr(SET_BY_SPACE, {key: vectors_dim})
        elif "choices" in dimension:
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


def trial_values(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """Every value a finished trial trained with: what it drew, what the space set for it,
    and UNDRAWN for the dimensions that joined the space after it ran."""
    return UNDRAWN | trial.params | trial.user_attrs.get(SET_BY_SPACE, {})


def in_space(values: dict[str, Any], arch: str, max_vocab: int) -> dict[str, Any]:
    """The ``values`` (a params.yaml entry, another study's winner) that lie in ``arch``'s
    search space, as a trial would draw them (a trial samples the rest)."""
    fitting = {}
    for key, dimension in search_space(max_vocab, arch).items():
        if key not in values:
            continue
        value = values[key]
        if key == "embedding_dim" and values.get("embedding_init") == "word_vectors":
            continue  # set by the space, not drawn
        if "choices" in dimension:
            fits = value in dimension["choices"]
        elif "step" in dimension:
            low, high, step = dimension["low"], dimension["high"], dimension["step"]
            grid = {round(low + i * step, 10) for i in range(round((high - low) / step) + 1)}
            fits = round(value, 10) in grid
        else:
            fits = dimension["low"] <= value <= dimension["high"]
        if fits:
            fitting[key] = value
    return fitting
