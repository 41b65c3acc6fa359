"""The tuning search: a resumable Optuna study per model, every trial a nested MLflow run.

    imdb-sentiment tune lstm --trials 20       # run lstm's study up to 20 finished trials
    imdb-sentiment tune --report               # rewrite reports/tuning.md from the studies

Trials train on the training split and are scored on the validation split only; the test set
never sees the search. Each trial trains exactly as `train@NAME` would (the same loop, early
stopping and epoch budget), reports its per-epoch validation accuracy to Optuna's median
pruner, which stops hopeless trials early, and logs its params and curves to MLflow under one
parent run per study and worker. The study lives in an Optuna RDB store (``tuning.db``
beside ``mlflow.db``, or ``--storage`` a team database): a re-run continues it, and workers on
several machines pointed at one database share it, each trial drawn by one of them. A worker
that dies mid-trial stops writing its heartbeat (every ``--heartbeat`` seconds); after three
missed beats another worker fails that trial, queues it again once
(RetryHeartbeatStaleTrialCallback) and ends its MLflow runs as KILLED. Every finished trial
is also written to ``tuning/<study>.json``, which git keeps: a fresh clone or another machine
starts its store from that history and continues the same search.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from optuna_integration.mlflow import MLflowCallback

from imdb_sentiment.data import PreparedPaths
from imdb_sentiment.errors import UserError
from imdb_sentiment.files import atomic_path, project_root, read_json, write_json
from imdb_sentiment.params import (
    LR_SCHEDULES,
    POOLINGS,
    ModelParams,
    Params,
    ParamsError,
    as_dict,
    flatten_params,
)
from imdb_sentiment.runs import run_tags
from imdb_sentiment.tracking import configure_tracking

log = logging.getLogger(__name__)

OBJECTIVE = "best_val_accuracy"  # validation accuracy at the epoch early stopping keeps
STUDY_TAG = "tuning_study"
WORKER_TAG = "tuning_worker"  # on a parent run: the host:pid of the worker it belongs to
REPORT = Path("reports/tuning.md")
HISTORY = Path("tuning")  # one JSON file of finished trials per study, kept in git
HEARTBEAT_SECONDS = 60  # a trial's worker writes a heartbeat this often (`tune --heartbeat`)
STALE_BEATS = 3  # missed heartbeats after which a trial counts as its worker's death
WAIT_POLL_SECONDS = 5  # how often a worker looks at the last trials other workers run

# The space every architecture is searched over (choices fixed, so a study keeps one space).
VOCAB_SIZES = (10000, 20000, 30000, 50000)
EMBEDDING_DIMS = (64, 128, 256)
UNITS = (32, 64, 128)
BATCH_SIZES = (32, 64, 128)
LEARNING_RATES = (3e-4, 3e-3)  # log-uniform
DROPOUTS = (0.0, 0.6, 0.1)  # low, high, step


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Without the warnings Optuna gives for features this search relies on as pinned.

    Heartbeats and their retry callback are "experimental", MLflowCallback is "deprecated"
    since optuna-integration 4.9 (removal in 6.0; pyproject pins 5.0) with no successor
    named, and track_in_mlflow is "experimental": five warnings per run that a user can do
    nothing about.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*MLflowCallback", category=FutureWarning)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        yield


def default_storage() -> str:
    """The study store beside the project's MLflow store: ``sqlite:///<root>/tuning.db``."""
    return f"sqlite:///{project_root() / 'tuning.db'}"


def suggest_model(trial: optuna.Trial, arch: str, max_vocab: int) -> ModelParams:
    """One point of the search space for ``arch`` (vocabularies up to ``max_vocab``)."""
    return ModelParams(
        arch=arch,
        vocab_size=trial.suggest_categorical(
            "vocab_size", [v for v in VOCAB_SIZES if v <= max_vocab] or [max_vocab]
        ),
        embedding_dim=trial.suggest_categorical("embedding_dim", EMBEDDING_DIMS),
        embedding_dropout=trial.suggest_float("embedding_dropout", *DROPOUTS[:2], step=DROPOUTS[2]),
        units=trial.suggest_categorical("units", UNITS),
        layers=trial.suggest_int("layers", 1, 2),
        dropout=trial.suggest_float("dropout", *DROPOUTS[:2], step=DROPOUTS[2]),
        pooling=trial.suggest_categorical("pooling", POOLINGS),
        batch_size=trial.suggest_categorical("batch_size", BATCH_SIZES),
        learning_rate=trial.suggest_float("learning_rate", *LEARNING_RATES, log=True),
        lr_schedule=trial.suggest_categorical("lr_schedule", LR_SCHEDULES),
    )


def study_name(name: str, params: Params, prepare_config: dict[str, Any]) -> str:
    """``NAME-<hash>``: a study is only continued on the data and budget it was started on."""
    basis = {
        "arch": params.models[name].arch,
        "prepare": prepare_config["prepare"],
        "seed": params.seed,
        "train": as_dict(params.train),
    }
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def open_study(
    name: str, storage_url: str, seed: int, heartbeat: int = HEARTBEAT_SECONDS
) -> tuple[optuna.Study, bool]:
    """Create or load study ``name``; also whether this process created it.

    Only the creator seeds a new study (history, the params.yaml entry): two workers that
    start together would otherwise both queue the same first trial and train it twice.
    The heartbeat is what lets a shared study outlive a worker that dies mid-trial.
    """
    storage = _storage(storage_url, heartbeat)
    with quiet_optuna():
        # Running trials count as observed (constant liar): workers drawing at the same
        # time are steered away from what the others are training.
        sampler = _sampler(seed, name, 0)
    # Prune a trial whose val_accuracy after an epoch is below the median of earlier trials
    # at that epoch; never before 4 trials have finished, never at epoch 1.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    try:
        study = optuna.create_study(
            study_name=name, storage=storage, direction="maximize", pruner=pruner,
            sampler=sampler,
        )  # fmt: skip
        return study, True
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(
            study_name=name, storage=storage, pruner=pruner, sampler=sampler
        ), False


def _storage(url: str, heartbeat: int, attempts: int = 5) -> RDBStorage:
    """The study store at ``url``, its tables created on first use.

    Workers that start together on a fresh database race to create Optuna's tables and
    types (PostgreSQL: "duplicate key value violates unique constraint"); the loser finds
    them made a moment later.
    """
    import sqlalchemy.exc

    for attempt in range(1, attempts + 1):
        try:
            with quiet_optuna():
                return RDBStorage(
                    url,
                    heartbeat_interval=heartbeat,
                    grace_period=STALE_BEATS * heartbeat,
                    heartbeat_stale_trial_callback=StaleTrialCallback(1, STALE_BEATS * heartbeat),
                )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            if attempt == attempts:
                raise StorageError(
                    f"Optuna storage {_redacted(url)} is not usable "
                    f"({str(exc.orig).splitlines()[0]}); check --storage"
                ) from None
            log.info("Optuna storage: another worker is creating its tables; trying again")
            time.sleep(attempt)
        except sqlalchemy.exc.OperationalError as exc:  # no server, a wrong password
            raise StorageError(
                f"Optuna storage {_redacted(url)} is not reachable "
                f"({str(exc.orig).strip().splitlines()[0]}); check --storage and the database"
            ) from None
    raise AssertionError("unreachable")


def _redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    import sqlalchemy.engine

    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


def _sampler(seed: int, study: str, trial_number: int) -> optuna.samplers.TPESampler:
    """The sampler for one trial, seeded by the study and the trial's number.

    Seeded by `seed` alone, it would propose the same configuration first in every process
    that continues a study, and two workers would draw the same trials; a trial's number is
    unique in the study, whichever worker draws it.
    """
    with quiet_optuna():
        return optuna.samplers.TPESampler(
            seed=_sampler_seed(seed, study, trial_number), n_startup_trials=8, constant_liar=True
        )


class StaleTrialCallback:
    """For a trial whose worker stopped beating: queue it again (up to ``max_retry`` times)
    and end its MLflow run and its worker's parent run as KILLED, not RUNNING forever.

    Runs in the worker that noticed, which is pointed at the same tracking store.
    """

    def __init__(self, max_retry: int, grace_seconds: int) -> None:
        self.grace_seconds = grace_seconds
        with quiet_optuna():
            self.retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        with quiet_optuna():
            self.retry(study, trial)
        log.warning(
            "trial %d: its worker stopped writing heartbeats; failed it and queued it again",
            trial.number,
        )
        client = mlflow.MlflowClient()
        reason = f"no heartbeat for {self.grace_seconds}s: its worker died"
        for key in ("mlflow_run_id", "mlflow_parent_run_id"):
            run_id = trial.user_attrs.get(key)
            if not run_id:  # killed before its run started
                continue
            try:
                if client.get_run(run_id).info.status != "RUNNING":
                    continue
                if key == "mlflow_run_id":
                    client.set_tag(run_id, "state", TrialState.FAIL.name)
                client.set_tag(run_id, "killed", f"trial {trial.number}: {reason}")
                client.set_terminated(run_id, "KILLED")
            except mlflow.exceptions.MlflowException as exc:
                log.warning("could not end run %s of trial %d: %s", run_id, trial.number, exc)


class StorageError(UserError, RuntimeError):
    """The Optuna storage cannot be used; the message names it (without its password)."""


class SurplusTrial(Exception):
    """Another worker already runs the study's last trial: this one stops untrained."""


def trial_reporter(trial: optuna.Trial, patience: int):  # noqa: ANN201 - a keras Callback
    """Per-epoch metrics to the trial's MLflow run and to Optuna, which may prune the trial.

    Pruning is only asked for up to epoch ``patience + 1``, the last that every complete trial
    reaches (early stopping ends none sooner). Later, the median is taken over the trials
    that are still running at that epoch, a minority biased towards strong ones, and it
    pruned an lstm trial at 88.2% val accuracy that beat every complete lstm trial.
    """
    import keras

    from imdb_sentiment.training import HISTORY_KEYS

    class TrialReporter(keras.callbacks.Callback):
        pruned_at: int | None = None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            mlflow.log_metrics({k: float(logs[k]) for k in HISTORY_KEYS}, step=epoch)
            log.info(
                "trial %d epoch %d: loss %.4f  val_loss %.4f  val_accuracy %.4f",
                trial.number, epoch + 1, logs["loss"], logs["val_loss"], logs["val_accuracy"],
            )  # fmt: skip
            trial.report(float(logs["val_accuracy"]), epoch)
            if epoch <= patience and trial.should_prune():
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return TrialReporter()


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
    import keras

    from imdb_sentiment.models import build_model
    from imdb_sentiment.training import (
        ResumableEarlyStopping,
        SplitArrays,
        fit_recurrent,
        seed_everything,
        steps_per_epoch,
    )

    if name not in params.models:
        raise ParamsError(f"params.yaml: models.{name} is missing; tune a model it lists")
    prepared = PreparedPaths(prepared_dir)
    if not prepared.config.exists():
        raise ParamsError(f"{prepared_dir} has no prepared data; run `dvc repro prepare` first")
    prepare_config = read_json(prepared.config)
    spec = params.models[name]
    experiment_id = configure_tracking()
    storage_url = storage_url or default_storage()
    study, created = open_study(
        study_name(name, params, prepare_config), storage_url, params.seed, heartbeat
    )
    history = project_root() / HISTORY / f"{study.study_name}.json"
    if created and history.exists():
        imported = restore_history(study, history)
        log.info("study %s: %d finished trials taken from %s", study.study_name, imported, history)
    if created and not study.trials:  # the search starts from what params.yaml has now
        study.enqueue_trial(_as_trial_params(spec, params.prepare.vocab_size))
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "already exists" on every run
    try:
        for sibling, config in sibling_winners(name, params, prepare_config, storage_url):
            # The space is the same for every architecture, so each study also tries the best
            # configuration the others found (once: skip_if_exists).
            study.enqueue_trial(config, user_attrs={"winner_of": sibling}, skip_if_exists=True)
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.set_user_attr("model_name", name)
    study.set_user_attr("arch", spec.arch)
    study.set_user_attr("prepare", prepare_config["prepare"])
    study.set_user_attr("train", as_dict(params.train))
    done = _finished(study)
    remaining = max(0, trials - len(done))
    log.info(
        "study %s: %d trials finished, %d to run (validation split only)",
        study.study_name, len(done), remaining,
    )  # fmt: skip
    if not remaining:
        return study

    arrays_by_vocab: dict[int, Any] = {}
    worker = f"{socket.gethostname()}:{os.getpid()}"  # which machine and process ran a trial

    def objective(trial: optuna.Trial) -> float:
        # What the worker that notices this process's death needs to end its runs.
        trial.set_user_attr("mlflow_run_id", mlflow.active_run().info.run_id)
        trial.set_user_attr("mlflow_parent_run_id", parent_id)
        trial.set_user_attr("worker", worker)
        trial_spec = suggest_model(trial, spec.arch, params.prepare.vocab_size)
        if trial_spec.vocab_size not in arrays_by_vocab:
            arrays_by_vocab.clear()  # one copy in memory at a time
            arrays_by_vocab[trial_spec.vocab_size] = SplitArrays.load(
                prepared, trial_spec.vocab_size
            )
        arrays = arrays_by_vocab[trial_spec.vocab_size]
        mlflow.set_tags(run_tags(name, "recurrent") | {"tuning_trial": str(trial.number)})
        mlflow.log_params({"seed": params.seed, **flatten_params(params.train, "train"),
                           **flatten_params(trial_spec, "model")})  # fmt: skip
        seed_everything(params.seed)
        model = build_model(
            name,
            trial_spec,
            steps_per_epoch(len(arrays.x_train), trial_spec.batch_size),
            params.train.epochs,
            params.seed,
        )
        stopper = ResumableEarlyStopping(
            monitor="val_loss", patience=params.train.patience, restore_best_weights=True
        )
        reporter = trial_reporter(trial, params.train.patience)
        started = time.perf_counter()
        fit_recurrent(
            model, trial_spec, arrays, params.seed, params.train.epochs, [stopper, reporter]
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

    with quiet_optuna():
        tracker = MLflowCallback(
            metric_name=OBJECTIVE,
            create_experiment=False,
            mlflow_kwargs={"nested": True, "experiment_id": experiment_id},
            tag_trial_user_attrs=True,
        )
        tracked = tracker.track_in_mlflow()(objective)

    drawn: list[int] = []  # the trials this worker drew, in order

    def within_budget(trial: optuna.Trial) -> float:
        """Stop, untrained, a trial that another worker's trial leaves over the budget."""
        drawn.append(trial.number)
        surplus = surplus_reason(study, trial.number, trials)
        if surplus:
            trial.set_user_attr("skipped", surplus)
            fixed = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
            if "fixed_params" in fixed.system_attrs:  # a queued configuration: keep it queued
                study.enqueue_trial(fixed.system_attrs["fixed_params"], user_attrs=fixed.user_attrs)
            log.info("trial %d: not run, %s", trial.number, surplus)
            raise SurplusTrial(surplus)
        study.sampler = _sampler(params.seed, study.study_name, trial.number)
        return tracked(trial)

    def track(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if "skipped" not in trial.user_attrs:  # no MLflow run for a trial that never trained
            tracker(study, trial)

    with _parent_run(study, name, experiment_id) as parent:
        parent_id = parent.info.run_id
        mlflow.set_tag(WORKER_TAG, worker)
        waiting = False  # logged once per wait
        while len(_finished(study)) < trials:
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if len(_finished(study)) + len(running) >= trials:
                # The last trials run elsewhere: wait for them, or for their heartbeats to
                # stop, when this worker fails them and runs them again.
                if not waiting:
                    waiting = True
                    log.info(
                        "study %s: waiting for trial(s) %s on other workers",
                        study.study_name, ", ".join(str(t.number) for t in running),
                    )  # fmt: skip
                with quiet_optuna():
                    optuna.storages.fail_stale_trials(study)
                time.sleep(min(WAIT_POLL_SECONDS, heartbeat))
                continue
            waiting = False
            with quiet_optuna():
                study.optimize(
                    within_budget, n_trials=1, callbacks=[track], gc_after_trial=True,
                    catch=(SurplusTrial,),
                )  # fmt: skip
            save_history(study, history)
            last = study.get_trials(deepcopy=False)[drawn[-1]]  # this worker's trial
            if "skipped" in last.user_attrs:
                continue
            log.info(
                "trial %d: %s %s %s",
                last.number, last.state.name,
                "" if last.value is None else f"val_accuracy {last.value:.4f}",
                json.dumps(last.params),
            )  # fmt: skip
        best = study.best_trial
        mlflow.set_tags({"best_trial": str(best.number), OBJECTIVE: f"{best.value:.4f}"})
    return study


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


def _parent_run(study: optuna.Study, name: str, experiment_id: str):  # noqa: ANN202
    """This worker's parent run of the study: the study's last one when the study is
    continued, a new one while that is RUNNING (another worker's: each worker ends its own).
    """
    found = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.{STUDY_TAG} = '{study.study_name}'",
        output_format="list",
    )
    idle = [run for run in found if run.info.status != "RUNNING"]
    if idle:
        return mlflow.start_run(run_id=idle[0].info.run_id)
    return mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"tune {name}",
        tags=run_tags(name, "recurrent") | {STUDY_TAG: study.study_name},
    )


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
        for trial in _finished(study)
    ]
    write_json(path, {"study": study.study_name, "attrs": study.user_attrs, "trials": trials})


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


def _sampler_seed(seed: int, study: str, trial_number: int) -> int:
    text = f"{seed}/{study}/{trial_number}"
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _as_trial_params(spec: ModelParams, max_vocab: int) -> dict[str, Any]:
    """The entry's values that lie in the search space (the rest are sampled)."""
    choices = {
        "vocab_size": [v for v in VOCAB_SIZES if v <= max_vocab] or [max_vocab],
        "embedding_dim": EMBEDDING_DIMS,
        "units": UNITS,
        "layers": (1, 2),
        "pooling": POOLINGS,
        "batch_size": BATCH_SIZES,
        "lr_schedule": LR_SCHEDULES,
    }
    low, high, step = DROPOUTS
    steps = {round(low + i * step, 10) for i in range(round((high - low) / step) + 1)}
    values = {}
    for key, value in as_dict(spec).items():
        if key in choices:
            fits = value in choices[key]
        elif key in ("embedding_dropout", "dropout"):
            fits = round(value, 10) in steps
        elif key == "learning_rate":
            fits = LEARNING_RATES[0] <= value <= LEARNING_RATES[1]
        else:
            fits = False
        if fits:
            values[key] = value
    return values


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
    return {"arch": study.user_attrs["arch"], **chosen_trial(study, n_val).params}


def write_winner(name: str, study: optuna.Study, params_path: Path, n_val: int) -> dict[str, Any]:
    """Put the study's winner into params.yaml ``models.NAME``, keeping the file's comments."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments and key order survive
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the file's own list style
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    document = yaml.load(params_path.read_text())
    entry = winner(study, n_val)
    for key, value in entry.items():
        document["models"][name][key] = value
    with atomic_path(params_path) as tmp, tmp.open("w") as handle:
        yaml.dump(document, handle)
    return entry


def current_studies(
    params: Params, prepared_dir: Path, storage_url: str
) -> dict[str, optuna.Study]:
    """The study of each params.yaml model on the current data and budget, where one exists."""
    prepare_config = read_json(PreparedPaths(prepared_dir).config)
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage_url)}
    studies = {}
    for name in params.models:
        study = study_name(name, params, prepare_config)
        if study in existing:
            studies[name] = optuna.load_study(study_name=study, storage=storage_url)
    return studies


def tuning_report(
    studies: dict[str, optuna.Study], params: Params, n_val: int, top: int = 10
) -> str:
    """Markdown: the space searched, and per model what was tried and what won."""
    # Half-width of a 95% normal interval on an accuracy near 88% over n_val reviews.
    half_width = 1.96 * standard_error(0.88, n_val)
    lines = [
        "# Tuning search",
        "",
        "Generated by `imdb-sentiment tune --report` from the Optuna studies in `tuning.db`.",
        "Every trial trains on the training split and is scored on the **validation split only**",
        "(val accuracy at the epoch early stopping keeps); the test set picked nothing here.",
        "Optuna's TPE sampler (seeded) proposes trials, the first one being the params.yaml entry",
        "the study started from; the median pruner stops a trial whose val accuracy after",
        f"epoch 2 to {params.train.patience + 1} falls below the median of the complete trials",
        f"at that epoch. Not later: every complete trial reaches epoch "
        f"{params.train.patience + 1}, fewer and stronger ones go on (the first trials of",
        "these studies, before that rule, could be pruned later). Each trial is a nested",
        "MLflow run under",
        "the parent run `tune NAME` of the worker that ran it (experiment `imdb-sentiment`;",
        "one parent per study and worker, tag `tuning_worker` = host:pid).",
        "",
        "Reproduce or continue: `dvc repro prepare`, then `imdb-sentiment tune NAME --trials N`",
        "(a study is continued while the prepared data, seed and `train:` budget are the same);",
        "`--write-params` puts the winner into `params.yaml`.",
        "",
        "**The winner** is chosen by the one-standard-error rule: of the complete trials whose",
        "val accuracy lies within one standard error of the best one's, the one that trained in",
        "the fewest seconds. Trials that close are not shown to be worse, and the best of many",
        "noisy trials is flattered by its own noise; the rule keeps the default no slower than",
        "the evidence requires. Seconds are wall time on the machine that ran the trial, which",
        "ran two studies side by side.",
        "",
        "| searched | values |",
        "|---|---|",
        f"| vocab_size | {', '.join(map(str, VOCAB_SIZES))} |",
        f"| embedding_dim | {', '.join(map(str, EMBEDDING_DIMS))} |",
        f"| embedding_dropout, dropout | {DROPOUTS[0]} to {DROPOUTS[1]}, step {DROPOUTS[2]} |",
        f"| units | {', '.join(map(str, UNITS))} |",
        "| layers | 1, 2 |",
        f"| pooling | {', '.join(POOLINGS)} |",
        f"| batch_size | {', '.join(map(str, BATCH_SIZES))} |",
        f"| learning_rate | {LEARNING_RATES[0]} to {LEARNING_RATES[1]}, log-uniform |",
        f"| lr_schedule | {', '.join(LR_SCHEDULES)} |",
        "",
        f"Budget per trial: `train.epochs` {params.train.epochs}, `train.patience` "
        f"{params.train.patience}, as in the pipeline.",
        "",
        f"How far to trust a ranking: the validation split has {n_val:,} reviews, so one "
        f"trial's val accuracy carries a 95% interval of about ±{100 * half_width:.1f} points "
        f"(one standard error: {100 * standard_error(0.88, n_val):.2f} points). The winner's "
        "test accuracy, with intervals and the seed spread, is reported by the evaluate stage "
        "and the benchmark, not here.",
        "",
    ]
    if not studies:
        lines += ["No study has run on the current data yet.", ""]
    columns = ["vocab_size", "embedding_dim", "embedding_dropout", "units", "layers", "dropout",
               "pooling", "batch_size", "learning_rate", "lr_schedule"]  # fmt: skip
    for name, study in studies.items():
        trials = study.get_trials(deepcopy=False)
        counts = {state: sum(t.state == state for t in trials) for state in TrialState}
        skipped = sum("skipped" in t.user_attrs for t in trials)
        complete = sorted(
            (t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: -t.value
        )
        minutes = sum(t.user_attrs.get("seconds", 0) for t in trials) / 60
        imported = sum("imported_from" in t.user_attrs for t in trials)
        lines += [
            f"## {name} ({study.user_attrs.get('arch')}), study `{study.study_name}`",
            "",
            f"{len(trials)} trials: {counts[TrialState.COMPLETE]} complete, "
            f"{counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL] - skipped} failed, "
            + (f"{skipped} stopped untrained (the budget was full), " if skipped else "")
            + f"{counts[TrialState.RUNNING]} running or interrupted (retried on the next run); "
            f"{minutes:.0f} minutes of training"
            + (f"; {imported} from `tuning/{study.study_name}.json`." if imported else "."),
            "",
        ]
        if not complete:
            lines += ["No complete trial yet.", ""]
            continue
        best, chosen = complete[0], chosen_trial(study, n_val)
        entry = {"arch": study.user_attrs["arch"], **chosen.params}  # what winner() gives
        in_params = entry == {k: v for k, v in as_dict(params.models[name]).items() if k in entry}
        margin = standard_error(best.value, n_val)
        near = sum(t.value >= best.value - margin for t in complete)
        lines += [
            f"Winner: trial {chosen.number}, val accuracy **{100 * chosen.value:.2f}%** "
            f"(best epoch {chosen.user_attrs.get('best_epoch')} of "
            f"{chosen.user_attrs.get('epochs_run')}, "
            f"{chosen.user_attrs.get('seconds', 0):.0f} s), "
            + (
                "the best observed"
                if chosen.number == best.number
                else f"the fastest of {near} trials within one standard error "
                f"({100 * margin:.2f} points) of the best observed, trial {best.number} "
                f"({100 * best.value:.2f}%, {best.user_attrs.get('seconds', 0):.0f} s)"
            )
            + (". params.yaml has it." if in_params else ". params.yaml does **not** have it yet."),
            "",
            "| trial | val acc | within 1 SE | " + " | ".join(columns) + " | epochs | s |",
            "|" + "---|" * (len(columns) + 5),
        ]
        for trial in complete[:top]:
            cells = [str(trial.number), f"{100 * trial.value:.2f}%",
                     "yes" if trial.value >= best.value - margin else ""]  # fmt: skip
            cells += [_cell(trial.params.get(c)) for c in columns]
            cells += [str(trial.user_attrs.get("epochs_run", "")),
                      f"{trial.user_attrs.get('seconds', 0):.0f}"]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def validation_size(prepared_dir: Path) -> int:
    """How many reviews the validation split of the prepared data has."""
    import numpy as np

    with np.load(PreparedPaths(prepared_dir).sequences) as data:
        return len(data["y_val"])


def write_report(text: str, path: Path = REPORT) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def run_command(names: Sequence[str], trials: int, storage_url: str | None,
                write_params: bool, report_only: bool,
                heartbeat: int | None = None) -> int:  # fmt: skip
    """`imdb-sentiment tune`: search each named model, then rewrite the report."""
    from imdb_sentiment.params import load_params

    params_path = project_root() / "params.yaml"
    params = load_params(params_path)
    prepared_dir = project_root() / "data" / "prepared"
    storage_url = storage_url or default_storage()
    if not report_only:
        for name in names or list(params.models):
            study = tune(
                name, params, prepared_dir, trials, storage_url, heartbeat or HEARTBEAT_SECONDS
            )
            if write_params and any(t.state == TrialState.COMPLETE for t in study.trials):
                entry = write_winner(name, study, params_path, validation_size(prepared_dir))
                log.info("params.yaml models.%s <- %s", name, entry)
            params = load_params(params_path)
    n_val = validation_size(prepared_dir)
    report = write_report(
        tuning_report(current_studies(params, prepared_dir, storage_url), params, n_val),
        project_root() / REPORT,
    )
    log.info("wrote %s", report)
    return 0
