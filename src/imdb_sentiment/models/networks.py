"""The neural classifiers. Recurrent: Embedding -> (word dropout) -> (spatial dropout) -> 1-2
recurrent layers -> pooling over the real steps -> dropout -> sigmoid. dan, the deep averaging
network (Iyyer et al. 2015): Embedding -> (word dropout) -> (spatial dropout) -> mean or max
over the real tokens -> 1-3 dense layers, each with dropout -> sigmoid, blind to word order.
Architectures differ by data (a layer type, a bidirectional flag), not by copied modules."""

from __future__ import annotations

import keras
import numpy as np

from imdb_sentiment.data.text import OOV_ID, PAD_ID
from imdb_sentiment.data.word_vectors import EmbeddingStart
from imdb_sentiment.params import ModelParams
from imdb_sentiment.serving.keras_layers import (
    LastRealStep,
    MaskedGlobalAveragePooling1D,
    MaskedGlobalMaxPooling1D,
    RealSteps,
    ReverseRealSteps,
    WordDropout,
)

RECURRENT_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "bilstm": keras.layers.LSTM,
}
BIDIRECTIONAL = {"bilstm"}


def build_model(
    name: str,
    spec: ModelParams,
    steps_per_epoch: int,
    epochs: int,
    seed: int,
    start: EmbeddingStart | None = None,
) -> keras.Model:
    """A compiled binary classifier over right-padded id sequences (id 0 pads).

    No Keras mask: on a CPU every masked step pays for its select ops (8-19% a step). The
    padding is handled exactly instead. It only ever follows a review's real steps, so a
    forward recurrent pass over it changes no real step's output; the last real step is
    gathered, mean and max pooling are given the real steps directly, and a backward pass
    runs over each review's real steps reversed in place (``tf.reverse_sequence``). A review
    scores the same alone as in any padded batch.

    Every dropout layer gets an explicit seed, so a model loaded from a checkpoint draws the
    same masks as the one that was saved (a seedless layer takes a fresh seed when loaded).

    ``start`` (embedding_init word_vectors): after Keras' seeded initializer has drawn the
    whole embedding, its rows are overwritten with their word vectors; every other weight and
    row is what a random-init model of the same seed gets.
    """
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    ids = inputs
    if spec.word_dropout:
        # dan: a dropped word leaves the bag (it becomes padding, which pooling skips);
        # recurrent: it becomes <oov>, so every step stays where the padding logic finds it.
        dropped = PAD_ID if spec.arch == "dan" else OOV_ID
        ids = WordDropout(spec.word_dropout, dropped, seed=seed + 3)(inputs)
    embedding = keras.layers.Embedding(spec.vocab_size, spec.embedding_dim)
    sequence = embedding(ids)
    if spec.embedding_dropout:
        sequence = keras.layers.SpatialDropout1D(spec.embedding_dropout, seed=seed + 1)(sequence)
    if spec.arch == "dan":
        outputs = averaging_head(spec, sequence, ids, seed)
    else:
        outputs = recurrent_head(spec, sequence, ids, seed)
    model = keras.Model(inputs, outputs, name=name)
    if start is not None:
        weights = np.array(embedding.embeddings.numpy())
        weights[start.rows] = start.vectors
        embedding.embeddings.assign(weights)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate(spec, steps_per_epoch, epochs)),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def averaging_head(spec: ModelParams, sequence: keras.KerasTensor, ids, seed: int):
    """dan's classifier over the word vectors: their mean (or max) over the real tokens, a
    text with none pooling to zeros, then ``spec.layers`` dense ReLU layers with dropout."""
    real = RealSteps()(ids)
    if spec.pooling == "mean":
        hidden = MaskedGlobalAveragePooling1D()(sequence, mask=real)
    else:
        hidden = MaskedGlobalMaxPooling1D()(sequence, mask=real)
    for layer in range(spec.layers):
        hidden = keras.layers.Dense(spec.units, activation="relu")(hidden)
        hidden = keras.layers.Dropout(spec.dropout, seed=seed + 4 + layer)(hidden)
    return keras.layers.Dense(1, activation="sigmoid")(hidden)


def recurrent_head(spec: ModelParams, sequence: keras.KerasTensor, ids, seed: int):
    """The recurrent layers over the embedded steps, pooled over the real steps, dropout and
    the sigmoid unit."""
    bidirectional = spec.arch in BIDIRECTIONAL
    for _ in range(spec.layers):
        forward = RECURRENT_LAYERS[spec.arch](spec.units, return_sequences=True)(sequence)
        if not bidirectional:
            sequence = forward
            continue
        backward = RECURRENT_LAYERS[spec.arch](spec.units, return_sequences=True)(
            ReverseRealSteps()(sequence, ids)
        )
        backward = ReverseRealSteps()(backward, ids)  # realigned with the forward steps
        sequence = keras.layers.Concatenate()([forward, backward])
    if spec.pooling == "last" and bidirectional:
        pooled = keras.layers.Concatenate()(
            [LastRealStep()(forward, ids), LastRealStep(at_start=True)(backward, ids)]
        )
    elif spec.pooling == "last":
        pooled = LastRealStep()(sequence, ids)
    elif spec.pooling == "mean":
        pooled = MaskedGlobalAveragePooling1D()(sequence, mask=RealSteps()(ids))
    else:
        pooled = MaskedGlobalMaxPooling1D()(sequence, mask=RealSteps()(ids))
    hidden = keras.layers.Dropout(spec.dropout, seed=seed + 2)(pooled)
    return keras.layers.Dense(1, activation="sigmoid")(hidden)


def learning_rate(
    spec: ModelParams, steps_per_epoch: int, epochs: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The model's learning rate: constant, or cosine decay to 0 over the whole epoch budget."""
    if spec.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            spec.learning_rate, decay_steps=max(1, steps_per_epoch * epochs)
        )
    return spec.learning_rate
