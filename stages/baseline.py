"""DVC stage baseline@NAME: a TF-IDF + logistic regression -> models/NAME/ and an MLflow run."""

import argparse

from imdb_sentiment.baseline import train_baseline
from imdb_sentiment.cli import run_stage
from imdb_sentiment.headline import write_training_headline
from imdb_sentiment.params import ParamsError, load_params
from imdb_sentiment.paths import MODELS, PREPARED, TRAIN_METRICS
from imdb_sentiment.tracking import configure_tracking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="a key of `baselines:` in params.yaml, e.g. tfidf")
    name = parser.parse_args().name
    params = load_params()
    if name not in params.baselines:
        raise ParamsError(f"params.yaml: baselines.{name} is missing; add its TF-IDF params")
    configure_tracking()  # an unreachable tracking server fails here, before any work
    summary = train_baseline(name, params, PREPARED, MODELS / name)
    write_training_headline(summary, TRAIN_METRICS / f"{name}.json")


if __name__ == "__main__":
    run_stage(main)
