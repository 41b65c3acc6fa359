"""DVC stage evaluate: every model on test, shuffled-word test and minimal pairs -> metrics/,
plots/, reports/comparison.md and each model's MLflow run. (The registry: `imdb-sentiment
promote`.)"""

from pathlib import Path

from imdb_sentiment.cli import run_stage
from imdb_sentiment.comparison import evaluate_and_compare
from imdb_sentiment.evaluation import CONTRAST_PAIRS
from imdb_sentiment.params import load_params
from imdb_sentiment.tracking import configure_tracking


def main() -> None:
    params = load_params()
    configure_tracking()  # an unreachable tracking server fails here, before any work
    evaluate_and_compare(
        params.families(), Path("models"), Path("data/prepared"), CONTRAST_PAIRS, params.seed
    )


if __name__ == "__main__":
    run_stage(main, tensorflow=True)
