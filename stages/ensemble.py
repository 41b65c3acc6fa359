"""DVC stage ensemble@NAME: an ensemble of params.yaml `ensembles:`, its weights picked on
validation from its members' saved scores -> models/NAME/ and an MLflow run; its headline ->
metrics/train/NAME.json."""

import argparse

from imdb_sentiment.cli import run_stage
from imdb_sentiment.ensemble import build_ensemble
from imdb_sentiment.headline import write_training_headline
from imdb_sentiment.params import ParamsError, load_params
from imdb_sentiment.paths import MODELS, PREPARED, TRAIN_METRICS
from imdb_sentiment.probes import PROBES, load_probes
from imdb_sentiment.tracking import configure_tracking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="a key of `ensembles:` in params.yaml")
    name = parser.parse_args().name
    params = load_params()
    if name not in params.ensembles:
        raise ParamsError(f"params.yaml: ensembles.{name} is missing; add it with its members")
    configure_tracking()  # an unreachable tracking server fails here, before any work
    val_labels = load_probes(PROBES).val.label.to_numpy()
    summary = build_ensemble(name, params, val_labels, PREPARED, MODELS)
    write_training_headline(summary, TRAIN_METRICS / f"{name}.json")


if __name__ == "__main__":
    run_stage(main)
