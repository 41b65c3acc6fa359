"""DVC stage train@ARCH: one recurrent architecture -> models/ARCH/ and an MLflow run."""

import argparse
from pathlib import Path

from imdb_sentiment.cli import run_stage
from imdb_sentiment.params import ARCHITECTURES, ParamsError, load_params
from imdb_sentiment.tracking import configure_tracking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("arch", choices=ARCHITECTURES)
    arch = parser.parse_args().arch
    params = load_params()
    if arch not in params.models:
        raise ParamsError(f"params.yaml: models.{arch} is missing; add its units and dropout")
    configure_tracking()  # an unreachable tracking server fails here, before any work
    from imdb_sentiment.training import train_recurrent  # TensorFlow loads only after params pass

    train_recurrent(
        arch, params, Path("data/prepared"), Path("models") / arch, Path("checkpoints") / arch
    )


if __name__ == "__main__":
    run_stage(main)
