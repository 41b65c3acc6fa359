"""The tuning search: a resumable Optuna study per model, every trial a nested MLflow run.

    imdb-sentiment tune lstm --trials 20       # run lstm's study up to 20 finished trials
    imdb-sentiment tune --report               # rewrite reports/tuning.{json,md} from the studies

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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

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
PARENT_ATTR = "mlflow_parent_run:"  # a study user attr per parent run it has had
REPORT = Path("reports/tuning.md")
REPORT_DATA = Path("reports/tuning.json")  # the numbers REPORT is rendered from
HISTORY = Path("tuning")  # one JSON file of finished trials per study, kept in git
HEARTBEAT_SECONDS = 60  # a trial's worker writes a heartbeat this often (`tune --heartbeat`)
STALE_BEATS = 3  # missed heartbeats after which a trial counts as its worker's death
WAIT_POLL_SECONDS = 5  # how often a worker looks at the last trials other workers run

# The space every architecture is searched over, in the order a trial draws it (choices
# fixed, so a study keeps one space): categorical ``choices``, or ``low`` to ``high`` with a
# ``step`` or ``log``-uniform (ints: every integer between).
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
# Optuna's median pruner: a trial whose val_accuracy after an epoch is below the median of
# earlier trials at that epoch stops; never before 4 trials have finished, never at epoch 1.
PRUNER = {"n_startup_trials": 4, "n_warmup_steps": 1}


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Without the warnings Optuna gives for features this search relies on as pinned.

    Heartbeats and their retry callback are "experimental": warnings a user can do nothing
    about.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        yield


def default_storage() -> str:
    """The study store beside the project's MLflow store: ``sqlite:///<root>/tuning.db``."""
    return f"sqlite:///{project_root() / 'tuning.db'}"


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
    pruner = optuna.pruners.MedianPruner(**PRUNER)
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction="maximize",
            pruner=pruner,
            sampler=sampler,
        )
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


def trial_reporter(trial: optuna.Trial, patience: int) -> Any:  # a keras Callback
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

    from imdb_sentiment.training import SplitArrays, early_stopping, fit_model

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
        study.study_name,
        len(done),
        remaining,
    )
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
        mlflow.log_params(
            {
                "seed": params.seed,
                **flatten_params(params.train, "train"),
                **flatten_params(trial_spec, "model"),
            }
        )
        stopper = early_stopping(params.train)
        reporter = trial_reporter(trial, params.train.patience)
        started = time.perf_counter()
        model = fit_model(name, trial_spec, arrays, params.seed, params.train, stopper, [reporter])
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

    run_tracked = tracked(objective, experiment_id)
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
        return run_tracked(trial)

    with _parent_run(study, name, experiment_id, worker) as parent:
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
                    within_budget,
                    n_trials=1,
                    gc_after_trial=True,
                    catch=(SurplusTrial,),
                )
            save_history(study, history)
            last = study.get_trials(deepcopy=False)[drawn[-1]]  # this worker's trial
            if "skipped" in last.user_attrs:
                continue
            log.info(
                "trial %d: %s %s %s",
                last.number,
                last.state.name,
                "" if last.value is None else f"val_accuracy {last.value:.4f}",
                json.dumps(last.params),
            )
        best = study.best_trial
        mlflow.set_tags({"best_trial": str(best.number), OBJECTIVE: f"{best.value:.4f}"})
    return study


def tracked(
    objective: Callable[[optuna.Trial], float], experiment_id: str
) -> Callable[[optuna.Trial], float]:
    """``objective`` inside a nested MLflow run per trial, under the study's parent run.

    The objective logs the per-epoch curves; this adds the trial's params, ``state``
    (COMPLETE, PRUNED or FAIL), number and user attributes as tags, and on completion its
    OBJECTIVE. A pruned trial's run ends FINISHED: pruning is an outcome, not a failure.
    """

    def run(trial: optuna.Trial) -> float:
        mlflow.start_run(run_name=str(trial.number), nested=True, experiment_id=experiment_id)
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


def _parent_run(
    study: optuna.Study, name: str, experiment_id: str, worker: str
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
        tags=run_tags(name, "recurrent") | {STUDY_TAG: study.study_name},
    )
    study.set_user_attr(PARENT_ATTR + started.info.run_id, worker)
    return started


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


def _sampler_seed(seed: int, study: str, trial_number: int) -> int:
    text = f"{seed}/{study}/{trial_number}"
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _as_trial_params(spec: ModelParams, max_vocab: int) -> dict[str, Any]:
    """The entry's values that lie in the search space (the rest are sampled)."""
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


def tuning_summary(
    studies: dict[str, optuna.Study], params: Params, n_val: int, top: int = 10
) -> dict[str, Any]:
    """The numbers of reports/tuning.md: the space searched, the budget, the pruner, and per
    model what was tried and what won (the ``top`` complete trials by val accuracy)."""
    return {
        "objective": OBJECTIVE,
        "search_space": search_space(params.prepare.vocab_size),
        "budget": {"epochs": params.train.epochs, "patience": params.train.patience},
        # Pruning is asked from the first epoch after the warm-up up to epoch patience + 1
        # (see trial_reporter), both 1-based here.
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
        "history": (HISTORY / f"{study.study_name}.json").as_posix(),
    }
    if not complete:
        return summary
    best, chosen = complete[0], chosen_trial(study, n_val)
    margin = standard_error(best.value, n_val)
    entry = {"arch": study.user_attrs["arch"], **chosen.params}  # what winner() gives
    return (
        summary
        | {
            "standard_error": margin,  # of the best val accuracy: the winner rule's margin
            "within_one_standard_error": sum(t.value >= best.value - margin for t in complete),
            "winner": _trial_summary(chosen, best.value - margin),
            "best": _trial_summary(best, best.value - margin),
            "params_yaml_has_winner": entry
            == {k: v for k, v in as_dict(spec).items() if k in entry},
            "top": [_trial_summary(t, best.value - margin) for t in complete[:top]],
        }
    )


def _trial_summary(trial: optuna.trial.FrozenTrial, threshold: float) -> dict[str, Any]:
    return {
        "number": trial.number,
        "val_accuracy": trial.value,
        "within_one_standard_error": trial.value >= threshold,
        "params": trial.params,
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


def validation_size(prepared_dir: Path) -> int:
    """How many reviews the validation split of the prepared data has."""
    import numpy as np

    with np.load(PreparedPaths(prepared_dir).sequences) as data:
        return len(data["y_val"])


def write_report(summary: dict[str, Any], root: Path) -> Path:
    """``summary`` to ROOT/reports/tuning.json, then tuning.md rendered from that file alone."""
    from imdb_sentiment.tuning_report import render

    write_json(root / REPORT_DATA, summary)
    with atomic_path(root / REPORT) as tmp:
        tmp.write_text(render(read_json(root / REPORT_DATA)))
    return root / REPORT


def run_command(
    names: Sequence[str],
    trials: int,
    storage_url: str | None,
    write_params: bool,
    report_only: bool,
    heartbeat: int | None = None,
) -> int:
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
    summary = tuning_summary(current_studies(params, prepared_dir, storage_url), params, n_val)
    report = write_report(summary, project_root())
    log.info("wrote %s and %s", project_root() / REPORT_DATA, report)
    return 0
