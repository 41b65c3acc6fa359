"""Word vectors learned from text that carries no test signal: word2vec (gensim, CBOW) on one
corpus's prepared training split and its unlabeled texts, saved as plain arrays and a JSON
vocabulary (gensim's own files are pickles), and the rows they give a model's embedding."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.data.text import tokenize
from imdb_sentiment.errors import UserError
from imdb_sentiment.files import atomic_path, read_json
from imdb_sentiment.params import WordVectorsParams

log = logging.getLogger(__name__)

VECTORS_FILE = "vectors.npy"  # float32, one row per word
VOCABULARY_FILE = "vocabulary.json"  # the words, in row order


class WordVectorsMissing(UserError, FileNotFoundError):
    """A model starts from the word vectors, and the word_vectors stage has not written them
    (or wrote them at another width)."""


@dataclass(frozen=True)
class WordVectors:
    """Words and their vectors, row i of ``vectors`` for ``words[i]``."""

    words: list[str]
    vectors: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def save(self, folder: Path) -> None:
        with atomic_path(folder / VECTORS_FILE) as tmp, tmp.open("wb") as handle:
            np.save(handle, self.vectors.astype(np.float32), allow_pickle=False)
        with atomic_path(folder / VOCABULARY_FILE) as tmp:
            tmp.write_text(json.dumps(self.words, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path, dim: int) -> WordVectors:
        """The ``dim``-wide vectors in ``folder``; a missing folder, or vectors of another
        width, is named with the command that makes them anew."""
        if not (folder / VECTORS_FILE).exists():
            raise WordVectorsMissing(
                f"{folder / VECTORS_FILE} is missing: a model with embedding_init word_vectors "
                "starts from it; run `dvc repro word_vectors` first"
            )
        vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
        words = read_json(folder / VOCABULARY_FILE)
        if vectors.ndim != 2 or len(words) != len(vectors):
            raise ValueError(f"{folder}: {len(words)} words for vectors of shape {vectors.shape}")
        if vectors.shape[1] != dim:
            raise WordVectorsMissing(
                f"{folder / VECTORS_FILE} holds {vectors.shape[1]}-dimensional vectors, not "
                f"{dim} (word_vectors.dim); run `dvc repro word_vectors`"
            )
        return cls(words, vectors)

    def start(self, tokens: Sequence[str]) -> EmbeddingStart:
        """The embedding rows of a model whose vocabulary is ``tokens`` (row i: ``tokens[i]``)
        that these vectors know, and their vectors. The others (padding, out-of-vocabulary,
        words too rare here) keep their random start."""
        index = {word: row for row, word in enumerate(self.words)}
        rows = [i for i, token in enumerate(tokens) if token in index]
        found = [index[tokens[i]] for i in rows]
        return EmbeddingStart(np.array(rows, dtype=np.int64), self.vectors[found], len(tokens))


@dataclass(frozen=True)
class EmbeddingStart:
    """Rows of an embedding matrix and the vectors they start from (the rest start random)."""

    rows: np.ndarray  # int64, ascending
    vectors: np.ndarray  # float32, one per row
    size: int  # rows in the whole embedding: the model's vocabulary, padding and <oov> included


def training_texts(prepared: PreparedPaths) -> list[str]:
    """What word2vec reads: the prepared training split's texts, then the unlabeled ones.

    Never a validation or test text. IMDB's validation split is held out of its official
    train split at prepare, so the prepared ``train`` split is read, not the archive's.
    """
    reviews = pd.read_parquet(prepared.reviews, columns=["split", "text"])
    unlabeled = pd.read_parquet(prepared.unlabeled, columns=["text"])
    return [*reviews.text[reviews.split == "train"], *unlabeled.text]


def sentences(texts: Iterable[str]) -> list[list[str]]:
    """Each text's tokens through the one text path, as gensim reads sentences. Tokens are
    interned: 17M tokens of about 100k distinct words hold one string per word, not per token."""
    return [[sys.intern(token) for token in tokenize(text)] for text in texts]


def train_word_vectors(
    corpus: list[list[str]], params: WordVectorsParams, seed: int
) -> tuple[WordVectors, dict[str, Any]]:
    """word2vec (CBOW, negative sampling) on ``corpus``; the vectors and what the run saw.

    One worker thread: gensim documents that only a single worker is deterministic (more
    threads interleave their updates as the OS schedules them). gensim 4 draws its initial
    vectors from a generator seeded by ``seed`` alone, so PYTHONHASHSEED plays no part.
    """
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochLog(CallbackAny2Vec):
        """A line per epoch: training takes minutes, and gensim itself logs at DEBUG."""

        def __init__(self) -> None:
            self.epoch = 0

        def on_epoch_end(self, model: Word2Vec) -> None:
            self.epoch += 1
            log.info(
                "word2vec epoch %d of %d done, %.0f s",
                self.epoch,
                params.epochs,
                time.perf_counter() - started,
            )

    started = time.perf_counter()
    model = Word2Vec(
        sentences=corpus,
        vector_size=params.dim,
        window=params.window,
        min_count=params.min_count,
        epochs=params.epochs,
        sample=params.sample,
        sg=0,
        seed=seed,
        workers=1,
        callbacks=[EpochLog()],
    )
    vectors = WordVectors(list(model.wv.index_to_key), np.asarray(model.wv.vectors, np.float32))
    stats = {
        "texts": len(corpus),
        "tokens": int(model.corpus_total_words),
        "words_kept": len(vectors.words),
        "dim": vectors.dim,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return vectors, stats


def write_word_vectors(
    prepared_dir: Path, out_dir: Path, params: WordVectorsParams, seed: int
) -> dict[str, Any]:
    """The word_vectors stage: ``prepared_dir``'s training split and unlabeled texts ->
    ``out_dir`` (vectors and vocabulary, both or neither); returns what the run saw and how
    long it took. The folder holds nothing that varies from run to run, so vectors made again
    alike leave the models that read them cached."""
    started = time.perf_counter()
    prepared = PreparedPaths(prepared_dir)
    texts = training_texts(prepared)
    log.info("tokenizing %d texts (training split and unlabeled)", len(texts))
    corpus = sentences(texts)
    del texts
    log.info("training word2vec: %d dimensions, %d epochs, one thread", params.dim, params.epochs)
    vectors, stats = train_word_vectors(corpus, params, seed)
    stats["stage_seconds"] = round(time.perf_counter() - started, 1)
    with atomic_path(out_dir, directory=True) as tmp:
        vectors.save(tmp)
    log.info(
        "word vectors: %d words kept of %d tokens, %.0f s",
        stats["words_kept"],
        stats["tokens"],
        stats["stage_seconds"],
    )
    return stats
