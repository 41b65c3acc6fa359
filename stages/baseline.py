"""DVC stage baseline: TF-IDF + logistic regression (tfidf) -> models/tfidf/ and an MLflow run."""

from pathlib import Path

from imdb_sentiment.baseline import BASELINE_NAME, train_baseline
from imdb_sentiment.cli import run_stage
from imdb_sentiment.params import load_params


def main() -> None:
    train_baseline(load_params(), Path("data/prepared"), Path("models") / BASELINE_NAME)


if __name__ == "__main__":
    run_stage(main)
