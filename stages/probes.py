"""DVC stage probes@CORPUS: every text set the corpus's models are scored on, built once ->
data/probes/CORPUS/."""

from imdb_sentiment.cli import corpus_stage, run_stage
from imdb_sentiment.evaluation.model_evaluation import CONTRAST_PAIRS
from imdb_sentiment.evaluation.probes import build_probes
from imdb_sentiment.paths import CorpusPaths


def main() -> None:
    params = corpus_stage(__doc__)
    paths = CorpusPaths(params.corpus)
    window_texts = params.score.window_reviews
    build_probes(paths.prepared, CONTRAST_PAIRS, params.seed, window_texts, paths.probes)


if __name__ == "__main__":
    run_stage(main)
