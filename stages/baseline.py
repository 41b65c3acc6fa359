"""DVC stage baseline@NAME: a TF-IDF + logistic regression -> models/NAME/ and an MLflow run."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation.headline import write_training_headline
from imdb_sentiment.models.baseline import train_baseline
from imdb_sentiment.paths import MODELS, PREPARED, TRAIN_METRICS
from imdb_sentiment.serving.requirements import check_model_environment
from imdb_sentiment.tracking.runs import model_stage


def main() -> None:
    name, params = model_stage(__doc__, "baselines")
    check_model_environment()  # before the training, not when the model is logged after it
    summary = train_baseline(name, params, PREPARED, MODELS / name)
    write_training_headline(summary, TRAIN_METRICS / f"{name}.json")


if __name__ == "__main__":
    run_stage(main)
