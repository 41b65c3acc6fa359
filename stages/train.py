"""DVC stage train@NAME: one recurrent model of params.yaml `models:` -> models/NAME/ and an
MLflow run; its headline numbers -> metrics/train/NAME.json."""

import argparse
from pathlib import Path

from imdb_sentiment.cli import run_stage
from imdb_sentiment.headline import write_training_headline
from imdb_sentiment.params import ParamsError, load_params
from imdb_sentiment.paths import MODELS, PREPARED, TRAIN_METRICS
from imdb_sentiment.tracking import configure_tracking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="a key of `models:` in params.yaml, e.g. lstm")
    name = parser.parse_args().name
    params = load_params()
    if name not in params.models:
        raise ParamsError(
            f"params.yaml: models.{name} is missing; add it with its arch and settings"
        )
    configure_tracking()  # an unreachable tracking server fails here, before any work
    from imdb_sentiment.training import train_recurrent  # TensorFlow loads only after params pass

    summary = train_recurrent(name, params, PREPARED, MODELS / name, Path("checkpoints") / name)
    write_training_headline(summary, TRAIN_METRICS / f"{name}.json")


if __name__ == "__main__":
    run_stage(main, tensorflow=True)
