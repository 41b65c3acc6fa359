"""The tuning report's renderer on fixture JSON: it prints what the data says, nothing else."""

from __future__ import annotations

import copy

import pytest
from conftest import REPO

from imdb_sentiment.files import read_json
from imdb_sentiment.tuning.report import render


def trial(number: int, val_accuracy: float, seconds: float | None, within: bool) -> dict:
    return {
        "number": number,
        "val_accuracy": val_accuracy,
        "within_one_standard_error": within,
        "params": {"units": 16 * (number + 1), "learning_rate": 0.000587},
        "best_epoch": 2,
        "epochs_run": 4,
        "seconds": seconds,
    }


@pytest.fixture
def summary() -> dict:
    best, winner = trial(7, 0.8891, 864.0, True), trial(3, 0.8883, 253.4, True)
    outside = trial(1, 0.8747, None, False)
    return {
        "corpus": "imdb",
        "objective": "best_val_accuracy",
        "search_space": {
            "units": {"choices": [16, 32, 64]},
            "learning_rate": {"low": 0.0001, "high": 0.01, "log": True},
        },
        "budget": {"epochs": 6, "patience": 3},
        "pruner": {"rule": "median", "n_startup_trials": 5, "first_epoch": 2, "last_epoch": 4},
        "n_val": 1234,
        "studies": [
            {
                "name": "lstm_wide",
                "arch": "lstm",
                "study": "lstm_wide-1234abcd",
                "trials": 9,
                "states": {"RUNNING": 1, "COMPLETE": 3, "PRUNED": 4, "FAIL": 1, "WAITING": 0},
                "training_minutes": 97.4,
                "imported": 2,
                "history": "tuning/lstm_wide-1234abcd.json",
                "standard_error": 0.0089,
                "within_one_standard_error": 2,
                "winner": winner,
                "best": best,
                "params_yaml_has_winner": True,
                "top": [best, winner, outside],
            }
        ],
    }


def test_the_method_comes_from_the_data(summary):
    text = render(summary)
    assert "imdb's validation split (1,234 texts)" in text and "`best_val_accuracy`" in text
    assert "`train.epochs` 6, `train.patience` 3" in text
    assert "after epoch 2 to 4" in text and "once 5 trials have finished" in text
    # The space searched is the JSON's, nothing more.
    assert "| units | 16, 32, 64 |" in text
    assert "| learning_rate | 0.0001 to 0.01, log-uniform |" in text
    assert "vocab_size" not in text
    summary["pruner"]["last_epoch"] = 2
    assert "after epoch 2, a trial below the median" in render(summary)


def test_a_study_shows_its_counts_winner_and_top_trials(summary):
    text = render(summary)
    assert "## lstm_wide (lstm), study `lstm_wide-1234abcd`" in text
    assert (
        "9 trials: 1 running or interrupted, 3 complete, 4 pruned, 1 failed; 97 minutes of "
        "training; 2 from `tuning/lstm_wide-1234abcd.json`." in text
    )
    assert (
        "Winner: trial 3, val accuracy **88.83%** (best epoch 2 of 4, 253 s), the fastest of 2 "
        "trials within one standard error (0.89 points) of the best observed, trial 7 "
        "(88.91%, 864 s). params.yaml has it." in text
    )
    assert "| trial | val acc | within 1 SE | units | learning_rate | epochs | s |" in text
    assert "| 7 | 88.91% | yes | 128 | 0.000587 | 4 | 864 |" in text
    assert "| 1 | 87.47% |  | 32 | 0.000587 | 4 |  |" in text  # no seconds recorded: blank


def test_a_winner_that_is_the_best_and_is_not_in_params_yaml(summary):
    study = summary["studies"][0]
    study |= {"winner": study["best"], "params_yaml_has_winner": False, "imported": 0}
    text = render(summary)
    assert "(best epoch 2 of 4, 864 s), the best observed." in text
    assert "params.yaml does **not** have it yet." in text
    assert "from `tuning/" not in text


def test_no_complete_trial_and_no_study(summary):
    empty = copy.deepcopy(summary)
    study = empty["studies"][0]
    for key in ("standard_error", "within_one_standard_error", "winner", "best", "top"):
        del study[key]
    study |= {"trials": 2, "states": {"COMPLETE": 0, "PRUNED": 2, "FAIL": 0}}
    text = render(empty)
    assert "2 trials: 0 complete, 2 pruned; 97 minutes" in text
    assert "No complete trial yet." in text and "| trial |" not in text
    assert "No study has run on the current data yet." in render(summary | {"studies": []})


@pytest.mark.parametrize("corpus", ["imdb", "sst2"])
def test_the_committed_report_is_the_rendering_of_its_json(corpus):
    summary = read_json(REPO / "reports" / corpus / "tuning.json")
    assert summary["corpus"] == corpus
    assert (REPO / "reports" / corpus / "tuning.md").read_text() == render(summary)
