"""Where runs go: the tracking URI, a reachable server, the project's experiment. (The run
lifecycle is runs.py; the registry, registry.py.)"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import mlflow
import requests
from mlflow.exceptions import MlflowException

from imdb_sentiment.errors import UserError
from imdb_sentiment.files import project_root

log = logging.getLogger(__name__)

EXPERIMENT = "imdb-sentiment"
DEFAULT_STORE = "mlflow.db"  # at the project root
SERVER_CHECK_TIMEOUT = 5  # seconds; MLflow's own client retries for minutes before giving up
SERVER_HINT = (
    "start it with `imdb-sentiment tracking-server` (README: Working as a team), "
    "or unset MLFLOW_TRACKING_URI to use the project's own mlflow.db"
)


class TrackingError(UserError, RuntimeError):
    """MLflow cannot be reached or a run recorded by DVC is missing from it."""


def default_tracking_uri() -> str:
    """The project's own store: ``mlflow.db`` at the project root, as an absolute URI."""
    return f"sqlite:///{project_root() / DEFAULT_STORE}"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else an absolute SQLite store at the project root.

    Absolute because ``dvc exp run --temp/--queue`` runs stages in a temporary copy that is
    deleted afterwards; a cwd-relative store would be deleted with it. For the same reason a
    relative ``sqlite:///`` URI (``mlflow run`` hands its default, ``sqlite:///mlflow.db``, to
    the command) is read relative to the project root.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return default_tracking_uri()
    path = _sqlite_path(uri)
    if path is not None and not path.is_absolute():
        return f"sqlite:///{project_root() / path}"
    return uri


@functools.cache
def project_run_id() -> str | None:
    """The run `mlflow run` started for this command (``MLFLOW_RUN_ID``), if any.

    It is taken out of the environment on first use: MLflow's ``start_run()`` resumes the run
    named there, so a model run would otherwise take over the project's run instead of
    nesting under it.
    """
    return os.environ.pop("MLFLOW_RUN_ID", None) or None


def configure_tracking() -> str:
    """Point MLflow at the project's store and experiment; return the experiment id.

    Fails within seconds when a tracking server does not answer, so a stage stops before it
    trains rather than after. Under `mlflow run`, model runs join the project run's experiment,
    where the MLflow UI nests them under it. The checks run once per process and store.
    """
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    experiment_id = _experiment_in(uri)
    if not project_run_id():
        mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@functools.cache
def _experiment_in(uri: str) -> str:
    """The project's experiment in store ``uri`` (created on first use), or the experiment of
    the run `mlflow run` started."""
    check_server_reachable(uri)
    try:
        with _store_creation_lock(uri):
            parent = project_run_id()
            if parent:
                return mlflow.get_run(parent).info.experiment_id
            experiment = mlflow.get_experiment_by_name(EXPERIMENT)
            if experiment is None:
                return _create_experiment(uri)
            return experiment.experiment_id
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow tracking store {uri} is not usable ({exc.message.splitlines()[0]}); "
            "check MLFLOW_TRACKING_URI or start the tracking server"
        ) from None


def check_server_reachable(uri: str) -> None:
    """Raise TrackingError naming ``uri`` when it is a tracking server that does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=SERVER_CHECK_TIMEOUT)
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise TrackingError(
            f"MLflow tracking server {uri} is not reachable ({reason}); {SERVER_HINT}"
        ) from None


def _create_experiment(uri: str) -> str:
    # Artifacts of a SQLite store live beside the database (the project's mlruns/), not in
    # ./mlruns of whatever folder the first stage ran in: under `dvc exp run --queue` that is
    # a temporary copy.
    db = _sqlite_path(uri)
    location = (db.parent / "mlruns").as_uri() if db is not None else None
    try:
        experiment_id = mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # another worker created it first
            raise
        experiment_id = mlflow.get_experiment_by_name(EXPERIMENT).experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///") or uri == "sqlite:///:memory:":
        return None
    return Path(uri.removeprefix("sqlite:///"))


def _store_creation_lock(uri: str) -> AbstractContextManager[None]:
    """Serialize first use of a SQLite store: workers that create its schema at the same time
    fail with "duplicate column name" (``dvc queue start -j 2`` on a fresh project)."""
    db = _sqlite_path(uri)
    if db is None:
        return nullcontext()
    db.parent.mkdir(parents=True, exist_ok=True)
    return _directory_lock(db.parent)


@contextmanager
def _directory_lock(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
