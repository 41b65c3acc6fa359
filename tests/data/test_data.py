import gzip
import tarfile

import numpy as np
import pandas as pd
import pytest
from conftest import REVIEWS_PER_FOLDER, add_file, corpus_params

from imdb_sentiment.data.prepare import (
    ArchiveError,
    PreparedPaths,
    prepare_dataset,
    read_reviews,
    split_validation,
)
from imdb_sentiment.data.text import Vocabulary, tokenize

PARAMS = corpus_params("imdb", {"val_fraction": 0.25}, vocab_size=500, max_len=50, truncating="pre")


def test_reads_every_labeled_review_with_its_rating(tiny_archive, tmp_path):
    reviews = read_reviews(tiny_archive, scratch=tmp_path)[0]
    assert len(reviews) == 4 * REVIEWS_PER_FOLDER
    assert reviews.groupby(["split", "label"]).size().eq(REVIEWS_PER_FOLDER).all()
    assert reviews[reviews.label == 1].rating.between(7, 10).all()
    assert reviews[reviews.label == 0].rating.between(1, 4).all()
    assert reviews.id.is_unique


@pytest.mark.parametrize(
    "evil_name", ["../escape.txt", "/etc/evil.txt", "aclImdb/../../escape.txt"]
)
def test_an_archive_member_escaping_the_target_folder_is_refused(tmp_path, evil_name):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "aclImdb/train/pos/1_9.txt", b"fine")
        add_file(tar, evil_name, b"gotcha")
    with pytest.raises(ArchiveError, match="unsafe member"):
        read_reviews(archive, scratch=tmp_path / "scratch")
    assert not (tmp_path / "escape.txt").exists()


def test_a_symlink_pointing_outside_is_refused(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("aclImdb/train/pos/2_9.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ArchiveError, match="unsafe member"):
        read_reviews(archive, scratch=tmp_path / "scratch")


def test_truncated_or_corrupt_archives_fail_clearly(tiny_archive, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(tiny_archive.read_bytes()[: tiny_archive.stat().st_size // 2])
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        read_reviews(truncated, scratch=tmp_path)
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(gzip.compress(b"this is not a tar file at all" * 100))
    with pytest.raises(ArchiveError):
        read_reviews(garbage, scratch=tmp_path)


def test_a_missing_archive_says_not_found_and_how_to_fetch_it(tmp_path):
    with pytest.raises(ArchiveError, match=r"archive not found; run `dvc repro download`"):
        read_reviews(tmp_path / "absent.tar.gz", scratch=tmp_path)


def test_an_archive_in_another_layout_says_what_layout_is_expected(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "reviews/good.txt", b"hello")
    with pytest.raises(ArchiveError, match=r"aclImdb/\{train,test\}/\{pos,neg\}/ID_RATING.txt"):
        read_reviews(archive, scratch=tmp_path)


def test_validation_split_is_seeded_stratified_and_taken_from_train_only(tiny_archive, tmp_path):
    reviews = read_reviews(tiny_archive, scratch=tmp_path)[0]
    first = split_validation(reviews, 0.25, seed=7)
    again = split_validation(reviews, 0.25, seed=7)
    pd.testing.assert_frame_equal(first, again)
    # The tiny archive has too few movies for seeds to matter; 40 movies do.
    many = pd.DataFrame(
        {
            "split": "train",
            "label": [i % 2 for i in range(200)],
            "movie": [i % 40 for i in range(200)],
        }
    )
    one, two = split_validation(many, 0.2, seed=1), split_validation(many, 0.2, seed=2)
    assert not one.split.equals(two.split)
    assert one[one.split == "val"].label.mean() == 0.5  # stratified by label
    val = first[first.split == "val"]
    assert 0.15 <= len(val) / (2 * REVIEWS_PER_FOLDER) <= 0.35  # about 1 of 4 folds
    assert set(val.label) == {0, 1}
    assert (first.split == "test").sum() == (reviews.split == "test").sum()
    # No movie is both trained on and validated on.
    assert not set(val.movie) & set(first[first.split == "train"].movie)


def test_reviews_know_their_movie_from_the_archive_urls(tiny_archive, tmp_path):
    reviews = read_reviews(tiny_archive, scratch=tmp_path)[0]
    assert reviews.movie.str.fullmatch(r"tt\d+").all()


def test_without_movie_ids_the_split_falls_back_to_plain_stratified(tmp_path, caplog):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for polarity, rating in (("pos", 9), ("neg", 2)):
            for i in range(10):
                add_file(tar, f"aclImdb/train/{polarity}/{i}_{rating}.txt", b"text")
            add_file(tar, f"aclImdb/test/{polarity}/0_{rating}.txt", b"text")
    reviews = split_validation(read_reviews(archive, scratch=tmp_path)[0], 0.2, seed=0)
    assert (reviews.split == "val").sum() == 4
    assert "not grouped by movie" in caplog.text


def test_prepare_writes_aligned_arrays_and_a_vocabulary_from_train_only(tiny_archive, tmp_path):
    out = tmp_path / "prepared"
    stats, histogram = prepare_dataset(tiny_archive, out, PARAMS)
    paths = PreparedPaths(out)
    reviews = pd.read_parquet(paths.reviews)
    arrays = np.load(paths.sequences)
    vocab = Vocabulary.load(paths.vocab)
    for split in ("train", "val", "test"):
        part = reviews[reviews.split == split]
        assert arrays[f"x_{split}"].shape == (len(part), PARAMS.prepare.max_len)
        assert arrays[f"y_{split}"].tolist() == part.label.tolist()
        assert stats["counts"][split]["total"] == len(part)
    train_words = {t for text in reviews[reviews.split == "train"].text for t in tokenize(text)}
    assert set(vocab.tokens[2:]) <= train_words
    assert histogram.texts.sum() == len(reviews)
    assert set(histogram.split) == {"train", "val", "test"}
    assert list(tmp_path.iterdir()) == [out]  # no temp folder left beside it

    # The unlabeled reviews: their text kept apart, counted, never a label or a vocabulary word.
    unlabeled = pd.read_parquet(paths.unlabeled)
    assert list(unlabeled.columns) == ["id", "text", "movie", "n_tokens"]
    assert len(unlabeled) == stats["counts"]["unlabeled"]["total"] == REVIEWS_PER_FOLDER
    assert unlabeled.id.str.startswith("train/unsup/").all() and unlabeled.movie.notna().all()
    assert not set(unlabeled.text) & set(reviews.text)
    assert (unlabeled.n_tokens == [len(tokenize(t)) for t in unlabeled.text]).all()
    assert stats["length_percentiles"]["unlabeled"]["max"] == unlabeled.n_tokens.max()


def test_prepare_leaves_no_output_when_the_archive_is_bad(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b" + bytes(100))
    with pytest.raises(ArchiveError):
        prepare_dataset(bad, tmp_path / "prepared", PARAMS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz"]


def test_member_reading_does_not_need_files_on_disk(tmp_path):
    # The archive is read in-stream: nothing is unpacked into the scratch folder.
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            for polarity, rating in (("pos", 9), ("neg", 2)):
                add_file(tar, f"aclImdb/{split}/{polarity}/0_{rating}.txt", b"text")
    scratch = tmp_path / "scratch"
    reviews = read_reviews(archive, scratch=scratch)[0]
    assert len(reviews) == 4 and not scratch.exists()
