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
CHAMPION_ALIAS = "champion"
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


def register_versions(table: Any, families: dict[str, str], champion: str) -> dict[str, str]:
    """Make each model a version of the registered model and point ``champion`` at one.

    ``table`` is indexed by model name with ``run_id``, ``model_uri`` and metric columns. A run
    registered before (evaluate re-runs when any model changes) keeps its version.
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
