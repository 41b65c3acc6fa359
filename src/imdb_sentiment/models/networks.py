"""The recurrent classifiers: Embedding -> (spatial dropout) -> 1-2 recurrent layers -> pooling
over the real steps -> dropout -> sigmoid. Architectures differ by data (a layer type, a
bidirectional flag), not by copied modules."""

from __future__ import annotations

import keras

from imdb_sentiment.params import ModelParams
from imdb_sentiment.serving.keras_layers import (
    LastRealStep,
    MaskedGlobalMaxPooling1D,
    RealSteps,
    ReverseRealSteps,
)

RECURRENT_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "bilstm": keras.layers.LSTM,
}
BIDIRECTIONAL = {"bilstm"}


def build_model(
    name: str, spec: ModelParams, steps_per_epoch: int, epochs: int, seed: int
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
    """
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    sequence = keras.layers.Embedding(spec.vocab_size, spec.embedding_dim)(ids)
    if spec.embedding_dropout:
        sequence = keras.layers.SpatialDropout1D(spec.embedding_dropout, seed=seed + 1)(sequence)
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
        pooled = keras.layers.GlobalAveragePooling1D()(sequence, mask=RealSteps()(ids))
    else:
        pooled = MaskedGlobalMaxPooling1D()(sequence, mask=RealSteps()(ids))
    hidden = keras.layers.Dropout(spec.dropout, seed=seed + 2)(pooled)
    model = keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(hidden), name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate(spec, steps_per_epoch, epochs)),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def learning_rate(
    spec: ModelParams, steps_per_epoch: int, epochs: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The model's learning rate: constant, or cosine decay to 0 over the whole epoch budget."""
    if spec.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            spec.learning_rate, decay_steps=max(1, steps_per_epoch * epochs)
        )
    return spec.learning_rate
