"""The neural bag of words (dan), word dropout, the empty text, and an embedding that starts
from word vectors: built from networks.py on tiny arrays."""

import json

import keras
import numpy as np
import pytest

from imdb_sentiment.data.text import OOV_ID, OOV_TOKEN, PAD_ID, PAD_TOKEN, Vocabulary
from imdb_sentiment.data.word_vectors import EmbeddingStart, WordVectors
from imdb_sentiment.models.networks import build_model
from imdb_sentiment.models.training import seed_everything
from imdb_sentiment.params import ModelParams
from imdb_sentiment.serving.keras_layers import WordDropout
from imdb_sentiment.serving.predictors import (
    KERAS_FILE,
    TEXT_CONFIG_FILE,
    VOCAB_FILE,
    load_predictor,
)

DAN = ModelParams(
    arch="dan",
    vocab_size=60,
    embedding_dim=8,
    embedding_init="random",
    embedding_dropout=0.1,
    word_dropout=0.3,
    units=6,
    layers=2,
    dropout=0.2,
    pooling="mean",
    batch_size=8,
    learning_rate=0.01,
    lr_schedule="constant",
)


def built(spec: ModelParams, seed: int = 0, start: EmbeddingStart | None = None) -> keras.Model:
    seed_everything(seed)
    return build_model(spec.arch, spec, 4, 1, seed=seed, start=start)


def scores(model: keras.Model, ids: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(ids, training=False))[:, 0]


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_dan_scores_a_text_and_any_permutation_of_its_tokens_the_same(pooling, layers):
    model = built(DAN.model_copy(update={"pooling": pooling, "layers": layers}))
    rng = np.random.default_rng(1)
    texts = np.zeros((6, 20), dtype=np.int32)
    for row, length in enumerate([1, 3, 7, 12, 19, 20]):
        texts[row, :length] = rng.integers(1, 60, size=length)
    shuffled = texts.copy()
    for row in range(len(texts)):
        length = int((texts[row] != 0).sum())
        shuffled[row, :length] = rng.permutation(texts[row, :length])
    assert (shuffled != texts).any()
    np.testing.assert_allclose(scores(model, shuffled), scores(model, texts), atol=1e-6)
    # Not a constant: the texts score differently from each other.
    assert np.ptp(scores(model, texts)) > 1e-4


def test_served_dan_scores_a_raw_text_and_its_words_reordered_the_same(tmp_path):
    words = ["good", "bad", "not", "film", "plot", "great", "dull", "actor"]
    spec = DAN.model_copy(update={"vocab_size": len(words) + 2})
    built(spec).save(tmp_path / KERAS_FILE)
    Vocabulary([PAD_TOKEN, OOV_TOKEN, *words]).save(tmp_path / VOCAB_FILE)
    (tmp_path / TEXT_CONFIG_FILE).write_text(json.dumps({"max_len": 50, "truncating": "pre"}))
    served = load_predictor(tmp_path)  # safe mode: the custom layers load as registered
    texts = ["Not good, just bad.", "A great film; the plot was dull.", "!!!", ""]
    reordered = ["bad just good not", "dull film the plot great was a", "???", " "]
    assert np.isfinite(served.positive_probability(texts)).all()  # "!!!" and "" too
    np.testing.assert_allclose(
        served.positive_probability(reordered), served.positive_probability(texts), atol=1e-6
    )


@pytest.mark.parametrize(
    ("arch", "pooling"), [("dan", "mean"), ("dan", "max"), ("gru", "mean"), ("bilstm", "mean")]
)
def test_a_text_with_no_token_gets_a_finite_score_and_training_on_it_keeps_weights_finite(
    arch, pooling
):
    # Keras' masked average divides by the number of real tokens: 0 for a text such as "!!!",
    # and the NaN it gives spreads to every weight at the next update.
    model = built(DAN.model_copy(update={"arch": arch, "pooling": pooling, "layers": 1}))
    batch = np.zeros((4, 6), dtype=np.int32)
    batch[1, :3] = [4, 9, 2]
    batch[2, :6] = 7
    batch[3, :1] = 5  # with word dropout, all of a one-word text is sometimes dropped
    assert np.isfinite(scores(model, batch)).all()
    for _ in range(3):
        model.train_on_batch(batch, np.array([1, 0, 1, 0], dtype=np.float32))
    assert all(np.isfinite(weights).all() for weights in model.get_weights())
    assert np.isfinite(scores(model, batch)).all()


def test_word_dropout_drops_whole_real_tokens_in_training_only():
    ids = np.zeros((200, 30), dtype=np.int32)
    ids[:, :20] = np.random.default_rng(0).integers(2, 60, size=(200, 20))
    layer = WordDropout(0.3, replacement=OOV_ID, seed=5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(ids, training=False)), ids)
    dropped = keras.ops.convert_to_numpy(layer(ids, training=True))
    changed = dropped != ids
    assert (dropped[changed] == OOV_ID).all()
    assert not changed[:, 20:].any()  # padding is never a word to drop
    assert 0.25 < changed[:, :20].mean() < 0.35
    # Seeded: a layer with the same seed (a model loaded from its checkpoint) draws the same.
    again = WordDropout(0.3, replacement=OOV_ID, seed=5)(ids, training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again), dropped)
    to_padding = WordDropout(0.3, replacement=PAD_ID, seed=5)(ids, training=True)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(to_padding) == PAD_ID, changed | (ids == 0)
    )


def test_word_dropout_zero_adds_no_layer_and_a_rate_adds_one():
    gru = DAN.model_copy(update={"arch": "gru", "pooling": "last", "layers": 1})
    names = [
        type(layer).__name__ for layer in built(gru.model_copy(update={"word_dropout": 0.0})).layers
    ]
    assert "WordDropout" not in names
    assert "WordDropout" in [type(layer).__name__ for layer in built(gru).layers]


@pytest.mark.parametrize("arch", ["dan", "gru"])
def test_an_embedding_started_from_word_vectors_holds_them_at_step_0(arch):
    spec = DAN.model_copy(update={"arch": arch, "pooling": "max", "layers": 1})
    tokens = [PAD_TOKEN, OOV_TOKEN, "good", "bad", "film", "zyzzyva"]
    vectors = WordVectors(
        ["film", "bad", "good", "unseen"],
        np.random.default_rng(3).normal(size=(4, spec.embedding_dim)).astype(np.float32),
    )
    start = vectors.start(tokens)
    assert start.rows.tolist() == [2, 3, 4]  # padding, <oov> and the word it lacks start random
    random = built(spec, seed=7).get_weights()
    started = built(spec, seed=7, start=start).get_weights()
    embedding = started[0]
    np.testing.assert_array_equal(embedding[2], vectors.vectors[2])  # good
    np.testing.assert_array_equal(embedding[3], vectors.vectors[1])  # bad
    np.testing.assert_array_equal(embedding[4], vectors.vectors[0])  # film
    unknown = np.ones(len(embedding), dtype=bool)
    unknown[start.rows] = False
    np.testing.assert_array_equal(embedding[unknown], random[0][unknown])
    for ours, theirs in zip(started[1:], random[1:], strict=True):
        np.testing.assert_array_equal(ours, theirs)
