"""DVC stage report@CORPUS: reports/CORPUS/comparison.md and reports/CORPUS/figures/, rendered
from the compare stage's numbers, and added to each of the corpus's MLflow runs."""

from imdb_sentiment.cli import corpus_stage, run_stage
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.report.comparison import render_report
from imdb_sentiment.tracking.runs import log_report
from imdb_sentiment.tracking.store import configure_tracking


def main() -> None:
    params = corpus_stage(__doc__)
    configure_tracking()  # an unreachable tracking server fails here, before any work
    paths = CorpusPaths(params.corpus)
    render_report(paths.outputs)
    log_report(params.corpus, paths.models, paths.outputs)


if __name__ == "__main__":
    run_stage(main)
