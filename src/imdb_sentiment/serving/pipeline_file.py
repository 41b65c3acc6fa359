"""A scikit-learn Pipeline on disk without a pickle: a skops file (arrays and a schema) whose
types are checked before it is read, and beside it each vectorizer's vocabulary as a JSON list
of its terms in column order.

Why the vocabulary apart: skops writes a dict as one schema node per entry, so the NB trigram
bag's 839k-term vocabulary was 692 of its file's 702 MB, dumping it peaked the baseline stage
at 4.5 GB and loading it cost every consumer seconds and gigabytes. As a list of strings in
JSON it is a few megabytes and loads in well under a second; the skops file keeps the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdb_sentiment.errors import UserError
from imdb_sentiment.files import atomic_path

# The types a Pipeline file may hold beyond those skops trusts by default (scikit-learn's
# estimators, numpy's arrays and dtypes, scipy's sparse matrices) and this project's own
# (``imdb_sentiment.*``, e.g. the tokenizer ``imdb_sentiment.data.text.tokenize``). Every other type
# is refused: a skops file can name any importable callable. Add one here only for a reason.
TRUSTED_TYPES: tuple[str, ...] = ()
PROJECT_PACKAGE = "imdb_sentiment"
VOCABULARY_SUFFIX = ".vocabulary.json"  # pipeline.skops -> pipeline.vocabulary.json


class UntrustedModelError(UserError, ValueError):
    """A model file holds a type this project does not load."""


class PipelineFileError(UserError, ValueError):
    """A Pipeline file's vocabulary is missing or does not fit it."""


def vocabulary_path(path: Path) -> Path:
    return Path(path).with_suffix(VOCABULARY_SUFFIX)


def save_pipeline(pipeline: Any, path: Path) -> None:
    """Write a scikit-learn object as a skops file, its vectorizers' vocabularies beside it."""
    import skops.io

    fitted = {key: v for key, v in vectorizers(pipeline) if hasattr(v, "vocabulary_")}
    vocabularies = {key: terms_in_order(v.vocabulary_) for key, v in fitted.items()}
    detached = {key: v.__dict__.pop("vocabulary_") for key, v in fitted.items()}
    try:
        skops.io.dump(pipeline, path)
    finally:  # the caller's pipeline is left whole
        for key, vectorizer in fitted.items():
            vectorizer.vocabulary_ = detached[key]
    with atomic_path(vocabulary_path(path)) as tmp:
        tmp.write_text(json.dumps(vocabularies, ensure_ascii=False))


def trusted_type(name: str) -> bool:
    """Whether a skops file may hold ``name`` (a dotted type or function name)."""
    return name.startswith(f"{PROJECT_PACKAGE}.") or name in TRUSTED_TYPES


def load_pipeline(path: Path) -> Any:
    """The scikit-learn object in skops file ``path`` with its vocabularies, or
    UntrustedModelError naming every type in it that is neither skops' default, the project's
    own nor in ``TRUSTED_TYPES``."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    refused = [name for name in untrusted if not trusted_type(name)]
    if refused:
        raise UntrustedModelError(
            f"{path}: refusing to load untrusted types {', '.join(refused)} (trusted: "
            f"skops' defaults, {PROJECT_PACKAGE}.* and pipeline_file.TRUSTED_TYPES)"
        )
    pipeline = skops.io.load(path, trusted=untrusted)
    vocab_file = vocabulary_path(path)
    vocabularies = json.loads(vocab_file.read_text()) if vocab_file.exists() else {}
    for key, vectorizer in vectorizers(pipeline):
        if key in vocabularies:
            vectorizer.vocabulary_ = {term: i for i, term in enumerate(vocabularies[key])}
        elif hasattr(vectorizer, "fixed_vocabulary_") and not hasattr(vectorizer, "vocabulary_"):
            raise PipelineFileError(
                f"{path}: the fitted vectorizer {key or 'itself'} has no vocabulary in "
                f"{vocab_file.name}; write the two files together with save_pipeline"
            )
    return pipeline


def vectorizers(estimator: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every CountVectorizer (TfidfVectorizer included) in ``estimator``, keyed by its path of
    Pipeline step names (``features/counts``)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        for name, step in estimator.steps:
            yield from vectorizers(step, f"{prefix}{name}/")
    elif isinstance(estimator, CountVectorizer):
        yield prefix.rstrip("/"), estimator


def terms_in_order(vocabulary: dict[str, int]) -> list[str]:
    """A vocabulary's terms listed by their column: the list's index is the term's column."""
    terms: list[str | None] = [None] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    if any(term is None for term in terms):
        raise PipelineFileError("a vocabulary's columns are not 0..n-1; it cannot be listed")
    return terms  # type: ignore[return-value]
