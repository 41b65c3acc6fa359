"""What every command shares: logging set-up and one-line errors instead of tracebacks."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from imdb_sentiment.errors import UserError
from imdb_sentiment.runtime import import_tensorflow


def run_stage(main: Callable[[], object], tensorflow: bool = False) -> None:
    """Run a command's ``main`` with one log line per event and a clear exit on a user error.

    ``tensorflow``: the command uses it, so import it first, quietly (see runtime.py).
    """
    if not sys.stderr.isatty():
        # MLflow redraws artifact progress bars; in DVC logs and CI that is a wall of noise.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(
        level=os.environ.get("IMDB_SENTIMENT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        if tensorflow:
            import_tensorflow()
        main()
    except UserError as exc:
        sys.exit(error_line(exc))


def error_line(exc: Exception) -> str:
    """The one way every command reports what the user must fix: ``error (WHERE): what``;
    ``sys.exit`` prints it to stderr and exits 1."""
    where = os.environ.get("DVC_STAGE") or os.path.basename(sys.argv[0])
    return f"error ({where}): {exc}"
