"""What every stage script shares: logging set-up and one-line errors instead of tracebacks."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from imdb_sentiment.data import ArchiveError
from imdb_sentiment.download import DownloadError
from imdb_sentiment.params import ParamsError
from imdb_sentiment.tracking import TrackingError

# Failures a user can fix from the message alone; anything else keeps its traceback.
USER_ERRORS = (ParamsError, DownloadError, ArchiveError, TrackingError)


def run_stage(main: Callable[[], object]) -> None:
    """Run a stage's ``main`` with one log line per event and a clear exit on a user error."""
    if not sys.stderr.isatty():
        # MLflow redraws artifact progress bars; in DVC logs and CI that is a wall of noise.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(
        level=os.environ.get("IMDB_SENTIMENT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        main()
    except USER_ERRORS as exc:
        stage = os.environ.get("DVC_STAGE") or os.path.basename(sys.argv[0])
        print(f"error ({stage}): {exc}", file=sys.stderr)
        sys.exit(1)
