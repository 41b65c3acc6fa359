"""What every command shares: logging set-up and one-line errors instead of tracebacks."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from imdb_sentiment.errors import UserError
from imdb_sentiment.runtime import import_tensorflow

if TYPE_CHECKING:
    from imdb_sentiment.params import Params

LOG_LEVEL_ENV = "IMDB_SENTIMENT_LOG_LEVEL"
PROJECT_LOGGER = "imdb_sentiment"


def run_stage(main: Callable[[], object], tensorflow: bool = False) -> None:
    """Run a command's ``main`` with one log line per event and a clear exit on a user error.

    ``tensorflow``: the command uses it, so import it first, quietly (see runtime.py).
    """
    if not sys.stderr.isatty():
        # MLflow redraws artifact progress bars; in DVC logs and CI that is a wall of noise.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    configure_logging()
    try:
        if tensorflow:
            import_tensorflow()
        main()
    except UserError as exc:
        sys.exit(error_line(exc))


def configure_logging() -> None:
    """The project's lines from INFO up, libraries' from WARNING up; ``IMDB_SENTIMENT_LOG_LEVEL``
    (``DEBUG``, ``INFO``, ...) sets one level for every logger, the libraries' included.

    MLflow logs through a handler of its own at INFO (system-metrics start and stop lines in
    every stage), configured when it is imported: its level is set on the logger and, for an
    import still to come, in ``MLFLOW_LOGGING_LEVEL``, which that configuration reads.
    """
    chosen = os.environ.get(LOG_LEVEL_ENV, "").upper() or None
    libraries = chosen or "WARNING"
    logging.basicConfig(
        level=libraries,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger(PROJECT_LOGGER).setLevel(chosen or "INFO")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", libraries)
    logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"])


def error_line(exc: Exception) -> str:
    """The one way every command reports what the user must fix: ``error (WHERE): what``;
    ``sys.exit`` prints it to stderr and exits 1."""
    where = os.environ.get("DVC_STAGE") or os.path.basename(sys.argv[0])
    return f"error ({where}): {exc}"


def corpus_stage(description: str) -> Params:
    """A per-corpus stage's one argument (a key of params.yaml's ``corpora:``): that corpus's
    validated params. An unknown corpus or a bad params file fails before any work."""
    from imdb_sentiment.params import load_params

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("corpus", help="a key of `corpora:` in params.yaml")
    return load_params(corpus=parser.parse_args().corpus)
