"""`imdb-sentiment promote`: the registry step, kept out of the cached DVC stages.

Every evaluated model of a corpus becomes a version of that corpus's registered model
(`imdb-sentiment`, `sst2-sentiment`); its alias `champion` moves to the best by that corpus's
validation accuracy. `make run` runs it after `dvc repro`.
`dvc exp run --queue` workers never run it, so a sweep's workers, finishing in any order,
cannot move the alias: promote a finished experiment by `dvc exp apply` and this command.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from imdb_sentiment.errors import UserError
from imdb_sentiment.files import read_json
from imdb_sentiment.paths import RUN_FILE
from imdb_sentiment.tracking.champion import CHAMPION_METRIC, champion_of
from imdb_sentiment.tracking.store import configure_tracking, project_run_id

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"


def registered_model(corpus: str) -> str:
    """The registered model of a corpus's models: CORPUS-sentiment (imdb-sentiment,
    sst2-sentiment), each with its own `champion`, picked on that corpus's validation split."""
    return f"{corpus}-sentiment"


def evaluated_models(
    families: Mapping[str, str], models_root: Path, evaluation_root: Path
) -> pd.DataFrame:
    """One row per model: its family, run, logged model and evaluation metrics."""
    rows = []
    for name, family in families.items():
        metrics_file = evaluation_root / f"{name}.json"
        run_file = models_root / name / RUN_FILE
        if not metrics_file.exists() or not run_file.exists():
            raise UserError(
                f"{name} has not been evaluated ({metrics_file} or {run_file} is missing); "
                "run `dvc repro` first"
            )
        record = read_json(run_file)
        rows.append(
            {
                "model": name,
                "family": family,
                "run_id": record["run_id"],
                "model_uri": record["model_uri"],
                **read_json(metrics_file),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def promote(
    families: Mapping[str, str], corpus: str, models_root: Path, evaluation_root: Path
) -> tuple[str, dict[str, str]]:
    """Register every evaluated model of ``corpus`` as a version of CORPUS-sentiment and point
    its `champion` at the best; return it and the versions (model name -> registry version)."""
    configure_tracking()
    table = evaluated_models(families, models_root, evaluation_root)
    champion = champion_of(table)
    name = registered_model(corpus)
    versions = register_versions(table, corpus)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, CHAMPION_ALIAS, versions[champion])
    log.info(
        "%s champion (best %s %.4f): %s, registry version %s",
        name,
        CHAMPION_METRIC,
        table.loc[champion, CHAMPION_METRIC],
        champion,
        versions[champion],
    )
    parent = project_run_id()
    if parent:  # under `mlflow run`, the run the user started shows the outcome too
        client.set_tag(parent, f"champion.{corpus}", champion)
    return champion, versions


def register_versions(table: pd.DataFrame, corpus: str) -> dict[str, str]:
    """Make each model of ``corpus`` (a row of ``table``) a version of its registered model.

    A run registered before keeps its version, so promoting twice changes nothing.
    """
    client = mlflow.MlflowClient()
    registered = registered_model(corpus)
    try:
        client.create_registered_model(
            registered,
            description=f"Sentiment, trained on the {corpus} corpus: raw text in, probability "
            f"and label out. Alias `{CHAMPION_ALIAS}` = best validation accuracy on that corpus.",
            tags={"corpus": corpus},
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    versions = {}
    for name, row in table.iterrows():
        found = client.search_model_versions(f"name='{registered}' and run_id='{row.run_id}'")
        if found:
            version = found[0].version
        else:
            version = mlflow.register_model(row.model_uri, registered).version
        tags = {
            "model_name": name,
            "model_family": row.family,
            "run_id": row.run_id,
            "val_accuracy": f"{row.val_accuracy:.4f}",
            "test_accuracy": f"{row.test_accuracy:.4f}",
        }
        if os.environ.get("DVC_EXP_NAME"):
            tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
        for key, value in tags.items():
            client.set_model_version_tag(registered, version, key, value)
        client.update_model_version(
            registered,
            version,
            description=f"**{name}** ({row.family}), trained in MLflow run "
            f"[{row.run_id}](#/experiments/{mlflow.get_run(row.run_id).info.experiment_id}"
            f"/runs/{row.run_id}). Validation accuracy {row.val_accuracy:.4f}, "
            f"test accuracy {row.test_accuracy:.4f}.",
        )
        versions[name] = str(version)
    return versions
