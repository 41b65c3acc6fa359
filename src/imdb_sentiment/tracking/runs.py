"""The run lifecycle: open (or resume) a model's run, tag it, add evaluation results to it
and record it in the model's folder. Where runs go is store.py's job."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.dataset import Dataset
from mlflow.entities import DatasetInput, Metric, Run
from mlflow.exceptions import MlflowException

from imdb_sentiment.files import project_root, read_json
from imdb_sentiment.params import (
    BAG_OF_WORDS,
    ENSEMBLE,
    NEURAL_BAG,
    RECURRENT,
    Params,
    ParamsError,
    load_params,
)
from imdb_sentiment.paths import RUN_FILE, Outputs
from imdb_sentiment.tracking.store import (
    DEFAULT_STORE,
    TrackingError,
    configure_tracking,
    default_tracking_uri,
    project_run_id,
    tracking_uri,
)

# What a per-model stage's name must be a key of, and how to add one that is missing.
STAGE_SECTIONS = {
    "models": "add it with its arch and settings",
    "baselines": "add its TF-IDF params",
    "ensembles": "add it with its members",
}


def model_stage(description: str, section: str | None) -> tuple[str, Params]:
    """A per-model stage's two arguments (a corpus, and a key of params.yaml's ``section``, or
    of any of them where ``section`` is None) with that corpus's validated params, and the
    tracking store checked: an unknown name, a bad params file or an unreachable server fails
    before any work."""
    where = f"`{section}:`" if section else ", ".join(f"`{key}:`" for key in STAGE_SECTIONS)
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("corpus", help="a key of `corpora:` in params.yaml")
    parser.add_argument("name", help=f"a key of {where} in params.yaml")
    args = parser.parse_args()
    name = args.name
    params = load_params(corpus=args.corpus)
    if section is None and name not in params.families():
        raise ParamsError(f"params.yaml: {name} is in none of {', '.join(STAGE_SECTIONS)}")
    if section is not None and name not in getattr(params, section):
        raise ParamsError(f"params.yaml: {section}.{name} is missing; {STAGE_SECTIONS[section]}")
    configure_tracking()  # an unreachable tracking server fails here, before any work
    return name, params


log = logging.getLogger(__name__)

FAMILIES = {RECURRENT, NEURAL_BAG, BAG_OF_WORDS, ENSEMBLE}


@contextmanager
def model_run(
    model_name: str, family: str, corpus: str, resume_run_id: str | None = None
) -> Iterator[Run]:
    """Open (or resume) the MLflow run of one model, named CORPUS/NAME and tagged so it can be
    traced back (the UI's filter ``tags.corpus = "sst2"`` puts one corpus's runs together).

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
        run_name=None if run_id else f"{corpus}/{model_name}",
        tags=None if run_id else run_tags(model_name, family, corpus),
        parent_run_id=None if run_id else project_run_id(),
        log_system_metrics=True,  # CPU, memory and disk over the training, in the run's UI
    ) as run:
        if run_id:
            log.info("resuming MLflow run %s (%s)", run_id, model_name)
        yield run


def run_tags(model_name: str, family: str, corpus: str) -> dict[str, str]:
    """Tags that tie a run to its corpus, its code, its DVC stage and, under `dvc exp run`, its
    experiment."""
    tags = {"corpus": corpus, "model_name": model_name, "model_family": family}
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


def log_evaluation(
    record: dict[str, str],
    stage: str,
    metrics: dict[str, float],
    dataset: Dataset,
    artifacts: dict[str, list[Path]],
) -> None:
    """Add evaluation metrics and files (folder -> paths) to the run DVC stage ``stage`` made
    (``record``: the model folder's ``mlflow.json``).

    The metrics are linked to the run's logged model and to the evaluation dataset, so the
    model's page in MLflow shows its test metrics. Through ``MlflowClient``, which leaves the
    run's status and end time alone: reopening the run with ``start_run`` would end it again,
    and the UI would show the evaluation's wait as training time. Call
    ``configure_tracking()`` first (once per process).
    """
    run_id = record["run_id"]
    if not _run_exists(run_id):
        raise TrackingError(
            f"MLflow run {run_id} of {stage} is not in {tracking_uri()}; the model was "
            "trained against another store. Point MLFLOW_TRACKING_URI at that store, or "
            f"re-train it here: dvc repro -f -s {stage}"
        )
    client = mlflow.MlflowClient()
    client.log_inputs(run_id, datasets=[_dataset_input(dataset, "evaluation")])
    now = int(time.time() * 1000)
    linked = {
        "model_id": record.get("model_id"),
        "dataset_name": dataset.name,
        "dataset_digest": dataset.digest,
    }
    client.log_batch(
        run_id,
        metrics=[Metric(key, float(value), now, 0, **linked) for key, value in metrics.items()],
    )
    for folder, paths in artifacts.items():
        for path in paths:
            client.log_artifact(run_id, str(path), artifact_path=folder)


def log_report(corpus: str, models_root: Path, outputs: Outputs) -> None:
    """Add a corpus's rendered report and figures to each of its evaluated models' runs (and,
    under `mlflow run`, to the run the user started, under comparison/CORPUS), replacing what
    an earlier rendering left there."""
    names = list(read_json(outputs.comparison)["models"])
    client = mlflow.MlflowClient()
    shared = [outputs.report, outputs.figures / "comparison.png"]
    shared.append(outputs.figures / "shuffle_windows.png")
    for name in names:
        run_id = read_json(models_root / name / RUN_FILE)["run_id"]
        for path in shared:
            client.log_artifact(run_id, str(path), artifact_path="comparison")
        for kind in ("roc", "confusion"):
            figure = outputs.figures / f"{name}_{kind}.png"
            client.log_artifact(run_id, str(figure), artifact_path="evaluation")
    parent = project_run_id()
    if parent:
        for path in shared[:2]:
            client.log_artifact(parent, str(path), artifact_path=f"comparison/{corpus}")


def prepared_dataset(prepared_dir: Path, split: str) -> Dataset:
    """The prepared data as an MLflow dataset: its source folder and, as its digest, the hash
    DVC gave ``data/prepared/CORPUS`` (dvc.lock), so a run points at the data version it used."""
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource

    return MetaDataset(
        source=LocalArtifactDatasetSource(str(Path(prepared_dir).resolve())),
        name=f"{Path(prepared_dir).name}-prepared-{split}",  # data/prepared/CORPUS
        digest=dvc_digest(prepared_dir),
    )


def log_dataset(dataset: Dataset, context: str) -> None:
    """Log ``dataset`` as an input of the active run (context ``training`` / ``evaluation``)."""
    mlflow.log_input(dataset, context=context)


def dvc_digest(path: Path) -> str | None:
    """The hash dvc.lock records for the output at ``path`` (``md5`` without ``.dir``), or
    None outside a DVC checkout (MLflow then derives a digest of its own)."""
    root = project_root()
    lock = root / "dvc.lock"
    if not lock.exists():
        return None
    import yaml

    try:
        relative = Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return None
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out.get("path") == relative and out.get("md5"):
                return str(out["md5"]).removesuffix(".dir")
    return None


def _dataset_input(dataset: Dataset, context: str) -> DatasetInput:
    from mlflow.entities import InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    return DatasetInput(
        dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]
    )


def run_record(run: Run, model_info: Any) -> dict[str, str]:
    """What a model folder records of its MLflow run, so DVC outputs point back to MLflow.

    The project's own store is written as ``sqlite:///mlflow.db``, which ``tracking_uri()``
    reads relative to the project root: after ``dvc pull`` on another machine the record still
    names that machine's store, not a path of the machine that trained.
    """
    uri = tracking_uri()
    if uri == default_tracking_uri():
        uri = f"sqlite:///{DEFAULT_STORE}"
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "model_id": model_info.model_id,
        "model_uri": model_info.model_uri,
        "tracking_uri": uri,
    }


def git_commit(checkout: Path | None = None) -> str | None:
    """The commit checked out at ``checkout`` (the project root by default); None outside git."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=checkout or project_root(),
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
