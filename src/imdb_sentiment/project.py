"""The MLflow Project's `train` entry point (see MLproject): one model as a DVC experiment.

    python -m imdb_sentiment.project train --model gru --epochs 3 --units params.yaml

becomes ``dvc exp run train@gru -S train.epochs=3``: DVC runs what the model needs and
records the experiment; the training stage's MLflow run nests under the `mlflow run` run.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from imdb_sentiment.params import ParamsError, parse_params

KEEP = "params.yaml"  # an MLproject default: leave params.yaml's value as it is
TRAIN_OVERRIDES = {  # entry-point parameter -> params.yaml key
    "epochs": "train.epochs",
    "batch_size": "models.{model}.batch_size",
    "learning_rate": "models.{model}.learning_rate",
    "embedding_dim": "models.{model}.embedding_dim",
    "units": "models.{model}.units",
    "dropout": "models.{model}.dropout",
}


def train_command(
    model: str, values: Mapping[str, str], params_path: Path = Path("params.yaml")
) -> list[str]:
    """The `dvc exp run` command line for model ``model`` with ``values`` (parameter -> string).

    The overrides are validated against params.yaml first, so a bad ``-P`` fails in a second
    with the params loader's message instead of after DVC has started the pipeline.
    """
    raw = copy.deepcopy(yaml.safe_load(params_path.read_text()))
    names = list(raw.get("models") or {})
    if model not in names:
        raise ParamsError(
            f"mlflow run -P model must be one of params.yaml's models ({', '.join(names)}), "
            f"got {model!r}"
        )
    overrides = {
        TRAIN_OVERRIDES[name].format(model=model): value
        for name, value in values.items()
        if value != KEEP
    }
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        section = raw
        for part in parents:
            section = section[part]
        section[leaf] = _scalar(value)
    parse_params(raw, source="mlflow run -P")
    return ["dvc", "exp", "run", f"train@{model}", *(f"-S{k}={v}" for k, v in overrides.items())]


def _scalar(text: str) -> object:
    """A -P value as DVC's -S reads it: "3" -> 3, "3e-3" -> 0.003 (PyYAML alone keeps that a
    string), "true" -> True, anything else as text."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(text)
        except ValueError:
            return value
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imdb_sentiment.project")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train one recurrent model as a DVC experiment")
    train.add_argument("--model", required=True, help="a key of params.yaml `models:`")
    for name in TRAIN_OVERRIDES:
        train.add_argument(f"--{name.replace('_', '-')}", default=KEEP, dest=name)
    args = parser.parse_args(argv)
    try:
        command = train_command(args.model, {name: getattr(args, name) for name in TRAIN_OVERRIDES})
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("+ " + " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
