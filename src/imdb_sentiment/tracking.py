"""The one MLflow helper: where runs go, how a model run is opened, tagged and found again."""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import mlflow
import requests
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

log = logging.getLogger(__name__)

EXPERIMENT = "imdb-sentiment"
REGISTERED_MODEL = "imdb-sentiment"
CHAMPION_ALIAS = "champion"
FAMILIES = {"recurrent", "bag_of_words"}
RUN_FILE = "mlflow.json"  # in each models/<name>/ folder: the DVC -> MLflow link
SERVER_CHECK_TIMEOUT = 5  # seconds; MLflow's own client retries for minutes before giving up
SERVER_HINT = (
    "start it with `imdb-sentiment tracking-server` (README: Working as a team), "
    "or unset MLFLOW_TRACKING_URI to use the project's own mlflow.db"
)


class TrackingError(RuntimeError):
    """MLflow cannot be reached or a run recorded by DVC is missing from it."""


def project_root() -> Path:
    """The repository root: DVC's ``DVC_ROOT`` inside a stage, else the nearest dvc.yaml up."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else an absolute SQLite store at the project root.

    Absolute because ``dvc exp run --temp/--queue`` runs stages in a temporary copy that is
    deleted afterwards; a cwd-relative store would be deleted with it. For the same reason a
    relative ``sqlite:///`` URI (``mlflow run`` hands its default, ``sqlite:///mlflow.db``, to
    the command) is read relative to the project root.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return f"sqlite:///{project_root() / 'mlflow.db'}"
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
    where the MLflow UI nests them under it.
    """
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    check_server_reachable(uri)
    try:
        with _store_creation_lock(uri):
            parent = project_run_id()
            if parent:
                return mlflow.get_run(parent).info.experiment_id
            experiment = mlflow.get_experiment_by_name(EXPERIMENT)
            if experiment is None:
                return _create_experiment(uri)
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow tracking store {uri} is not usable ({exc.message.splitlines()[0]}); "
            "check MLFLOW_TRACKING_URI or start the tracking server"
        ) from None
    mlflow.set_experiment(experiment_id=experiment.experiment_id)
    return experiment.experiment_id


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


def _store_creation_lock(uri: str):  # noqa: ANN202 - a context manager
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


@contextmanager
def model_run(model_name: str, family: str, resume_run_id: str | None = None) -> Iterator[Run]:
    """Open (or resume) the MLflow run of one model, tagged so it can be traced back.

    A run resumed after a killed training keeps its earlier epochs' metrics. An exception
    inside the block marks the run FAILED, so the UI never shows a crashed run as finished.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    experiment_id = configure_tracking()
    run_id = resume_run_id if resume_run_id and _run_exists(resume_run_id) else None
    with mlflow.start_run(
        run_id=run_id,
        experiment_id=None if run_id else experiment_id,
        run_name=None if run_id else model_name,
        tags=None if run_id else run_tags(model_name, family),
        parent_run_id=None if run_id else project_run_id(),
    ) as run:
        if run_id:
            log.info("resuming MLflow run %s (%s)", run_id, model_name)
        yield run


def run_tags(model_name: str, family: str) -> dict[str, str]:
    """Tags that tie a run to its code, its DVC stage and, under `dvc exp run`, its experiment."""
    tags = {"model_name": model_name, "model_family": family}
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["git_commit"] = commit
    for env, tag in (
        ("DVC_STAGE", "dvc_stage"),
        ("DVC_EXP_NAME", "dvc_exp_name"),
        ("DVC_EXP_BASELINE_REV", "dvc_exp_baseline_rev"),
    ):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


def open_recorded_run(run_id: str, model_name: str) -> Iterator[Run]:
    """Re-open the run a training stage recorded, to add evaluation results to it."""
    configure_tracking()
    if not _run_exists(run_id):
        raise TrackingError(
            f"MLflow run {run_id} of {model_name} is not in {tracking_uri()}; the model was "
            f"trained against another store. Re-train it here: dvc repro -f -s "
            f"{'baseline' if model_name == 'tfidf' else 'train@' + model_name}"
        )
    return mlflow.start_run(run_id=run_id)


def run_record(run: Run, model_info: Any) -> dict[str, str]:
    """What a model folder records of its MLflow run, so DVC outputs point back to MLflow."""
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "model_uri": model_info.model_uri,
        "tracking_uri": tracking_uri(),
    }


def in_temporary_copy() -> bool:
    """True in a stage DVC runs in a throw-away copy (`dvc exp run --queue` or `--temp`)."""
    return Path.cwd().resolve() != project_root()


def register_versions(
    table: Any, families: dict[str, str], champion: str, move_alias: bool = True
) -> dict[str, str]:
    """Make each model a version of the registered model and point ``champion`` at one.

    ``table`` is indexed by model name with ``run_id``, ``model_uri`` and metric columns. A run
    registered before (evaluate re-runs when any model changes) keeps its version. With
    ``move_alias`` false the versions are registered and the alias stays where it is.
    """
    client = mlflow.MlflowClient()
    try:
        client.create_registered_model(
            REGISTERED_MODEL,
            description="IMDB sentiment: raw review text in, probability and label out. "
            "Alias `champion` = best validation accuracy.",
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    versions = {}
    for name, row in table.iterrows():
        found = client.search_model_versions(f"name='{REGISTERED_MODEL}' and run_id='{row.run_id}'")
        if found:
            version = found[0].version
        else:
            version = mlflow.register_model(row.model_uri, REGISTERED_MODEL).version
        tags = {
            "model_name": name,
            "model_family": families[name],
            "run_id": row.run_id,
            "val_accuracy": f"{row.val_accuracy:.4f}",
            "test_accuracy": f"{row.test_accuracy:.4f}",
        }
        if os.environ.get("DVC_EXP_NAME"):
            tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
        for key, value in tags.items():
            client.set_model_version_tag(REGISTERED_MODEL, version, key, value)
        client.update_model_version(
            REGISTERED_MODEL,
            version,
            description=f"**{name}** ({families[name]}), trained in MLflow run "
            f"[{row.run_id}](#/experiments/{mlflow.get_run(row.run_id).info.experiment_id}"
            f"/runs/{row.run_id}). Validation accuracy {row.val_accuracy:.4f}, "
            f"test accuracy {row.test_accuracy:.4f}.",
        )
        versions[name] = str(version)
    if move_alias:
        client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, versions[champion])
    return versions


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project_root(),
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _run_exists(run_id: str) -> bool:
    try:
        mlflow.get_run(run_id)
    except MlflowException:
        return False
    return True
