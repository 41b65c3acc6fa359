"""The probes stage: every text set a model is scored on, built once for all score stages
(data/probes/): validation, test, the test reviews with their words shuffled (whole and
within windows of k), the minimal pairs and the behavioural suites, with their labels and
groups, and the masks of the natural test subsets.

Building them tokenizes and shuffles the test set (tens of seconds on the full data); each
score stage then only reads them, and every model sees exactly the same texts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdb_sentiment.evaluation.model_evaluation import EvaluationData, load_evaluation_data
from imdb_sentiment.evaluation.suites import SUITES_FILE, Suite
from imdb_sentiment.files import atomic_path, read_json, write_json

log = logging.getLogger(__name__)

TEXTS_FILE = "texts.parquet"  # one row per text: set, text, label, group, pair_id
MASKS_FILE = "masks.npz"  # window_index and the natural subsets (subset_NAME)
SUITES_INFO_FILE = "suites.json"  # each suite's description


def build_probes(
    prepared_dir: Path,
    contrast_path: Path,
    seed: int,
    window_reviews: int | None,
    out_dir: Path,
    suites_path: Path = SUITES_FILE,
) -> EvaluationData:
    """Build every text set from the prepared data and write them to ``out_dir`` at once."""
    data = load_evaluation_data(prepared_dir, contrast_path, seed, suites_path, window_reviews)
    with atomic_path(out_dir, directory=True) as tmp:
        write_probes(data, tmp)
    log.info(
        "probes: %d val, %d test (+ shuffled), windows on %d, %d contrast, %d suite reviews",
        len(data.val),
        len(data.test),
        len(data.window_index),
        len(data.contrast),
        sum(len(s.cases) for s in data.suites.values()),
    )
    return data


def write_probes(data: EvaluationData, folder: Path) -> None:
    labels = data.test.label.to_numpy()
    frames = [
        _rows("val", data.val.text, data.val.label),
        _rows("test", data.test.text, labels),
        _rows("shuffled", data.shuffled_test_texts, labels),
        _rows("contrast", data.contrast.text, data.contrast.label, pairs=data.contrast.pair_id),
        *[
            _rows(f"window_{k}", texts, labels[data.window_index])
            for k, texts in data.window_texts.items()
        ],
        *[
            _rows(f"suite_{name}", s.cases.text, s.cases.label, s.cases.group)
            for name, s in data.suites.items()
        ],
    ]
    pd.concat(frames, ignore_index=True).to_parquet(folder / TEXTS_FILE, index=False)
    np.savez_compressed(
        folder / MASKS_FILE,
        window_index=data.window_index,
        **{f"subset_{name}": mask for name, mask in data.subsets.items()},
    )
    write_json(folder / SUITES_INFO_FILE, {n: s.description for n, s in data.suites.items()})


def load_probes(folder: Path) -> EvaluationData:
    """The text sets the probes stage wrote, as the evaluation reads them."""
    if not (folder / TEXTS_FILE).exists():
        from imdb_sentiment.errors import UserError

        raise UserError(f"{folder / TEXTS_FILE} is missing; run `dvc repro probes` first")
    texts = pd.read_parquet(folder / TEXTS_FILE)
    sets = {name: rows.reset_index(drop=True) for name, rows in texts.groupby("set", sort=False)}
    with np.load(folder / MASKS_FILE) as masks:
        window_index = masks["window_index"]
        subsets = {k.removeprefix("subset_"): masks[k] for k in masks.files if k != "window_index"}
    descriptions = read_json(folder / SUITES_INFO_FILE)
    return EvaluationData(
        val=sets["val"][["text", "label"]],
        test=sets["test"][["text", "label"]],
        shuffled_test_texts=sets["shuffled"].text.tolist(),
        contrast=sets["contrast"][["pair_id", "text", "label"]],
        window_texts={
            int(name.removeprefix("window_")): rows.text.tolist()
            for name, rows in sets.items()
            if name.startswith("window_")
        },
        suites={
            name: Suite(
                name,
                description,
                sets[f"suite_{name}"][["group", "text", "label"]],
            )
            for name, description in descriptions.items()
        },
        subsets=subsets,
        window_index=window_index,
    )


def _rows(
    name: str,
    texts: Any,
    labels: Any,
    groups: Any = None,
    pairs: Any = None,
) -> pd.DataFrame:
    """One text set as rows of the one table: a suite's groups (ints) and the minimal pairs'
    ids (strings) keep their types, so groups sort and resample as they did when built."""
    n = len(texts)
    return pd.DataFrame(
        {
            "set": name,
            "text": list(texts),
            "label": np.asarray(labels, dtype=np.int64),
            "group": np.full(n, -1, np.int64) if groups is None else np.asarray(groups, np.int64),
            "pair_id": [""] * n if pairs is None else [str(p) for p in pairs],
        }
    )
