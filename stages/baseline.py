"""DVC stage baseline@NAME: a TF-IDF + logistic regression -> models/NAME/ and an MLflow run."""

import argparse
from pathlib import Path

from imdb_sentiment.baseline import train_baseline
from imdb_sentiment.cli import run_stage
from imdb_sentiment.params import ParamsError, load_params
from imdb_sentiment.tracking import configure_tracking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="a key of `baselines:` in params.yaml, e.g. tfidf")
    name = parser.parse_args().name
    params = load_params()
    if name not in params.baselines:
        raise ParamsError(f"params.yaml: baselines.{name} is missing; add its TF-IDF params")
    configure_tracking()  # an unreachable tracking server fails here, before any work
    train_baseline(name, params, Path("data/prepared"), Path("models") / name)


if __name__ == "__main__":
    run_stage(main)
