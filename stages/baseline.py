"""DVC stage baseline@CORPUS-NAME: a bag of n-grams + logistic regression on one corpus ->
models/CORPUS/NAME/ and an MLflow run; its headline -> metrics/CORPUS/train/NAME.json."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation.headline import write_training_headline
from imdb_sentiment.models.baseline import train_baseline
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.serving.requirements import check_model_environment
from imdb_sentiment.tracking.runs import model_stage


def main() -> None:
    name, params = model_stage(__doc__, "baselines")
    check_model_environment()  # before the training, not when the model is logged after it
    paths = CorpusPaths(params.corpus)
    summary = train_baseline(name, params, paths.prepared, paths.models / name)
    write_training_headline(summary, paths.train_metrics / f"{name}.json")


if __name__ == "__main__":
    run_stage(main)
