"""The shared-study workers: each process draws trials of one study and trains them until the
study has its budget of finished trials.

Trials train on the training split and are scored on the validation split only; the test set
never sees the search. Each trial trains exactly as `train@NAME` would (the same loop, early
stopping and epoch budget), reports its per-epoch validation accuracy to Optuna's median
pruner, which stops hopeless trials early, and logs its params and curves to MLflow as a
nested run under one parent run per study and worker. Workers on several machines pointed at
one study store share its budget, each trial drawn by one of them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import optuna
from optuna.trial import TrialState

from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.data.word_vectors import WordVectors
from imdb_sentiment.files import project_root, read_json
from imdb_sentiment.params import Params, ParamsError, as_dict, flatten_params
from imdb_sentiment.paths import WORD_VECTORS
from imdb_sentiment.tracking.runs import run_tags
from imdb_sentiment.tracking.store import configure_tracking
from imdb_sentiment.tuning.history import history_path, restore_history, save_history
from imdb_sentiment.tuning.space import OBJECTIVE, in_space, suggest_model
from imdb_sentiment.tuning.study import (
    HEARTBEAT_SECONDS,
    PARENT_ATTR,
    default_storage,
    finished_trials,
    open_study,
    quiet_optuna,
    study_name,
    trial_sampler,
)

log = logging.getLogger(__name__)

STUDY_TAG = "tuning_study"
WORKER_TAG = "tuning_worker"  # on a parent run: the host:pid of the worker it belongs to
WAIT_POLL_SECONDS = 5  # how often a worker looks at the last trials other workers run

Objective = Callable[[optuna.Trial], float]


class SurplusTrial(Exception):
    """Another worker already runs the study's last trial: this one stops untrained."""


def tune(
    name: str,
    params: Params,
    prepared_dir: Path,
    trials: int,
    storage_url: str | None = None,
    heartbeat: int = HEARTBEAT_SECONDS,
) -> optuna.Study:
    """Run ``name``'s study until it has ``trials`` finished (complete or pruned) trials.

    Other workers may share the study (the same ``storage_url``): this one starts a trial
    only while the finished and running trials are fewer than ``trials``, then waits for the
    others' last trials, retrying any whose worker died, so the study ends with exactly
    ``trials`` finished.
    """
    if name not in params.models:
        raise ParamsError(f"params.yaml: models.{name} is missing; tune a model it lists")
    prepared = PreparedPaths(prepared_dir)
    if not prepared.config.exists():
        raise ParamsError(f"{prepared_dir} has no prepared data; run `dvc repro prepare` first")
    prepare_config = read_json(prepared.config)
    # Every trial may draw embedding_init word_vectors: the vectors must be there from the
    # start (the space's choices are fixed, so they cannot be left out when missing).
    WordVectors.load(project_root() / WORD_VECTORS, params.word_vectors.dim)
    experiment_id = configure_tracking()
    study = seed_study(name, params, prepare_config, storage_url or default_storage(), heartbeat)
    done = len(finished_trials(study))
    log.info(
        "study %s: %d trials finished, %d to run (validation split only)",
        study.study_name,
        done,
        max(0, trials - done),
    )
    if done >= trials:
        return study
    worker = f"{socket.gethostname()}:{os.getpid()}"  # which machine and process ran a trial
    with _parent_run(study, name, params, experiment_id, worker):
        mlflow.set_tag(WORKER_TAG, worker)
        trainer = tracked(TrialTrainer(name, params, prepared), experiment_id)
        draw = within_budget(trainer, study, trials, params.seed, worker)
        work(study, trials, draw, heartbeat, history_path(project_root(), study))
        best = study.best_trial
        mlflow.set_tags({"best_trial": str(best.number), OBJECTIVE: f"{best.value:.4f}"})
    return study


def seed_study(
    name: str, params: Params, prepare_config: dict[str, Any], storage_url: str, heartbeat: int
) -> optuna.Study:
    """``name``'s study, opened; a new one started from its saved history, or else from what
    params.yaml has now (so the search can only improve on it); and every study queued the
    other studies' winners.
    """
    spec = params.models[name]
    study, created = open_study(
        study_name(name, params, prepare_config), storage_url, params.seed, heartbeat
    )
    history = history_path(project_root(), study)
    if created and history.exists():
        imported = restore_history(study, history)
        log.info("study %s: %d finished trials taken from %s", study.study_name, imported, history)
    max_vocab = params.prepare.vocab_size
    if created and not study.trials:
        study.enqueue_trial(in_space(as_dict(spec), spec.arch, max_vocab))
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "already exists" on every run
    try:
        for sibling, config in sibling_winners(name, params, prepare_config, storage_url):
            # The space is the same for every architecture (but for ARCH_SPACE's values, drawn
            # afresh), so each study also tries the best configuration the others found
            # (once: skip_if_exists).
            study.enqueue_trial(
                in_space(config, spec.arch, max_vocab),
                user_attrs={"winner_of": sibling},
                skip_if_exists=True,
            )
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.set_user_attr("model_name", name)
    study.set_user_attr("arch", spec.arch)
    study.set_user_attr("prepare", prepare_config["prepare"])
    study.set_user_attr("train", as_dict(params.train))
    return study


def sibling_winners(
    name: str, params: Params, prepare_config: dict[str, Any], storage_url: str
) -> list[tuple[str, dict[str, Any]]]:
    """The best trial's params of every other model's study on the same data and budget."""
    found = []
    for other in params.models:
        if other == name:
            continue
        try:
            sibling = optuna.load_study(
                study_name=study_name(other, params, prepare_config), storage=storage_url
            )
        except KeyError:  # that model has not been tuned on this data yet
            continue
        if any(trial.state == TrialState.COMPLETE for trial in sibling.trials):
            found.append((other, dict(sibling.best_trial.params)))
    return found


def work(study: optuna.Study, trials: int, draw: Objective, heartbeat: int, history: Path) -> None:
    """Draw and train trials until ``study`` has ``trials`` finished, saving the history after
    each. While the last ones run on other workers, wait for them; a trial whose heartbeats
    stop is failed here and queued again, and this worker runs it."""
    drawn: list[optuna.trial.FrozenTrial] = []  # this worker's trials, as each ended
    waiting = False  # logged once per wait
    while len(finished_trials(study)) < trials:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if len(finished_trials(study)) + len(running) >= trials:
            if not waiting:
                waiting = True
                log.info(
                    "study %s: waiting for trial(s) %s on other workers",
                    study.study_name,
                    ", ".join(str(t.number) for t in running),
                )
            with quiet_optuna():
                optuna.storages.fail_stale_trials(study)
            time.sleep(min(WAIT_POLL_SECONDS, heartbeat))
            continue
        waiting = False
        with quiet_optuna():
            study.optimize(
                draw,
                n_trials=1,
                gc_after_trial=True,
                catch=(SurplusTrial,),
                callbacks=[lambda _, trial: drawn.append(trial)],
            )
        save_history(study, history)
        last = drawn[-1]
        if "skipped" not in last.user_attrs:
            log.info(
                "trial %d: %s %s %s",
                last.number,
                last.state.name,
                "" if last.value is None else f"val_accuracy {last.value:.4f}",
                json.dumps(last.params),
            )


def within_budget(
    objective: Objective, study: optuna.Study, trials: int, seed: int, worker: str
) -> Objective:
    """``objective`` for a trial the budget has room for; a trial that another worker's trial
    leaves over the budget stops untrained (SurplusTrial), its queued configuration, if it had
    one, queued again."""

    def run(trial: optuna.Trial) -> float:
        surplus = surplus_reason(study, trial.number, trials)
        if surplus:
            fixed = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
            if "fixed_params" in fixed.system_attrs:  # a queued configuration: keep it queued
                study.enqueue_trial(fixed.system_attrs["fixed_params"], user_attrs=fixed.user_attrs)
            trial.set_user_attr("skipped", surplus)
            log.info("trial %d: not run, %s", trial.number, surplus)
            raise SurplusTrial(surplus)
        trial.set_user_attr("worker", worker)
        study.sampler = trial_sampler(seed, study.study_name, trial.number)
        return objective(trial)

    return run


def surplus_reason(study: optuna.Study, number: int, trials: int) -> str | None:
    """Why trial ``number`` should not train, if the study's ``trials`` are already taken.

    Finished trials count, and running ones numbered before it: of two workers that started
    the last trial at the same moment, the later-numbered one stops, whichever noticed first.
    """
    taken = [
        t
        for t in study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        )
        if t.state != TrialState.RUNNING or t.number < number
    ]
    if len(taken) < trials:
        return None
    return f"surplus: trials {', '.join(str(t.number) for t in taken)} already fill the {trials}"


def tracked(objective: Objective, experiment_id: str) -> Objective:
    """``objective`` inside a nested MLflow run per trial, under the active (parent) run.

    The trial records both runs' ids: what the worker that notices this process's death needs
    to end them. The objective logs the per-epoch curves; this adds the trial's params,
    ``state`` (COMPLETE, PRUNED or FAIL), number and user attributes as tags, and on
    completion its OBJECTIVE. A pruned trial's run ends FINISHED: pruning is an outcome, not a
    failure.
    """

    def run(trial: optuna.Trial) -> float:
        parent = mlflow.active_run()
        started = mlflow.start_run(
            run_name=str(trial.number), nested=True, experiment_id=experiment_id
        )
        trial.set_user_attr("mlflow_run_id", started.info.run_id)
        if parent is not None:
            trial.set_user_attr("mlflow_parent_run_id", parent.info.run_id)
        state = "FAIL"
        try:
            value = objective(trial)
            mlflow.log_metric(OBJECTIVE, value)
            state = "COMPLETE"
            return value
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        finally:
            mlflow.log_params(trial.params)
            attrs = {key: str(attr) for key, attr in trial.user_attrs.items()}
            mlflow.set_tags(attrs | {"number": str(trial.number), "state": state})
            mlflow.end_run("FAILED" if state == "FAIL" else "FINISHED")

    return run


class TrialTrainer:
    """The objective: one trial's model trained as `train@NAME` trains it, on the training
    split; its val accuracy at the epoch early stopping keeps."""

    def __init__(self, name: str, params: Params, prepared: PreparedPaths) -> None:
        self.name, self.params, self.prepared = name, params, prepared
        self._arrays: dict[int, Any] = {}  # one vocabulary's SplitArrays at a time

    def __call__(self, trial: optuna.Trial) -> float:
        import keras

        from imdb_sentiment.models.training import early_stopping, embedding_start, fit_model

        params = self.params
        arch, max_vocab = params.models[self.name].arch, params.prepare.vocab_size
        spec = suggest_model(trial, arch, max_vocab, params.word_vectors.dim)
        arrays = self._arrays_at(spec.vocab_size)
        start = embedding_start(spec, self.prepared, project_root() / WORD_VECTORS)
        tags = run_tags(self.name, spec.family, params.corpus)
        mlflow.set_tags(tags | {"tuning_trial": str(trial.number)})
        mlflow.log_params(
            {
                "seed": params.seed,
                **flatten_params(params.train, "train"),
                **flatten_params(spec, "model"),
            }
        )
        stopper = early_stopping(params.train)
        reporter = trial_reporter(trial, params.train.patience)
        started = time.perf_counter()
        model = fit_model(
            self.name, spec, arrays, params.seed, params.train, stopper, [reporter], start=start
        )
        curves = model.history.history
        best = stopper.best_epoch if stopper.best is not None else 0
        trial.set_user_attr("epochs_run", len(curves["val_loss"]))
        trial.set_user_attr("best_epoch", best + 1)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        trial.set_user_attr("parameters", int(model.count_params()))
        keras.backend.clear_session()
        if reporter.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {reporter.pruned_at}")
        return float(curves["val_accuracy"][best])

    def _arrays_at(self, vocab_size: int) -> Any:  # batches.SplitArrays
        from imdb_sentiment.models.batches import SplitArrays

        if vocab_size not in self._arrays:
            self._arrays.clear()  # one copy in memory at a time
            self._arrays[vocab_size] = SplitArrays.load(self.prepared, vocab_size)
        return self._arrays[vocab_size]


def trial_reporter(trial: optuna.Trial, patience: int) -> Any:  # a keras Callback
    """Per-epoch metrics to the trial's MLflow run and to Optuna, which may prune the trial.

    Pruning is only asked for up to epoch ``patience + 1``, the last that every complete trial
    reaches (early stopping ends none sooner). Later, the median is taken over the trials
    that are still running at that epoch, a minority biased towards strong ones, and it
    pruned an lstm trial at 88.2% val accuracy that beat every complete lstm trial.
    """
    import keras

    from imdb_sentiment.models.training import HISTORY_KEYS

    class TrialReporter(keras.callbacks.Callback):
        pruned_at: int | None = None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            mlflow.log_metrics({k: float(logs[k]) for k in HISTORY_KEYS}, step=epoch)
            log.info(
                "trial %d epoch %d: loss %.4f  val_loss %.4f  val_accuracy %.4f",
                trial.number,
                epoch + 1,
                logs["loss"],
                logs["val_loss"],
                logs["val_accuracy"],
            )
            trial.report(float(logs["val_accuracy"]), epoch)
            if epoch <= patience and trial.should_prune():
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return TrialReporter()


def _parent_run(
    study: optuna.Study, name: str, params: Params, experiment_id: str, worker: str
) -> mlflow.ActiveRun:
    """This worker's parent run of the study: the study's last one when the study is
    continued and no other worker holds it, else a new one (each worker ends its own).

    Only a parent this study recorded is continued: a new study that reuses a name (a fresh
    database, another team's store) starts its own. Two workers that continue the study at
    once both see its last parent idle; the claim is a param named after that parent's end
    time, and MLflow refuses to change a param, so exactly one of them gets it.
    """
    recorded = {
        key.removeprefix(PARENT_ATTR) for key in study.user_attrs if key.startswith(PARENT_ATTR)
    }
    found = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.{STUDY_TAG} = '{study.study_name}'",
        order_by=["attributes.end_time DESC"],
        output_format="list",
    )
    for run in found:
        if run.info.run_id not in recorded or run.info.status == "RUNNING":
            continue
        try:
            mlflow.MlflowClient().log_param(
                run.info.run_id, f"continued_after_{run.info.end_time}", worker
            )
        except mlflow.exceptions.MlflowException:  # another worker claimed it first
            break
        return mlflow.start_run(run_id=run.info.run_id)
    started = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"tune {name}",
        tags=run_tags(name, params.models[name].family, params.corpus)
        | {STUDY_TAG: study.study_name},
    )
    study.set_user_attr(PARENT_ATTR + started.info.run_id, worker)
    return started
