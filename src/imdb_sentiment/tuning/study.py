"""A tuning study in its Optuna RDB store: its name, its sampler and pruner, the store's
retries, and what happens to a trial whose worker died.

The store is ``tuning.db`` beside ``mlflow.db``, or ``--storage`` a team database that
workers on several machines share. A worker that dies mid-trial stops writing its heartbeat
(every ``--heartbeat`` seconds); after STALE_BEATS missed beats another worker fails that
trial, queues it again once (RetryHeartbeatStaleTrialCallback) and ends its MLflow runs as
KILLED.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import warnings
from collections.abc import Iterator
from typing import Any

import mlflow
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from imdb_sentiment.errors import UserError
from imdb_sentiment.files import project_root
from imdb_sentiment.params import Params, as_dict

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60  # a trial's worker writes a heartbeat this often (`tune --heartbeat`)
STALE_BEATS = 3  # missed heartbeats after which a trial counts as its worker's death
PARENT_ATTR = "mlflow_parent_run:"  # a study user attr per parent run it has had
# Optuna's median pruner: a trial whose val_accuracy after an epoch is below the median of
# earlier trials at that epoch stops; never before 4 trials have finished, never at epoch 1.
PRUNER = {"n_startup_trials": 4, "n_warmup_steps": 1}


class StorageError(UserError, RuntimeError):
    """The Optuna storage cannot be used; the message names it (without its password)."""


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


def study_name(name: str, params: Params, prepare_config: dict[str, Any]) -> str:
    """``CORPUS-NAME-<hash>``: a study is only continued on the data and budget it was
    started on."""
    basis = {
        "arch": params.models[name].arch,
        "read": prepare_config["read"],
        "prepare": prepare_config["prepare"],
        "seed": params.seed,
        "train": as_dict(params.train),
    }
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:8]
    return f"{params.corpus}-{name}-{digest}"


def open_study(
    name: str, storage_url: str, seed: int, heartbeat: int = HEARTBEAT_SECONDS
) -> tuple[optuna.Study, bool]:
    """Create or load study ``name``; also whether this process created it.

    Only the creator seeds a new study (history, the params.yaml entry): two workers that
    start together would otherwise both queue the same first trial and train it twice.
    The heartbeat is what lets a shared study outlive a worker that dies mid-trial.
    """
    storage = _storage(storage_url, heartbeat)
    # Running trials count as observed (constant liar): workers drawing at the same time are
    # steered away from what the others are training.
    sampler = trial_sampler(seed, name, 0)
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


def trial_sampler(seed: int, study: str, trial_number: int) -> optuna.samplers.TPESampler:
    """The sampler for one trial, seeded by the study and the trial's number.

    Seeded by `seed` alone, it would propose the same configuration first in every process
    that continues a study, and two workers would draw the same trials; a trial's number is
    unique in the study, whichever worker draws it.
    """
    text = f"{seed}/{study}/{trial_number}"
    with quiet_optuna():
        return optuna.samplers.TPESampler(
            seed=int(hashlib.sha256(text.encode()).hexdigest()[:8], 16),
            n_startup_trials=8,
            constant_liar=True,
        )


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count towards a study's budget: complete or pruned."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


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
