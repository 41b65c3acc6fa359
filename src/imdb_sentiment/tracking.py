"""The one MLflow helper: where runs go, how a model run is opened, tagged and found again."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

log = logging.getLogger(__name__)

EXPERIMENT = "imdb-sentiment"
REGISTERED_MODEL = "imdb-sentiment"
FAMILIES = {"recurrent", "bag_of_words"}
RUN_FILE = "mlflow.json"  # in each models/<name>/ folder: the DVC -> MLflow link


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
    deleted afterwards; a cwd-relative store would be deleted with it.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def configure_tracking() -> str:
    """Point MLflow at the project's store and experiment; return the experiment id."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            # With the embedded store, artifacts would otherwise go to ./mlruns of whatever
            # folder the first stage ran in; pin them next to the database instead.
            location = None
            if uri.startswith("sqlite:") and "MLFLOW_TRACKING_URI" not in os.environ:
                location = (project_root() / "mlruns").as_uri()
            return mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow tracking store {uri} is not usable ({exc.message.splitlines()[0]}); "
            "check MLFLOW_TRACKING_URI or start the tracking server"
        ) from None
    mlflow.set_experiment(experiment_id=experiment.experiment_id)
    return experiment.experiment_id


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
