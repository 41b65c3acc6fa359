"""DVC stage summary: every corpus's answer side by side -> reports/summary.md."""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.params import load_params_file
from imdb_sentiment.report.summary import SUMMARY, corpus_summary_file, render_summary


def main() -> None:
    corpora = load_params_file().corpora
    render_summary([corpus_summary_file(corpus) for corpus in corpora], SUMMARY)


if __name__ == "__main__":
    run_stage(main)
