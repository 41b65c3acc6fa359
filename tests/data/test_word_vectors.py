"""The word_vectors stage on the tiny archive: what word2vec reads, deterministic vectors, and
files that are plain arrays and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gensim.models
import numpy as np
import pandas as pd
import pytest
from conftest import corpus_params

from imdb_sentiment.data.prepare import PreparedPaths, prepare_dataset
from imdb_sentiment.data.text import tokenize
from imdb_sentiment.data.word_vectors import (
    VECTORS_FILE,
    VOCABULARY_FILE,
    WordVectors,
    WordVectorsMissing,
    write_word_vectors,
)

SMALL = {"dim": 16, "min_count": 2, "epochs": 2}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_archive):
    params = corpus_params(vocab_size=2000, max_len=60)
    folder = tmp_path_factory.mktemp("prepared")
    prepare_dataset(tiny_archive, folder, params)
    return folder, params.word_vectors.model_copy(update=SMALL), params.seed


def test_word2vec_reads_the_training_split_and_the_unlabeled_texts_and_nothing_else(
    prepared, tmp_path, monkeypatch
):
    folder, params, seed = prepared
    given: list[list[str]] = []

    class Recording(gensim.models.Word2Vec):
        def __init__(self, sentences=None, **kwargs):
            given.extend(list(sentences))
            super().__init__(sentences=sentences, **kwargs)

    monkeypatch.setattr(gensim.models, "Word2Vec", Recording)
    write_word_vectors(folder, tmp_path / "vectors", params, seed)

    paths = PreparedPaths(folder)
    reviews = pd.read_parquet(paths.reviews)
    unlabeled = pd.read_parquet(paths.unlabeled)
    split = {
        name: [tokenize(t) for t in reviews.text[reviews.split == name]]
        for name in reviews.split.unique()
    }
    assert len(split["val"]) and len(split["test"]) and len(unlabeled)  # the check means something
    assert given == split["train"] + [tokenize(text) for text in unlabeled.text]
    held_out = {tuple(tokens) for tokens in split["val"] + split["test"]}
    assert not held_out & {tuple(tokens) for tokens in given}


def test_the_same_seed_gives_the_same_vectors_in_any_process(prepared, tmp_path):
    folder, params, seed = prepared
    for run in ("first", "second"):
        write_word_vectors(folder, tmp_path / run, params, seed)
    # A fresh interpreter with another string-hash seed: gensim 4 seeds its vectors from
    # `seed` alone, and one worker thread keeps the updates in one order.
    code = (
        "import sys; from pathlib import Path; from imdb_sentiment.params import "
        "WordVectorsParams; from imdb_sentiment.data.word_vectors import write_word_vectors; "
        "write_word_vectors(Path(sys.argv[1]), Path(sys.argv[2]), "
        "WordVectorsParams.model_validate_json(sys.argv[3]), int(sys.argv[4]))"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(folder),
            str(tmp_path / "third"),
            params.model_dump_json(),
            str(seed),
        ],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        timeout=300,
    )
    first = WordVectors.load(tmp_path / "first", params.dim)
    for run in ("second", "third"):
        other = WordVectors.load(tmp_path / run, params.dim)
        assert other.words == first.words
        np.testing.assert_array_equal(other.vectors, first.vectors)
    write_word_vectors(folder, tmp_path / "reseeded", params, seed + 1)
    assert not np.array_equal(
        WordVectors.load(tmp_path / "reseeded", params.dim).vectors, first.vectors
    )


def test_the_vectors_are_plain_arrays_with_a_json_vocabulary(prepared, tmp_path):
    folder, params, seed = prepared
    stats = write_word_vectors(folder, tmp_path / "vectors", params, seed)
    # Nothing else in the folder: what varies by run (its seconds) would retrain every model.
    assert sorted(p.name for p in (tmp_path / "vectors").iterdir()) == sorted(
        [VECTORS_FILE, VOCABULARY_FILE]
    )
    vectors = np.load(tmp_path / "vectors" / VECTORS_FILE, allow_pickle=False)
    words = json.loads((tmp_path / "vectors" / VOCABULARY_FILE).read_text())
    assert vectors.dtype == np.float32 and vectors.shape == (len(words), params.dim)
    assert len(set(words)) == len(words) and "the" in words
    assert stats["words_kept"] == len(words) and stats["dim"] == params.dim
    assert stats["tokens"] > stats["words_kept"] > 0 and stats["seconds"] >= 0


def test_missing_vectors_or_another_width_are_named_with_the_command_that_makes_them(
    prepared, tmp_path
):
    folder, params, seed = prepared
    with pytest.raises(WordVectorsMissing, match="run `dvc repro word_vectors` first"):
        WordVectors.load(tmp_path / "nowhere", params.dim)
    write_word_vectors(folder, tmp_path / "vectors", params, seed)
    with pytest.raises(WordVectorsMissing, match=f"{params.dim}-dimensional vectors, not 128"):
        WordVectors.load(tmp_path / "vectors", 128)
