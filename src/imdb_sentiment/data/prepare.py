"""Read a corpus (IMDB's archive or the treebank's trees) into labeled texts with their
splits, and write the prepared dataset every model of that corpus reads."""

from __future__ import annotations

import logging
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_sentiment.data.text import Vocabulary, encode_tokens, tokenize
from imdb_sentiment.data.treebank import read_treebank, treebank_stats
from imdb_sentiment.errors import UserError
from imdb_sentiment.files import atomic_path, write_json
from imdb_sentiment.params import ImdbRead, Params, TreebankRead, as_dict

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
LABELS = ("negative", "positive")
# aclImdb/{train,test}/{pos,neg}/ID_RATING.txt, and the unlabeled aclImdb/train/unsup/ID_0.txt
# (the .feat files are not used).
_REVIEW_MEMBER = re.compile(r"^aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
# Line i of urls_{pos,neg,unsup}.txt is the IMDB page of the movie that review i is about.
_URLS_MEMBER = re.compile(r"^aclImdb/(train|test)/urls_(pos|neg|unsup)\.txt$")
UNLABELED = "unsup"  # upstream's folder of unlabeled reviews (train/unsup)
_MOVIE_ID = re.compile(r"/title/(tt\d+)/")
LENGTH_PERCENTILES = (50, 90, 95, 99)
HISTOGRAM_BINS = 20  # about this many bins up to the train split's p99 length


class ArchiveError(UserError, RuntimeError):
    """The archive is unsafe, corrupt or not in the upstream aclImdb layout."""


@dataclass(frozen=True)
class PreparedPaths:
    """Where the prepare stage writes, and where later stages read."""

    root: Path

    @property
    def reviews(self) -> Path:
        return self.root / "reviews.parquet"

    @property
    def unlabeled(self) -> Path:
        """The unlabeled reviews' text (id, text, movie, n_tokens): never a label, never in the
        vocabulary or a split; for pretraining only."""
        return self.root / "unlabeled.parquet"

    @property
    def sequences(self) -> Path:
        return self.root / "sequences.npz"

    @property
    def vocab(self) -> Path:
        return self.root / "vocab.json"

    @property
    def config(self) -> Path:
        return self.root / "prepare.json"


def read_reviews(archive: Path, scratch: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labeled, unlabeled) reviews in one pass over the archive. Labeled: id, split
    (train/test), text, label, rating, movie. Unlabeled (``train/unsup``, empty where the
    archive has none): id, text, movie.

    ``movie`` is the IMDB title id from the archive's urls_*.txt files (None where absent).

    Members are read in-stream rather than unpacked to 50,000 files; each one still passes
    tarfile's ``data`` extraction filter against ``scratch``, so an archive with a member that
    would escape its folder (``../``, absolute paths, links out) is refused outright.
    """
    if not archive.is_file():  # not "corrupt": a missing file needs fetching, not deleting
        raise ArchiveError(
            f"{archive}: archive not found; run `dvc repro download` to fetch it from "
            "params.yaml's data.sources"
        )
    rows = []
    unlabeled = []
    movies: dict[tuple[str, str], list[str | None]] = {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                try:
                    if member.name.startswith(("/", "\\")):  # the filter would only strip it
                        raise tarfile.AbsolutePathError(member)
                    tarfile.data_filter(member, str(scratch))
                except tarfile.FilterError as exc:
                    raise ArchiveError(
                        f"{archive}: unsafe member {member.name!r} ({exc}); refusing the archive"
                    ) from None
                urls = _URLS_MEMBER.match(member.name)
                if urls and member.isfile():
                    lines = tar.extractfile(member).read().decode("utf-8").splitlines()
                    movies[urls.groups()] = [_movie_id(line) for line in lines]
                    continue
                match = _REVIEW_MEMBER.match(member.name)
                if not match or not member.isfile():
                    continue
                split, polarity, review_id, rating = match.groups()
                handle = tar.extractfile(member)
                if polarity == UNLABELED:  # upstream has them under train/ only
                    if split == "train":
                        text = handle.read().decode("utf-8")
                        unlabeled.append((f"train/unsup/{review_id}", text, int(review_id)))
                    continue
                rows.append(
                    (
                        f"{split}/{polarity}/{review_id}",
                        split,
                        handle.read().decode("utf-8"),
                        int(polarity == "pos"),
                        int(rating),
                    )
                )
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise ArchiveError(
            f"{archive}: cannot read the archive ({type(exc).__name__}: {exc}); it is corrupt "
            "or truncated: delete it and run `dvc repro -f download`"
        ) from None
    reviews = pd.DataFrame(rows, columns=["id", "split", "text", "label", "rating"])
    reviews["movie"] = [
        _lookup(movies.get((split, polarity)), int(review_id))
        for split, polarity, review_id in reviews.id.str.split("/")
    ]
    for split in ("train", "test"):
        for label in (0, 1):
            if not ((reviews.split == split) & (reviews.label == label)).any():
                raise ArchiveError(
                    f"{archive}: no {split}/{'pos' if label else 'neg'} reviews; "
                    "expected the aclImdb layout aclImdb/{train,test}/{pos,neg}/ID_RATING.txt"
                )
    unsup = pd.DataFrame(unlabeled, columns=["id", "text", "number"])
    unsup["movie"] = [_lookup(movies.get(("train", UNLABELED)), n) for n in unsup.number]
    # Sorted so the split and the vocabulary never depend on the archive's member order.
    return (
        reviews.sort_values(["split", "label", "id"], ignore_index=True),
        unsup.sort_values("number", ignore_index=True).drop(columns="number"),
    )


def split_validation(reviews: pd.DataFrame, val_fraction: float, seed: int) -> pd.DataFrame:
    """Relabel a seeded, label-stratified ``val_fraction`` of *train* as ``val``.

    Grouped by movie where the archive says which movie a review is about: IMDB's train and
    test sets share no movie, so a validation set that shares movies with training would
    reward memorizing names and titles, and overstate every model. Grouping makes the share
    approximate (1 of round(1 / val_fraction) folds).
    """
    # Here, not at the top: every stage that reads PreparedPaths would pay for scikit-learn.
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    train = reviews[reviews.split == "train"]
    if train.movie.notna().all():
        folds = StratifiedGroupKFold(
            n_splits=max(2, round(1 / val_fraction)), shuffle=True, random_state=seed
        )
        _, val_rows = next(folds.split(train, train.label, groups=train.movie))
        val_index = train.index[val_rows]
    else:
        log.warning(
            "the archive has no movie ids (aclImdb/train/urls_*.txt) for some reviews; the "
            "validation split is not grouped by movie and will flatter every model"
        )
        _, val_index = train_test_split(
            train.index, test_size=val_fraction, random_state=seed, stratify=train.label
        )
    reviews = reviews.copy()
    reviews.loc[val_index, "split"] = "val"
    return reviews


def _movie_id(url: str) -> str | None:
    match = _MOVIE_ID.search(url)
    return match.group(1) if match else None


def _lookup(values: list[str | None] | None, index: int) -> str | None:
    return values[index] if values is not None and index < len(values) else None


def read_corpus(
    archive: Path, read: ImdbRead | TreebankRead, seed: int, scratch: Path
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(labeled texts with their split, unlabeled texts, what the stats add for this format).

    IMDB holds validation out of its train split; the treebank has its own dev split. Only
    IMDB's archive has unlabeled reviews."""
    if isinstance(read, TreebankRead):
        texts, counts = read_treebank(archive, read.train_on)
        unlabeled = pd.DataFrame({"id": [], "text": [], "movie": []}, dtype=object)
        return texts, unlabeled, treebank_stats(texts, counts)
    labeled, unlabeled = read_reviews(archive, scratch=scratch)
    if unlabeled.empty:
        log.warning(
            "%s has no unlabeled reviews (aclImdb/train/unsup): use the full archive "
            "(params.yaml corpora.*.sources) to pretrain on them",
            archive,
        )
    return split_validation(labeled, read.val_fraction, seed), unlabeled, {}


def prepare_dataset(archive: Path, out_dir: Path, params: Params) -> tuple[dict, pd.DataFrame]:
    """A corpus's archive -> ``out_dir`` (labeled texts, unlabeled texts, vocabulary, padded
    ids); returns stats and histogram. The vocabulary comes from the training split alone."""
    shape = params.prepare
    with atomic_path(out_dir, directory=True) as tmp:
        reviews, unlabeled, details = read_corpus(archive, params.read, params.seed, tmp)
        log.info("read %d labeled, %d unlabeled texts; tokenizing", len(reviews), len(unlabeled))
        tokenized = [tokenize(text) for text in reviews.text]
        is_train = (reviews.split == "train").to_numpy()
        vocab = Vocabulary.build(
            (tokens for tokens, keep in zip(tokenized, is_train, strict=True) if keep),
            shape.vocab_size,
        )
        ids = encode_tokens(tokenized, vocab, shape.max_len, shape.truncating)
        lengths = np.array([len(tokens) for tokens in tokenized], dtype=np.int32)
        reviews["n_tokens"] = lengths

        paths = PreparedPaths(tmp)
        reviews.to_parquet(paths.reviews, index=False)
        unlabeled["n_tokens"] = np.array([len(tokenize(t)) for t in unlabeled.text], np.int32)
        unlabeled.to_parquet(paths.unlabeled, index=False)
        vocab.save(paths.vocab)
        arrays = {}
        for split in SPLITS:
            mask = (reviews.split == split).to_numpy()
            arrays[f"x_{split}"] = ids[mask]
            arrays[f"y_{split}"] = reviews.label.to_numpy()[mask].astype(np.int32)
        np.savez_compressed(paths.sequences, **arrays)
        # Later stages read how the data was shaped from here, not from params.yaml, so what
        # they log describes the data they actually trained on.
        config = {
            "corpus": params.corpus,
            "seed": params.seed,
            "read": as_dict(params.read),
            "prepare": as_dict(shape),
            "vocab": len(vocab),
        }
        write_json(paths.config, config)
        stats = dataset_stats(reviews, shape.max_len, unlabeled) | details
    log.info("prepared %s", {s: stats["counts"][s]["total"] for s in stats["counts"]})
    return stats, length_histogram(reviews)


def prepared_params(config: dict) -> dict[str, object]:
    """How a model's data was read and shaped (the prepared folder's prepare.json), as the
    flat params its MLflow run logs."""
    flat: dict[str, object] = {"corpus": config["corpus"]}
    flat |= {f"read.{key}": value for key, value in config["read"].items()}
    flat |= {f"prepare.{key}": value for key, value in config["prepare"].items()}
    return flat | {"prepare.vocab_size_actual": config["vocab"]}


def dataset_stats(
    reviews: pd.DataFrame, max_len: int, unlabeled: pd.DataFrame | None = None
) -> dict:
    """Counts per split and label, token-length percentiles, and how many reviews get cut;
    the unlabeled reviews are counted too (``unlabeled``), with their lengths."""
    stats: dict = {"counts": {}, "length_percentiles": {}, "truncated_fraction": {}}
    for split in SPLITS:
        part = reviews[reviews.split == split]
        counts = {LABELS[label]: int((part.label == label).sum()) for label in (0, 1)}
        stats["counts"][split] = {**counts, "total": len(part)}
        stats["length_percentiles"][split] = _percentiles(part.n_tokens)
        stats["truncated_fraction"][split] = round(float((part.n_tokens > max_len).mean()), 4)
    if unlabeled is not None:
        stats["counts"]["unlabeled"] = {"total": len(unlabeled)}
        if len(unlabeled):
            stats["length_percentiles"]["unlabeled"] = _percentiles(unlabeled.n_tokens)
    return stats


def _percentiles(lengths: pd.Series) -> dict[str, int]:
    quantiles = {f"p{q}": int(np.percentile(lengths, q)) for q in LENGTH_PERCENTILES}
    return quantiles | {"max": int(lengths.max())}


def length_histogram(reviews: pd.DataFrame) -> pd.DataFrame:
    """Texts per token-length bin and split, one row each (length, split, texts): DVC's
    ``lines_by_split`` template draws a line per split. The bin width is a round number (1, 2,
    5, 10, 20, 50, ...) that gives about 20 bins up to the train split's p99, so reviews of 230
    words and sentences of 19 both get a readable curve."""
    p99 = float(np.percentile(reviews.n_tokens[reviews.split == "train"], 99))
    width = next(w for w in _round_widths() if w * HISTOGRAM_BINS >= p99)
    bins = (reviews.n_tokens // width) * width
    table = pd.crosstab(bins.rename("length"), reviews.split).reindex(columns=list(SPLITS))
    wide = table.fillna(0).astype(int).reset_index()
    return wide.melt(id_vars="length", var_name="split", value_name="texts")


def _round_widths() -> Iterator[int]:
    scale = 1
    while True:
        yield from (scale, 2 * scale, 5 * scale)
        scale *= 10
