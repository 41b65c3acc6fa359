"""DVC stage train@CORPUS-NAME: one neural model of params.yaml `models:`, trained on one
corpus -> models/CORPUS/NAME/ and an MLflow run; its headline -> metrics/CORPUS/train/NAME.json."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation.headline import write_training_headline
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.serving.requirements import check_model_environment
from imdb_sentiment.tracking.runs import model_stage


def main() -> None:
    name, params = model_stage(__doc__, "models")
    check_model_environment()  # before the training, not when the model is logged after it
    from imdb_sentiment.models.training import (
        train_recurrent,  # TensorFlow loads only after params pass
    )

    paths = CorpusPaths(params.corpus)
    summary = train_recurrent(
        name, params, paths.prepared, paths.models / name, paths.checkpoints / name
    )
    write_training_headline(summary, paths.train_metrics / f"{name}.json")


if __name__ == "__main__":
    run_stage(main, tensorflow=True)
