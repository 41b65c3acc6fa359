"""`imdb-sentiment tune`: the tuning search, a resumable Optuna study per model, every trial a
nested MLflow run; then reports/CORPUS/tuning.{json,md} from the studies.

    imdb-sentiment tune lstm --trials 20       # run lstm's study (IMDB) up to 20 finished trials
    imdb-sentiment tune --corpus sst2 gru      # the same search on SST-2's validation split
    imdb-sentiment tune --report               # rewrite reports/imdb/tuning.{json,md}

The parts, one job each: the space (tuning_space), the study in its store (tuning_study), the
workers that share it (tuning_workers), its history, winner and summary (tuning_history), the
params.yaml writer (tuning_params) and the report's renderer (tuning_report).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.files import atomic_path, project_root, read_json, write_json
from imdb_sentiment.params import Params
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.tuning.history import tuning_summary
from imdb_sentiment.tuning.params import write_winner
from imdb_sentiment.tuning.study import HEARTBEAT_SECONDS, default_storage, study_name
from imdb_sentiment.tuning.workers import tune

log = logging.getLogger(__name__)


def report_files(corpus: str) -> tuple[Path, Path]:
    """A corpus's tuning report and the numbers it is rendered from: reports/CORPUS/tuning.*"""
    return Path("reports") / corpus / "tuning.md", Path("reports") / corpus / "tuning.json"


def run_command(
    names: Sequence[str],
    trials: int,
    storage_url: str | None,
    write_params: bool,
    report_only: bool,
    heartbeat: int | None = None,
    corpus: str | None = None,
) -> int:
    """`imdb-sentiment tune`: search each named model on a corpus (the first one unless
    named), then rewrite that corpus's report."""
    from imdb_sentiment.params import load_params

    params_path = project_root() / "params.yaml"
    params = load_params(params_path, corpus)
    prepared_dir = project_root() / CorpusPaths(params.corpus).prepared
    storage_url = storage_url or default_storage()
    if not report_only:
        for name in names or list(params.models):
            study = tune(
                name, params, prepared_dir, trials, storage_url, heartbeat or HEARTBEAT_SECONDS
            )
            if write_params and any(t.state == TrialState.COMPLETE for t in study.trials):
                n_val = validation_size(prepared_dir)
                entry = write_winner(name, study, params_path, n_val, params.corpus)
                log.info("params.yaml: %s's %s <- %s", params.corpus, name, entry)
            params = load_params(params_path, params.corpus)
    n_val = validation_size(prepared_dir)
    summary = tuning_summary(current_studies(params, prepared_dir, storage_url), params, n_val)
    report = write_report(summary, project_root())
    log.info("wrote %s and its numbers", report)
    return 0


def current_studies(
    params: Params, prepared_dir: Path, storage_url: str
) -> dict[str, optuna.Study]:
    """The study of each params.yaml model on the current data and budget, where one exists."""
    prepare_config = read_json(PreparedPaths(prepared_dir).config)
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage_url)}
    studies = {}
    for name in params.models:
        study = study_name(name, params, prepare_config)
        if study in existing:
            studies[name] = optuna.load_study(study_name=study, storage=storage_url)
    return studies


def validation_size(prepared_dir: Path) -> int:
    """How many reviews the validation split of the prepared data has."""
    import numpy as np

    with np.load(PreparedPaths(prepared_dir).sequences) as data:
        return len(data["y_val"])


def write_report(summary: dict[str, Any], root: Path) -> Path:
    """``summary`` to ROOT/reports/CORPUS/tuning.json, then tuning.md rendered from that file
    alone."""
    from imdb_sentiment.tuning.report import render

    report, data = report_files(summary["corpus"])
    write_json(root / data, summary)
    with atomic_path(root / report) as tmp:
        tmp.write_text(render(read_json(root / data)))
    return root / report
