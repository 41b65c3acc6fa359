"""The MLflow Project's `train` entry point (see MLproject): one model as a DVC experiment.

    imdb-sentiment experiment gru --epochs 3 --units params.yaml

becomes ``dvc exp run train@gru -S train.epochs=3``: DVC runs what the model needs and
records the experiment; the training stage's MLflow run nests under the `mlflow run` run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from imdb_sentiment.params import ParamsError, load_params, load_params_file

KEEP = "params.yaml"  # an MLproject default: leave params.yaml's value as it is
OVERRIDES = {  # entry-point parameter -> params.yaml key
    "epochs": "train.epochs",
    "batch_size": "models.{model}.batch_size",
    "learning_rate": "models.{model}.learning_rate",
    "embedding_dim": "models.{model}.embedding_dim",
    "units": "models.{model}.units",
    "dropout": "models.{model}.dropout",
}


def experiment_command(
    model: str, values: Mapping[str, str], params_path: Path = Path("params.yaml")
) -> list[str]:
    """The `dvc exp run` command line for model ``model`` with ``values`` (parameter -> string).

    The strings go to DVC as typed. They are first applied to a copy of params.yaml by DVC's
    own `-S` parser and validated there, so a bad ``-P`` fails in a second with the params
    loader's message instead of after DVC has started the pipeline.
    """
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    params = load_params_file(params_path)
    names = list(params.models)
    if model not in names:
        raise ParamsError(
            f"mlflow run -P model must be one of params.yaml's models ({', '.join(names)}), "
            f"got {model!r}"
        )
    overrides = [
        f"{OVERRIDES[name].format(model=model)}={value}"
        for name, value in values.items()
        if value != KEEP
    ]
    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder) / "params.yaml"
        shutil.copyfile(params_path, trial)
        try:
            apply_overrides(trial, overrides)
        except InvalidArgumentError as exc:
            raise ParamsError(f"mlflow run -P: {exc}: {' '.join(overrides)}") from None
        try:
            load_params(trial)
        except ParamsError as exc:
            raise ParamsError(str(exc).replace("params.yaml:", "mlflow run -P:", 1)) from None
    # The shared defaults change for every corpus, so the model trains on each of them.
    stages = [f"train@{corpus}-{model}" for corpus in params.corpora]
    return ["dvc", "exp", "run", *stages, *(f"-S{item}" for item in overrides)]
