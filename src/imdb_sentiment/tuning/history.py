"""What a tuning study has tried: its finished trials saved to (and restored from) git's
``tuning/<study>.json``, the rule that picks its winner, and the numbers reports/CORPUS/tuning.json
holds.

The history lets a fresh clone or another machine start its store from the trials already
run and continue the same search.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from imdb_sentiment.files import read_json, write_json
from imdb_sentiment.params import ModelParams, Params, as_dict
from imdb_sentiment.tuning.space import ARCH_SPACE, OBJECTIVE, search_space, trial_values
from imdb_sentiment.tuning.study import PARENT_ATTR, PRUNER, finished_trials

HISTORY = Path("tuning")  # one JSON file of finished trials per study, kept in git


def history_path(root: Path, study: optuna.Study) -> Path:
    """Where ``study``'s finished trials are kept in the checkout at ``root``."""
    return root / HISTORY / f"{study.study_name}.json"


def save_history(study: optuna.Study, path: Path) -> None:
    """Every finished trial of ``study`` as JSON: what a new store needs to continue it."""
    trials = [
        {
            "number": trial.number,
            "state": trial.state.name,
            "value": trial.value if trial.state == TrialState.COMPLETE else None,
            "params": trial.params,
            "distributions": {
                key: optuna.distributions.distribution_to_json(distribution)
                for key, distribution in trial.distributions.items()
            },
            "intermediate_values": trial.intermediate_values,
            "user_attrs": trial.user_attrs,
            "datetime_start": str(trial.datetime_start),
            "datetime_complete": str(trial.datetime_complete),
        }
        for trial in finished_trials(study)
    ]
    # The parent runs live in this machine's store only; a new store starts its own.
    attrs = {k: v for k, v in study.user_attrs.items() if not k.startswith(PARENT_ATTR)}
    write_json(path, {"study": study.study_name, "attrs": attrs, "trials": trials})


def restore_history(study: optuna.Study, path: Path) -> int:
    """Add the finished trials saved in ``path`` to an empty ``study``; return how many.

    The trials keep their params, values and per-epoch curves (so the sampler and the pruner
    learn from them); their MLflow runs stay in the store of the machine that ran them.
    """
    saved = read_json(path)
    study.add_trials(
        [
            optuna.trial.create_trial(
                state=TrialState[trial["state"]],
                value=trial["value"],
                params=trial["params"],
                distributions={
                    key: optuna.distributions.json_to_distribution(text)
                    for key, text in trial["distributions"].items()
                },
                user_attrs={**trial["user_attrs"], "imported_from": path.name},
                intermediate_values={int(k): v for k, v in trial["intermediate_values"].items()},
            )
            for trial in saved["trials"]
        ]
    )
    return len(saved["trials"])


def standard_error(accuracy: float, n_val: int) -> float:
    """The binomial standard error of an accuracy measured on ``n_val`` validation reviews."""
    return (accuracy * (1 - accuracy) / max(n_val, 1)) ** 0.5


def chosen_trial(study: optuna.Study, n_val: int) -> optuna.trial.FrozenTrial:
    """The trial that becomes the default: the fastest within one standard error of the best.

    The one-standard-error rule (Hastie, Tibshirani & Friedman, *The Elements of Statistical
    Learning*, 7.10): on ``n_val`` reviews, trials that close to the best are not shown to be
    worse, and the best of many noisy trials is flattered by its own noise. Among those, the
    one that trained in the fewest seconds wins, so a default costs no more time than the
    evidence says it must (a 2-layer BiLSTM 0.4 points above a 1-layer one in val accuracy
    took 6.5 times as long). Validation only: the test set picks nothing here.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name} has no complete trial yet")
    best = max(trial.value for trial in complete)
    near = [t for t in complete if t.value >= best - standard_error(best, n_val)]
    return min(near, key=lambda t: (t.user_attrs.get("seconds", float("inf")), -t.value))


def winner(study: optuna.Study, n_val: int) -> dict[str, Any]:
    """The chosen trial (see `chosen_trial`) as a params.yaml ``models:`` entry."""
    values = trial_values(chosen_trial(study, n_val))
    # A value drawn on a step carries the step's float noise (0.1 * 3 = 0.30000000000000004):
    # 15 significant digits give what was meant and move no value by more than an ulp, and
    # params.yaml is compared with this entry, so it is rounded here, once.
    rounded = {k: float(f"{v:.15g}") if isinstance(v, float) else v for k, v in values.items()}
    return {"arch": study.user_attrs["arch"], **rounded}


def tuning_summary(
    studies: dict[str, optuna.Study], params: Params, n_val: int, top: int = 10
) -> dict[str, Any]:
    """The numbers of reports/CORPUS/tuning.md: the space searched, the budget, the pruner, and per
    model what was tried and what won (the ``top`` complete trials by val accuracy)."""
    return {
        "corpus": params.corpus,
        "objective": OBJECTIVE,
        "search_space": search_space(params.prepare.vocab_size),
        # Where an architecture's values differ from the shared space; and embedding_dim,
        # set to the vectors' width where a trial starts from them.
        "arch_spaces": ARCH_SPACE,
        "word_vectors_dim": params.word_vectors.dim,
        "budget": {"epochs": params.train.epochs, "patience": params.train.patience},
        # Pruning is asked from the first epoch after the warm-up up to epoch patience + 1
        # (see tuning_workers.trial_reporter), both 1-based here.
        "pruner": {
            "rule": "median",
            "n_startup_trials": PRUNER["n_startup_trials"],
            "first_epoch": PRUNER["n_warmup_steps"] + 1,
            "last_epoch": params.train.patience + 1,
        },
        "n_val": n_val,
        "studies": [
            _study_summary(name, study, params.models[name], n_val, top)
            for name, study in studies.items()
        ],
    }


def _study_summary(
    name: str, study: optuna.Study, spec: ModelParams, n_val: int, top: int
) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: -t.value)
    summary: dict[str, Any] = {
        "name": name,
        "arch": study.user_attrs.get("arch"),
        "study": study.study_name,
        "trials": len(trials),
        "states": _state_counts(trials),
        "training_minutes": round(sum(t.user_attrs.get("seconds", 0) for t in trials) / 60, 1),
        "imported": sum("imported_from" in t.user_attrs for t in trials),
        "history": history_path(Path(), study).as_posix(),
    }
    if not complete:
        return summary
    best = complete[0]
    margin = standard_error(best.value, n_val)
    threshold = best.value - margin
    entry = winner(study, n_val)
    has_winner = entry == {k: v for k, v in as_dict(spec).items() if k in entry}
    decided = {
        "standard_error": margin,  # of the best val accuracy: the winner rule's margin
        "within_one_standard_error": sum(t.value >= threshold for t in complete),
        "winner": _trial_summary(chosen_trial(study, n_val), threshold),
        "best": _trial_summary(best, threshold),
        "params_yaml_has_winner": has_winner,
        "top": [_trial_summary(t, threshold) for t in complete[:top]],
    }
    return summary | decided


def _trial_summary(trial: optuna.trial.FrozenTrial, threshold: float) -> dict[str, Any]:
    return {
        "number": trial.number,
        "val_accuracy": trial.value,
        "within_one_standard_error": trial.value >= threshold,
        "params": trial_values(trial),
        "best_epoch": trial.user_attrs.get("best_epoch"),
        "epochs_run": trial.user_attrs.get("epochs_run"),
        "seconds": trial.user_attrs.get("seconds"),
    }


def _state_counts(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """Trials per state; SKIPPED: failed on purpose, untrained, because another worker's
    trial already filled the budget (not a failure of the trial)."""
    counts = {state.name: sum(t.state == state for t in trials) for state in TrialState}
    counts["SKIPPED"] = sum("skipped" in t.user_attrs for t in trials)
    counts["FAIL"] -= counts["SKIPPED"]
    return counts
