"""DVC stage evaluate: every model on test, shuffled-word test and minimal pairs -> the numbers
(reports/evaluation/, metrics/, plots/) and each model's MLflow run. (The report: the report
stage; the registry: `imdb-sentiment promote`.)"""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.comparison import evaluate_and_compare
from imdb_sentiment.evaluation import CONTRAST_PAIRS
from imdb_sentiment.params import load_params
from imdb_sentiment.paths import MODELS, PREPARED
from imdb_sentiment.tracking import configure_tracking


def main() -> None:
    params = load_params()
    configure_tracking()  # an unreachable tracking server fails here, before any work
    evaluate_and_compare(params.families(), MODELS, PREPARED, CONTRAST_PAIRS, params.seed)


if __name__ == "__main__":
    run_stage(main, tensorflow=True)
