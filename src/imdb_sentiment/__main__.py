"""`imdb-sentiment`: the project's one command line.

    imdb-sentiment predict "A wonderful film." "Dull."   # score reviews (IMDB's champion)
    imdb-sentiment predict --corpus sst2 "Dull."           # SST-2's champion
    cat reviews.txt | imdb-sentiment predict               # one review per line
    imdb-sentiment predict -m runs:/<run_id>/<name>        # any MLflow model URI
    imdb-sentiment promote                  # register every model, move each corpus's `champion`
    imdb-sentiment tune gru --trials 20     # the tuning search (tuning/command.py)
    imdb-sentiment experiment gru --units 128   # one model as a DVC experiment
    imdb-sentiment tracking-server          # a team's MLflow server (tracking/team_server.py)

`predict` loads the same MLflow model `mlflow models serve` serves (a champion by default),
so what it prints is what the REST endpoint answers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from imdb_sentiment.cli import error_line
from imdb_sentiment.errors import UserError
from imdb_sentiment.tracking import team_server
from imdb_sentiment.tracking.project import KEEP, OVERRIDES, experiment_command
from imdb_sentiment.tracking.registry import CHAMPION_ALIAS, registered_model
from imdb_sentiment.tracking.store import tracking_uri

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

DEFAULT_CORPUS = "imdb"


def champion_uri(corpus: str) -> str:
    """The model URI of a corpus's champion, as `mlflow models serve -m` takes it."""
    return f"models:/{registered_model(corpus)}@{CHAMPION_ALIAS}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imdb-sentiment", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="label reviews as positive or negative")
    predict.add_argument("reviews", nargs="*", help="review texts; none: read lines from stdin")
    predict.add_argument(
        "-m", "--model-uri", help=f"MLflow model URI (default {champion_uri('CORPUS')})"
    )
    predict.add_argument(
        "--corpus",
        default=DEFAULT_CORPUS,
        help=f"whose champion to load without -m: a key of params.yaml `corpora:` "
        f"(default {DEFAULT_CORPUS})",
    )
    predict.add_argument("--json", action="store_true", help="one JSON object per review")
    tune = commands.add_parser(
        "tune",
        help="search a neural model's settings on the validation split (resumable)",
        description="Run each named model's Optuna study on a corpus (every trial a nested "
        "MLflow run) up to --trials finished trials, then rewrite reports/CORPUS/tuning.json and "
        "the tuning.md rendered from it. Needs `dvc repro prepare`.",
    )
    tune.add_argument("names", nargs="*", help="keys of params.yaml `models:` (default: all)")
    tune.add_argument(
        "--corpus",
        help="a key of params.yaml `corpora:` whose validation split the search uses (default: "
        "the first, whose winners are the shared defaults; another's go to its overrides)",
    )
    tune.add_argument("--trials", type=int, default=20, help="finished trials per study")
    tune.add_argument("--storage", help="Optuna storage URL (default sqlite:///tuning.db)")
    tune.add_argument(
        "--write-params", action="store_true", help="put each winner into params.yaml"
    )
    tune.add_argument(
        "--report", action="store_true", help="only rewrite reports/CORPUS/tuning.json and .md"
    )
    tune.add_argument(
        "--heartbeat",
        type=int,
        metavar="SECONDS",
        help="how often a running trial tells the study it is alive; another worker fails and "
        "retries a trial silent for 3 beats (default 60, as tuning_study.HEARTBEAT_SECONDS)",
    )
    experiment = commands.add_parser(
        "experiment",
        help="train one neural model as a DVC experiment (`dvc exp run train@MODEL -S ...`)",
        description="The MLflow Project's `train` entry point. Each option overrides one "
        "params.yaml value; `params.yaml` (the default) keeps the file's value.",
    )
    experiment.add_argument("model", help="a key of params.yaml `models:`")
    for name in OVERRIDES:
        experiment.add_argument(f"--{name.replace('_', '-')}", default=KEEP, dest=name)
    commands.add_parser(
        "promote",
        help="register every evaluated model; point each corpus's `champion` at its best",
        description="After `dvc repro`: make each model of each corpus a version of the "
        "registered model CORPUS-sentiment and move its alias `champion` to the best by that "
        "corpus's validation accuracy.",
    )
    server = commands.add_parser(
        "tracking-server", help="run a team MLflow tracking server on PostgreSQL"
    )
    team_server.build_parser(server)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except UserError as exc:
        sys.exit(error_line(exc))


def _run(args: argparse.Namespace) -> int:
    if args.command == "tracking-server":
        return team_server.run(args)
    if args.command == "tune":
        return _tune(args)
    if args.command == "promote":
        return _promote()
    if args.command == "experiment":
        return _experiment(args)

    model = _load(args.model_uri or champion_uri(args.corpus), default=not args.model_uri)
    if args.reviews:
        _print(model, args.reviews, args.json)
        return 0
    for review in _stdin_reviews():
        _print(model, [review], args.json)
    return 0


def _load(uri: str, default: bool) -> PyFuncModel:
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri())  # the project's store, as the pipeline used
    try:
        return mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        hint = (
            " Run `make run` (or `dvc repro`, then `imdb-sentiment promote`, which registers"
            " the champion) first."
            if default
            else ""
        )
        raise UserError(
            f"cannot load {uri} from {mlflow.get_tracking_uri()}: "
            f"{exc.message.splitlines()[0]}.{hint}"
        ) from None


def _tune(args: argparse.Namespace) -> int:
    from imdb_sentiment.cli import run_stage
    from imdb_sentiment.tuning.command import run_command

    if args.trials < 1:
        raise UserError(f"--trials must be >= 1, got {args.trials}")
    if args.heartbeat is not None and args.heartbeat < 1:
        raise UserError(f"--heartbeat must be >= 1 second, got {args.heartbeat}")
    run_stage(
        lambda: run_command(
            args.names,
            args.trials,
            args.storage,
            args.write_params,
            args.report,
            args.heartbeat,
            args.corpus,
        ),
        tensorflow=not args.report,
    )
    return 0


def _experiment(args: argparse.Namespace) -> int:
    command = experiment_command(args.model, {name: getattr(args, name) for name in OVERRIDES})
    print("+ " + " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


def _promote() -> int:
    from imdb_sentiment.cli import run_stage
    from imdb_sentiment.files import project_root
    from imdb_sentiment.params import load_params_file
    from imdb_sentiment.paths import CorpusPaths
    from imdb_sentiment.tracking.registry import promote

    def main() -> None:
        root = project_root()
        params = load_params_file(root / "params.yaml")
        for corpus in params.corpora:
            paths = CorpusPaths(corpus)
            families = params.corpus(corpus).families()
            promote(families, corpus, root / paths.models, root / paths.outputs.evaluation)

    run_stage(main)
    return 0


def _stdin_reviews() -> Iterator[str]:
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("review (empty line or Ctrl-D to quit)> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line or (interactive and not line.strip()):
            return
        if line.strip():
            yield line.rstrip("\n")


def _print(model: PyFuncModel, reviews: Sequence[str], as_json: bool) -> None:
    import pandas as pd

    predictions = model.predict(pd.DataFrame({"text": list(reviews)}))
    for review, row in zip(reviews, predictions.itertuples(), strict=True):
        if as_json:
            print(json.dumps({"text": review, "probability": row.probability, "label": row.label}))
        else:
            snippet = review if len(review) <= 60 else review[:57] + "..."
            print(f"{row.label}\t{row.probability:.4f}\t{snippet}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
