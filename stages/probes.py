"""DVC stage probes: every text set the models are scored on, built once -> data/probes/."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation.model_evaluation import CONTRAST_PAIRS
from imdb_sentiment.evaluation.probes import PROBES, build_probes
from imdb_sentiment.params import load_params
from imdb_sentiment.paths import PREPARED


def main() -> None:
    params = load_params()
    build_probes(PREPARED, CONTRAST_PAIRS, params.seed, params.score.window_reviews, PROBES)


if __name__ == "__main__":
    run_stage(main)
