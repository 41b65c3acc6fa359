"""The one text path: review -> tokens -> ids. Training, evaluation and serving all call this.

Kept free of TensorFlow so the served models and the TF-IDF baseline import it cheaply.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PAD_ID = 0
OOV_ID = 1
PAD_TOKEN = "<pad>"
OOV_TOKEN = "<oov>"

# IMDB reviews carry `<br />` line breaks (and a few other tags); they are markup, not words.
_TAG = re.compile(r"<[^>]*>")
# Letters/digits in any script, keeping in-word apostrophes ("don't", "director's") whole.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def standardize(text: str) -> str:
    """Lower-case a review and turn HTML tags into spaces."""
    return _TAG.sub(" ", text.lower().replace("\u2019", "'"))


def tokenize(text: str) -> list[str]:
    """Split a review into word tokens; punctuation, emoji and markup are dropped."""
    return _TOKEN.findall(standardize(text))


class Vocabulary:
    """Token <-> id table built from the training split: id 0 pads, id 1 is out-of-vocabulary."""

    def __init__(self, tokens: Sequence[str]):
        if list(tokens[:2]) != [PAD_TOKEN, OOV_TOKEN]:
            raise ValueError(f"a vocabulary starts with {PAD_TOKEN!r}, {OOV_TOKEN!r}")
        self.tokens = list(tokens)
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, tokenized: Iterable[Sequence[str]], size: int) -> Vocabulary:
        """The ``size - 2`` most frequent tokens; ties broken alphabetically so builds repeat."""
        counts: Counter[str] = Counter()
        for tokens in tokenized:
            counts.update(tokens)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return cls([PAD_TOKEN, OOV_TOKEN] + [token for token, _ in ranked[: size - 2]])

    def ids(self, tokens: Sequence[str]) -> list[int]:
        get = self._ids.get
        return [get(token, OOV_ID) for token in tokens]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.tokens, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls(json.loads(Path(path).read_text()))


def encode_tokens(
    tokenized: Sequence[Sequence[str]], vocab: Vocabulary, max_len: int, truncating: str
) -> np.ndarray:
    """Token lists -> int32 ids, shape (n, max_len).

    Padding is always at the end (right): with masking, that is the layout cuDNN's fused
    kernels accept on a GPU, and on a CPU the mask makes padding cost nothing in accuracy.
    ``truncating`` decides which end of a long review is dropped.
    """
    return _encode(tokenized, len(tokenized), vocab, max_len, truncating)


def _encode(
    tokenized: Iterable[Sequence[str]], n: int, vocab: Vocabulary, max_len: int, truncating: str
) -> np.ndarray:
    encoded = np.zeros((n, max_len), dtype=np.int32)
    for row, tokens in enumerate(tokenized):
        kept = tokens[-max_len:] if truncating == "pre" else tokens[:max_len]
        if kept:
            encoded[row, : len(kept)] = vocab.ids(kept)
    return encoded


def limit_vocabulary(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Ids of a vocabulary cut to its ``vocab_size`` most frequent entries: rarer ids become
    out-of-vocabulary. Exact because a Vocabulary is ranked by frequency, so a smaller one
    built from the same reviews is a prefix of a larger one."""
    return np.where(ids >= vocab_size, OOV_ID, ids).astype(ids.dtype)


def token_lengths(ids: np.ndarray) -> np.ndarray:
    """Real (non-padding) tokens per row of a right-padded id matrix."""
    return (ids != PAD_ID).sum(axis=1)


def encode_texts(
    texts: Sequence[str], vocab: Vocabulary, max_len: int, truncating: str
) -> np.ndarray:
    """Raw reviews -> padded id matrix; the exact path the served models apply. Each review
    is tokenized as its row is filled, so only the id matrix is held, not every token list
    (a third of a gigabyte of strings for the 25,000 test reviews)."""
    return _encode((tokenize(text) for text in texts), len(texts), vocab, max_len, truncating)
