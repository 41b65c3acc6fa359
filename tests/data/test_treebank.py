"""The treebank reader on real lines of the Stanford Sentiment Treebank (a tiny cut of it)."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest
from conftest import REAL_TREEBANK, TREES_PER_FILE, corpus_params

from imdb_sentiment.data.prepare import PreparedPaths, prepare_dataset
from imdb_sentiment.data.text import tokenize
from imdb_sentiment.data.treebank import (
    TreebankError,
    detokenize,
    read_treebank,
)

# Lines 1 and 3 of trees/train.txt and line 1 of trees/test.txt, as the treebank ships them.
FIRST_TRAIN = (
    "(3 (2 (2 The) (2 Rock)) (4 (3 (2 is) (4 (2 destined) (2 (2 (2 (2 (2 to) (2 (2 be) (2 (2 "
    "the) (2 (2 21st) (2 (2 (2 Century) (2 's)) (2 (3 new) (2 (2 ``) (2 Conan)))))))) (2 '')) "
    "(2 and)) (3 (2 that) (3 (2 he) (3 (2 's) (3 (2 going) (3 (2 to) (4 (3 (2 make) (3 (3 (2 a) "
    "(3 splash)) (2 (2 even) (3 greater)))) (2 (2 than) (2 (2 (2 (2 (1 (2 Arnold) (2 "
    "Schwarzenegger)) (2 ,)) (2 (2 Jean-Claud) (2 (2 Van) (2 Damme)))) (2 or)) (2 (2 Steven) "
    "(2 Segal))))))))))))) (2 .)))"
)


def test_sst2_labels_drop_neutral_and_split_positive_from_negative(tiny_treebank):
    texts, counts = read_treebank(tiny_treebank)
    assert set(texts.split) == {"train", "val", "test"}
    assert (texts.fine_label != 2).all()
    assert (texts.label == (texts.fine_label > 2)).all()
    assert counts.neutral["val"] + (texts.split == "val").sum() == TREES_PER_FILE["trees/dev.txt"]
    # Validation and test are whole sentences, one per non-neutral tree.
    for split in ("val", "test"):
        assert (texts[texts.split == split].kind == "sentence").all()
    first = texts.set_index("id").loc["train/1"]
    assert first.text.startswith('The Rock is destined to be the 21st Century\'s new "Conan"')
    assert (first.label, first.fine_label, first.kind) == (1, 3, "sentence")


def test_training_takes_every_distinct_phrase_or_only_sentences(tiny_treebank):
    phrases, counts = read_treebank(tiny_treebank, train_on="phrases")
    sentences, _ = read_treebank(tiny_treebank, train_on="sentences")
    train = phrases[phrases.split == "train"]
    assert train.text.is_unique and counts.duplicates > 0
    assert len(train) > 5 * TREES_PER_FILE["trees/train.txt"]
    assert set(sentences[sentences.split == "train"].text) <= set(train.text)
    assert (sentences.split == "train").sum() <= TREES_PER_FILE["trees/train.txt"]
    # Only training changes: validation and test are the same sentences either way.
    held_out = [
        rows[rows.split.isin(["val", "test"])].reset_index(drop=True)
        for rows in (phrases, sentences)
    ]
    assert held_out[0].equals(held_out[1])
    # "Jean-Claud Van Damme" (2) is neutral, "Arnold Schwarzenegger" (1) is a negative phrase.
    labels = train.set_index("text").label
    assert labels["Arnold Schwarzenegger"] == 0 and "Van Damme" not in labels


def test_phrases_the_text_path_reads_as_no_tokens_are_counted_not_trained_on(tmp_path):
    archive = tmp_path / "trees.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("trees/train.txt", "(4 (4 (3 Great) (4 fun)) (3 !))\n(1 (0 Awful) (1 .))\n")
        bundle.writestr("trees/dev.txt", "(4 (4 Superb) (3 .))\n")
        bundle.writestr("trees/test.txt", "(0 (0 Dreadful) (1 .))\n")
    texts, counts = read_treebank(archive)
    assert counts.no_tokens == 2  # "!" (3) and "." (1)
    assert all(tokenize(text) for text in texts.text)
    assert sorted(texts[texts.split == "train"].text) == [
        "Awful",
        "Awful.",
        "Great",
        "Great fun",
        "Great fun!",
        "fun",
    ]


def test_prepared_sst2_counts_each_split_kind_and_what_was_dropped(tiny_treebank, tmp_path):
    # The treebank through the same prepare as IMDB: its dev sentences are the validation split.
    stats, histogram = prepare_dataset(
        tiny_treebank, tmp_path / "prepared", corpus_params("sst2", max_len=10)
    )
    texts, counts = read_treebank(tiny_treebank)
    prepared = pd.read_parquet(PreparedPaths(tmp_path / "prepared").reviews)
    assert prepared.groupby("split").size().to_dict() == texts.groupby("split").size().to_dict()
    assert histogram.texts.sum() == len(texts)
    assert stats["counts"]["unlabeled"]["total"] == 0
    assert stats["counts"]["test"]["total"] == (texts.split == "test").sum()
    assert stats["kinds"]["val"] == {"sentence": (texts.split == "val").sum()}
    assert set(stats["kinds"]["train"]) == {"sentence", "phrase"}
    assert stats["dropped"]["duplicates"] == counts.duplicates > 0
    assert stats["dropped"]["neutral"]["train"] == counts.neutral["train"]
    assert 0 < stats["truncated_fraction"]["test"] < 1  # test sentences run past 10 tokens
    assert stats["length_percentiles"]["train"]["max"] >= stats["length_percentiles"]["test"]["p50"]


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        ("It does n't work .", "It doesn't work."),
        ("-LRB- really -RRB- , `` ok '' 5\\/10", '(really), "ok" 5/10'),
        ("we 're sure you 'll like it 's ending", "we're sure you'll like it's ending"),
        ("co-writer\\/director", "co-writer/director"),
        ("` performance '", "'performance'"),
    ],
)
def test_detokenizing_gives_back_what_a_person_types(tokens, text):
    assert detokenize(tokens.split()) == text


def test_a_malformed_tree_line_names_its_file_and_line(tmp_path):
    archive = tmp_path / "trees.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("trees/train.txt", FIRST_TRAIN + "\n(3 (2 unclosed) (3 tree)\n")
        bundle.writestr("trees/dev.txt", FIRST_TRAIN + "\n")
        bundle.writestr("trees/test.txt", FIRST_TRAIN + "\n")
    with pytest.raises(TreebankError, match=r"trees/train.txt line 2: malformed tree"):
        read_treebank(archive)
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in TREES_PER_FILE:
            bundle.writestr(name, "(7 (2 seven) (2 stars))\n")
    with pytest.raises(TreebankError, match=r"trees/train.txt line 1: .*label '7'"):
        read_treebank(archive)


@pytest.mark.parametrize("evil_name", ["../escape.txt", "/etc/evil.txt", "trees/../../x.txt"])
def test_a_zip_member_escaping_its_folder_is_refused(tmp_path, evil_name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("trees/train.txt", FIRST_TRAIN + "\n")
        bundle.writestr(zipfile.ZipInfo(evil_name), "gotcha")
    with pytest.raises(TreebankError, match="unsafe member") as refused:
        read_treebank(archive)
    assert len(str(refused.value).splitlines()) == 1


def test_a_corrupt_or_foreign_zip_is_refused_in_one_line_naming_it(tmp_path):
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(REAL_TREEBANK.read_bytes()[:5000])
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as bundle:
        bundle.writestr("reviews/good.txt", "hello")
    not_a_zip = tmp_path / "reviews.zip"
    not_a_zip.write_text("plain text, not a zip")
    for archive, reason in [
        (truncated, "corrupt, truncated or not a zip"),
        (foreign, "expected the treebank's own layout"),
        (not_a_zip, "corrupt, truncated or not a zip"),
        (tmp_path / "absent.zip", "not found"),
    ]:
        with pytest.raises(TreebankError) as refused:
            read_treebank(archive)
        message = str(refused.value)
        assert str(archive) in message and reason in message, message
        assert len(message.splitlines()) == 1, message
