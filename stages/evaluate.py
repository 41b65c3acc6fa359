"""DVC stage evaluate: every model's validation and test accuracy -> metrics/ and MLflow."""

from pathlib import Path

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation import evaluate_models
from imdb_sentiment.params import BASELINES, load_params


def main() -> None:
    params = load_params()
    names = [*params.models, *BASELINES]
    evaluate_models(names, Path("models"), Path("data/prepared"), Path("metrics"))


if __name__ == "__main__":
    run_stage(main)
