"""A model folder (``models/NAME/``), written the one way both model families write it: whole
or not at all, with its predictor logged as the run's MLflow model and the run recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Run

from imdb_sentiment.files import atomic_path, write_json
from imdb_sentiment.paths import RUN_FILE
from imdb_sentiment.serving.mlflow_model import log_sentiment_model
from imdb_sentiment.tracking.runs import run_record

SUMMARY_FILE = "training.json"


@dataclass
class ModelFolder:
    """The staging copy of a model folder: the caller fills ``predictor`` (what serving
    loads) and may add files beside it; ``record`` is the run record once written."""

    root: Path
    record: dict[str, str] = field(default_factory=dict)

    @property
    def predictor(self) -> Path:
        return self.root / "predictor"


@contextmanager
def write_model_folder(
    out_dir: Path, run: Run, summary: dict[str, Any], requirements: list[str]
) -> Iterator[ModelFolder]:
    """Stage ``out_dir``; after the block, log the predictor as the run's model (named after
    the folder, ``models/NAME/``), write the run record and the training summary, and put the
    folder in place in one rename."""
    with atomic_path(out_dir, directory=True) as tmp:
        folder = ModelFolder(tmp)
        folder.predictor.mkdir()
        yield folder
        info = log_sentiment_model(out_dir.name, folder.predictor, requirements)
        folder.record = run_record(run, info)
        write_json(tmp / RUN_FILE, folder.record)
        write_json(tmp / SUMMARY_FILE, summary | folder.record)
