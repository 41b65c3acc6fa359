"""DVC stage report: reports/comparison.md and reports/figures/, rendered from the compare
stage's numbers, and added to each model's MLflow run."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.paths import MODELS, Outputs
from imdb_sentiment.report.comparison import render_report
from imdb_sentiment.tracking.runs import log_report
from imdb_sentiment.tracking.store import configure_tracking


def main() -> None:
    configure_tracking()  # an unreachable tracking server fails here, before any work
    outputs = Outputs()
    render_report(outputs)
    log_report(MODELS, outputs)


if __name__ == "__main__":
    run_stage(main)
