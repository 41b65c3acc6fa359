"""The tuning search on the tiny archive: nested MLflow trials, resumable, winner written."""

from __future__ import annotations

import copy
import json
import shutil

import mlflow
import numpy as np
import optuna
import pytest
import yaml
from conftest import REPO, TINY_MODEL, model_entries

from imdb_sentiment.data.prepare import prepare_dataset
from imdb_sentiment.data.word_vectors import write_word_vectors
from imdb_sentiment.files import read_json
from imdb_sentiment.params import load_params, parse_params
from imdb_sentiment.tuning.command import write_report
from imdb_sentiment.tuning.history import chosen_trial, standard_error, tuning_summary, winner
from imdb_sentiment.tuning.params import write_winner
from imdb_sentiment.tuning.report import render
from imdb_sentiment.tuning.space import OBJECTIVE, in_space, suggest_model, trial_values
from imdb_sentiment.tuning.workers import STUDY_TAG, surplus_reason, tracked, trial_reporter, tune


def study_of(*trials: tuple[float, float]) -> optuna.Study:
    """An in-memory study of complete trials given as (val accuracy, seconds)."""
    study = optuna.create_study(direction="maximize")
    for number, (value, seconds) in enumerate(trials):
        study.add_trial(
            optuna.trial.create_trial(
                value=value,
                params={"units": number},
                distributions={"units": optuna.distributions.IntDistribution(0, 99)},
                user_attrs={"seconds": seconds},
            )
        )
    return study


def test_the_winner_is_the_fastest_trial_within_one_standard_error_of_the_best():
    # One standard error of 0.89 on 2,500 reviews is 0.626 points.
    study = study_of((0.8895, 1718.0), (0.8859, 264.0), (0.8835, 476.0), (0.8830, 100.0))
    assert chosen_trial(study, n_val=2500).number == 1  # 0.8830 lies outside, 0.8859 inside
    # With more validation reviews the margin shrinks and only the best is left.
    assert chosen_trial(study, n_val=250_000).number == 0
    # Equal seconds: the higher val accuracy wins.
    assert chosen_trial(study_of((0.89, 50.0), (0.888, 50.0)), n_val=2500).number == 0


def test_dan_draws_its_own_layers_and_an_order_blind_pooling():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = [suggest_model(study.ask(), "dan", 50000, vectors_dim=128) for _ in range(40)]
    assert {spec.layers for spec in drawn} == {1, 2, 3}
    assert {spec.pooling for spec in drawn} == {"mean", "max"}
    assert {spec.embedding_init for spec in drawn} == {"random", "word_vectors"}
    # One study per model: a categorical dimension keeps its choices within a study.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    gru = [suggest_model(study.ask(), "gru", 50000, vectors_dim=128) for _ in range(40)]
    assert {spec.layers for spec in gru} == {1, 2}
    assert {spec.pooling for spec in gru} == {"last", "mean", "max"}


def test_a_trial_that_starts_from_the_word_vectors_takes_their_width_and_its_winner_too():
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"embedding_init": "word_vectors", "embedding_dim": 64})
    trial = study.ask()
    spec = suggest_model(trial, "gru", 50000, vectors_dim=128)
    assert (spec.embedding_init, spec.embedding_dim) == ("word_vectors", 128)
    assert "embedding_dim" not in trial.params  # not drawn: the space set it
    study.tell(trial, 0.9)
    study.set_user_attr("arch", "gru")
    entry = winner(study, n_val=2500)
    assert entry["embedding_dim"] == 128 and entry["embedding_init"] == "word_vectors"
    # A trial from before embedding_init and word_dropout joined the space trained without.
    old = optuna.trial.create_trial(
        value=0.8,
        params={"units": 64},
        distributions={"units": optuna.distributions.IntDistribution(1, 128)},
    )
    assert trial_values(old) == {"embedding_init": "random", "word_dropout": 0.0, "units": 64}


def test_another_studys_winner_is_queued_with_the_values_this_architecture_allows():
    gru_winner = {"layers": 2, "pooling": "last", "units": 64, "embedding_dim": 256}
    assert in_space(gru_winner, "dan", 50000) == {"layers": 2, "units": 64, "embedding_dim": 256}
    dan_winner = {
        "layers": 3,
        "pooling": "mean",
        "embedding_init": "word_vectors",
        "embedding_dim": 128,
    }
    assert in_space(dan_winner, "gru", 50000) == {
        "pooling": "mean",
        "embedding_init": "word_vectors",
    }


def test_the_summary_holds_the_space_budget_pruner_and_each_studys_winner():
    params = load_params(REPO / "params.yaml")
    study = study_of((0.8895, 1718.0), (0.8859, 264.0), (0.8830, 100.0))
    study.set_user_attr("arch", "gru")
    summary = tuning_summary({"gru": study}, params, n_val=2500)
    assert json.loads(json.dumps(summary)) == summary  # all of it survives the JSON file
    assert summary["budget"] == {"epochs": params.train.epochs, "patience": params.train.patience}
    assert summary["pruner"]["last_epoch"] == params.train.patience + 1
    assert max(summary["search_space"]["vocab_size"]["choices"]) <= params.prepare.vocab_size
    (gru,) = summary["studies"]
    assert gru["states"]["COMPLETE"] == 3 and gru["trials"] == 3
    assert gru["winner"]["number"] == 1 and gru["best"]["number"] == 0
    assert gru["within_one_standard_error"] == 2
    assert [t["number"] for t in gru["top"]] == [0, 1, 2]
    assert gru["params_yaml_has_winner"] is False  # units 1 is not params.yaml's


def test_a_stepped_float_is_written_as_meant_and_the_report_sees_params_yaml_has_it(tmp_path):
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("arch", "gru")
    study.add_trial(
        optuna.trial.create_trial(
            value=0.9,
            params={"word_dropout": 0.1 * 3, "units": 64},  # 0.30000000000000004
            distributions={
                "word_dropout": optuna.distributions.FloatDistribution(0.0, 0.5, step=0.1),
                "units": optuna.distributions.IntDistribution(16, 128),
            },
            user_attrs={"seconds": 10.0},
        )
    )
    params_copy = tmp_path / "params.yaml"
    shutil.copyfile(REPO / "params.yaml", params_copy)
    write_winner("gru", study, params_copy, n_val=2500, corpus="imdb")
    assert yaml.safe_load(params_copy.read_text())["models"]["gru"]["word_dropout"] == 0.3
    (gru,) = tuning_summary({"gru": study}, load_params(params_copy), n_val=2500)["studies"]
    assert gru["params_yaml_has_winner"] is True


def test_the_report_is_rendered_from_the_json_file_it_writes_beside_it(tmp_path):
    params = load_params(REPO / "params.yaml")
    summary = tuning_summary({}, params, n_val=2500)
    report = write_report(summary, tmp_path)
    assert read_json(tmp_path / "reports" / "imdb" / "tuning.json") == summary
    assert report.read_text() == render(summary)
    assert summary["studies"] == []


def test_each_trial_is_a_nested_mlflow_run_with_its_params_state_and_value(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = mlflow.create_experiment("tuning-test")
    study = optuna.create_study(direction="maximize")

    def objective(trial: optuna.Trial) -> float:
        units = trial.suggest_int("units", 1, 9)
        trial.set_user_attr("seconds", 1.5)
        mlflow.log_metric("val_accuracy", 0.5, step=0)
        if units > 5:
            raise optuna.TrialPruned("pruned after epoch 1")
        if units == 5:
            raise RuntimeError("out of memory")
        return 0.1 * units

    for units in (2, 7, 5):
        study.enqueue_trial({"units": units})
    with mlflow.start_run(experiment_id=experiment_id) as parent:
        study.optimize(tracked(objective, experiment_id), n_trials=2)
        with pytest.raises(RuntimeError, match="out of memory"):
            study.optimize(tracked(objective, experiment_id), n_trials=1)
    runs = trial_runs(parent.info.run_id).set_index("tags.number").sort_index()
    assert list(runs.index) == ["0", "1", "2"]
    assert list(runs["tags.state"]) == ["COMPLETE", "PRUNED", "FAIL"]
    assert list(runs["status"]) == ["FINISHED", "FINISHED", "FAILED"]
    assert list(runs["params.units"]) == ["2", "7", "5"]
    assert runs.loc["0", f"metrics.{OBJECTIVE}"] == pytest.approx(0.2)
    assert runs["tags.seconds"].eq("1.5").all()
    assert runs["metrics.val_accuracy"].eq(0.5).all()
    assert mlflow.active_run() is None


def test_of_two_workers_starting_the_last_trial_together_the_later_numbered_one_stops():
    study = study_of((0.8, 1.0), (0.8, 1.0))  # trials 0 and 1 finished; a budget of 3
    first, second = study.ask(), study.ask()  # two workers, at the same moment
    assert surplus_reason(study, first.number, trials=3) is None
    assert surplus_reason(study, second.number, trials=3) == (
        "surplus: trials 0, 1, 2 already fill the 3"
    )
    # Whichever asks first: the answer depends on the numbers, not on timing.
    assert surplus_reason(study, first.number, trials=3) is None
    assert surplus_reason(study, second.number, trials=4) is None


@pytest.fixture
def tuning_setup(tmp_path, tiny_archive, monkeypatch):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["corpora"]["imdb"]["prepare"].update(vocab_size=2000, max_len=60)
    raw["train"].update(epochs=2, patience=1)
    for entry in model_entries(raw):  # every corpus is validated, SST-2's own overrides too
        entry.update(TINY_MODEL)
    raw["word_vectors"].update(dim=TINY_MODEL["embedding_dim"], min_count=2, epochs=1)
    params = parse_params(raw).corpus("imdb")
    prepared = tmp_path / "prepared"
    prepare_dataset(tiny_archive, prepared, params)
    # A trial may start from the word vectors: the search needs them before its first trial.
    write_word_vectors(prepared, tmp_path / "data" / "word_vectors", params.word_vectors, 0)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")  # marks tmp_path as the project root
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return params, prepared, f"sqlite:///{tmp_path / 'tuning.db'}", tmp_path


def trial_runs(parent_id: str):
    return mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )


def test_the_pruner_is_asked_only_up_to_the_last_epoch_every_complete_trial_reaches(tmp_path):
    import keras

    # Four complete trials at 0.80 for three epochs; the one that went on reached 0.95 later.
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    for _ in range(4):
        study.add_trial(
            optuna.trial.create_trial(
                value=0.8,
                params={},
                distributions={},
                intermediate_values={0: 0.8, 1: 0.8, 2: 0.8, 3: 0.95},
            )
        )
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")

    def run_trial(val_accuracy: float) -> int | None:
        reporter = trial_reporter(study.ask(), patience=2)
        reporter.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
        with mlflow.start_run():
            for epoch in range(5):
                logs = {"loss": 0.3, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": val_accuracy}
                reporter.on_epoch_end(epoch, logs)
                if reporter.pruned_at:
                    break
        return reporter.pruned_at

    assert run_trial(0.70) == 2  # below the median at epoch 2: pruned there
    # Above every complete trial where all of them count, below the one that went on at
    # epoch 4: that median is not asked.
    assert run_trial(0.85) is None


@pytest.mark.slow
def test_a_tiny_search_nests_its_trials_resumes_and_writes_the_winner(tuning_setup):
    params, prepared, storage, root = tuning_setup
    study = tune("gru", params, prepared, trials=2, storage_url=storage)
    assert len(study.trials) == 2
    # The search starts from what params.yaml has, so it can only improve on it.
    first = study.trials[0].params
    assert first["lr_schedule"] == params.models["gru"].lr_schedule
    assert first["pooling"] == params.models["gru"].pooling

    parents = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.{STUDY_TAG} = '{study.study_name}'"
    )
    assert len(parents) == 1
    parent_id = parents.run_id[0]
    trials = trial_runs(parent_id)
    assert len(trials) == 2
    assert (trials["params.model.arch"] == "gru").all()
    client = mlflow.MlflowClient()
    for run_id in trials.run_id:
        curve = client.get_metric_history(run_id, "val_accuracy")
        assert [m.step for m in curve] == list(range(len(curve))) and curve
    complete = trials[trials["tags.state"] == "COMPLETE"]
    assert complete["metrics.best_val_accuracy"].between(0, 1).all()

    # A re-run continues the same study under the same parent run.
    study = tune("gru", params, prepared, trials=3, storage_url=storage)
    assert len(study.trials) == 3
    assert len(trial_runs(parent_id)) == 3
    # A continued study proposes something new, not the first draw of the last process again.
    assert study.trials[2].params != study.trials[1].params

    # The committed history lets a new store (a fresh clone, another machine) continue it.
    history = root / "tuning" / f"{study.study_name}.json"
    assert history.exists()
    before = [(t.params, t.value) for t in study.trials]
    (root / "tuning.db").unlink()
    study = tune("gru", params, prepared, trials=4, storage_url=storage)
    assert len(study.trials) == 4
    assert sum("imported_from" in t.user_attrs for t in study.trials) == 3
    assert [(t.params, t.value) for t in study.trials[:3]] == before

    params_copy = root / "params.yaml"
    shutil.copyfile(REPO / "params.yaml", params_copy)
    chosen = chosen_trial(study, n_val=2498)
    entry = write_winner("gru", study, params_copy, n_val=2498, corpus="imdb")
    assert entry == pytest.approx({"arch": "gru", **trial_values(chosen)}, rel=1e-12)
    text = params_copy.read_text()
    assert "# One train@NAME stage per entry" in text  # comments survive
    written = load_params(params_copy).models["gru"]
    assert written.units == chosen.params["units"]
    # Another corpus's winner goes to its overrides, and the shared defaults stay.
    shared = params_copy.read_text()
    write_winner("gru", study, params_copy, n_val=2498, corpus="sst2")
    sst2 = load_params(params_copy, corpus="sst2").models["gru"]
    assert sst2.units == chosen.params["units"]
    assert yaml.safe_load(params_copy.read_text())["models"] == yaml.safe_load(shared)["models"]

    (gru,) = tuning_summary({"gru": study}, params, n_val=2498)["studies"]
    assert (gru["trials"], gru["imported"], gru["winner"]["number"]) == (4, 3, chosen.number)
    assert gru["history"] == f"tuning/{study.study_name}.json"
    best = max(t.value for t in study.trials if t.value is not None)
    assert gru["standard_error"] == pytest.approx(standard_error(best, 2498))

    # Another architecture's study tries params.yaml's entry, then gru's winner.
    lstm = tune("lstm", params, prepared, trials=2, storage_url=storage)
    assert lstm.trials[1].params == study.best_trial.params
    assert lstm.trials[1].user_attrs["winner_of"] == "gru"


@pytest.mark.slow
def test_the_search_refuses_a_model_that_params_yaml_does_not_list(tuning_setup):
    params, prepared, storage, _ = tuning_setup
    broken = copy.deepcopy(params)
    with pytest.raises(Exception, match="models.transformer is missing"):
        tune("transformer", broken, prepared, trials=1, storage_url=storage)


@pytest.mark.slow  # trains one model three ways: 40 s, a third of the fast suite's time
def test_train_the_search_and_the_benchmark_train_identical_weights(tuning_setup):
    # The three callers of training.fit_model, on the same params and data: `train@NAME`
    # (train_recurrent, as stages/train.py runs it), the benchmark's seed runs, and a trial of
    # the search (its first trial is params.yaml's configuration).
    import keras
    import pandas as pd

    from bench.pipeline import seed_model
    from imdb_sentiment.data.prepare import PreparedPaths
    from imdb_sentiment.models.training import HISTORY_KEYS, train_recurrent
    from imdb_sentiment.serving.predictors import KERAS_FILE

    params, prepared, storage, root = tuning_setup
    # Small, and inside the search space, so that the first trial is this entry exactly.
    spec = params.models["gru"].model_copy(
        update={"embedding_dim": 64, "units": 32, "learning_rate": 0.003}
    )
    params = params.model_copy(update={"models": {**params.models, "gru": spec}})
    folder = root / "models" / "gru"
    train_recurrent("gru", params, prepared, folder, root / "checkpoints" / "gru")
    trained = keras.models.load_model(folder / "predictor" / KERAS_FILE).get_weights()
    bench, _ = seed_model(params, PreparedPaths(prepared), "gru", params.seed)
    assert len(trained) == len(bench.get_weights()) > 0
    for ours, theirs in zip(trained, bench.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)

    study = tune("gru", params, prepared, trials=1, storage_url=storage)
    (trial,) = study.trials
    assert trial.params == {k: getattr(spec, k) for k in trial.params}
    history = pd.read_csv(folder / "history.csv")
    client = mlflow.MlflowClient()
    for key in HISTORY_KEYS:  # every epoch's numbers, to the last bit float32 carries
        curve = [m.value for m in client.get_metric_history(trial.user_attrs["mlflow_run_id"], key)]
        np.testing.assert_array_equal(np.float32(curve), np.float32(history[key]))
