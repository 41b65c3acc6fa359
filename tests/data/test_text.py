import numpy as np
import pytest

from imdb_sentiment.data.text import OOV_ID, PAD_ID, Vocabulary, encode_texts, standardize, tokenize


def test_html_breaks_case_and_punctuation_are_normalized():
    review = "Great acting.<br /><br />But the PLOT...<BR>was <i>dull</i>!"
    assert "<" not in standardize(review)
    assert tokenize(review) == ["great", "acting", "but", "the", "plot", "was", "dull"]


def test_apostrophes_stay_inside_words_and_curly_ones_are_straightened():
    assert tokenize("Don’t miss the director's cut, 'ok'") == [
        "don't",
        "miss",
        "the",
        "director's",
        "cut",
        "ok",
    ]


def test_emoji_and_empty_text_give_no_tokens_and_other_scripts_are_words():
    assert tokenize("") == []
    assert tokenize("   \n\t ") == []
    assert tokenize("😀👍 !!!") == []
    assert tokenize("Très bien, 很好") == ["très", "bien", "很好"]


def test_vocabulary_reserves_padding_and_oov_and_ranks_by_count_then_alphabet():
    vocab = Vocabulary.build([["b", "a", "c"], ["a", "b", "d"], ["a"]], size=5)
    assert vocab.tokens == ["<pad>", "<oov>", "a", "b", "c"]
    assert vocab.ids(["a", "d", "zzz"]) == [2, OOV_ID, OOV_ID]


def test_vocabulary_round_trips_through_json(tmp_path):
    vocab = Vocabulary.build([["é", "b"]], size=10)
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json").tokens == vocab.tokens


@pytest.mark.parametrize(
    ("truncating", "expected"), [("pre", ["c", "d", "e"]), ("post", ["a", "b", "c"])]
)
def test_long_reviews_are_truncated_at_the_chosen_end(truncating, expected):
    vocab = Vocabulary.build([list("abcde")], size=7)
    ids = encode_texts(["a b c d e"], vocab, max_len=3, truncating=truncating)
    assert ids.tolist() == [vocab.ids(expected)]


def test_short_reviews_are_right_padded_and_empty_ones_are_all_padding():
    vocab = Vocabulary.build([["good"]], size=3)
    ids = encode_texts(["good unknownword", ""], vocab, max_len=4, truncating="pre")
    assert ids.dtype == np.int32
    assert ids.tolist() == [[2, OOV_ID, PAD_ID, PAD_ID], [PAD_ID] * 4]


def test_very_long_review_is_encoded_to_max_len():
    ids = encode_texts(["word " * 50_000], Vocabulary.build([["word"]], 3), 200, "pre")
    assert ids.shape == (1, 200)
    assert (ids == 2).all()
