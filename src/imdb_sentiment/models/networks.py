"""The recurrent classifiers: Embedding -> (spatial dropout) -> 1-2 recurrent layers -> pooling
over the real steps -> dropout -> sigmoid. Architectures differ by data (a layer type, a
bidirectional flag), not by copied modules."""

from __future__ import annotations

import keras
from keras import ops

from imdb_sentiment.params import ModelParams

RECURRENT_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "bilstm": keras.layers.LSTM,
}
BIDIRECTIONAL = {"bilstm"}


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """The max over each review's real steps only.

    Keras' GlobalMaxPooling1D ignores the mask, and the recurrent layers also output
    something on padded steps, so a plain max would change with how much padding the batch
    has. Here a padded step never wins, and a review with no real step pools to zeros.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.max(inputs, axis=1)
        valid = ops.expand_dims(ops.cast(mask, "bool"), -1)
        lowest = ops.full_like(inputs, keras.config.epsilon() - 3.0e38)
        pooled = ops.max(ops.where(valid, inputs, lowest), axis=1)
        return ops.where(ops.any(valid, axis=1), pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def real_lengths(ids):  # -> an int32 tensor: each review's number of real tokens
    return ops.sum(ops.cast(ops.not_equal(ids, 0), "int32"), axis=1)


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class RealSteps(keras.layers.Layer):
    """Which steps of a right-padded id matrix are real tokens (id 0 pads)."""

    def call(self, ids):
        return ops.not_equal(ids, 0)


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class ReverseRealSteps(keras.layers.Layer):
    """Each review's real steps in reverse order, its padding left where it is: a recurrent
    layer run over this reads the review backwards from its last word, as if unpadded."""

    def call(self, sequence, ids):
        import tensorflow as tf

        return tf.reverse_sequence(sequence, real_lengths(ids), seq_axis=1, batch_axis=0)


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class LastRealStep(keras.layers.Layer):
    """Each review's output at its last real token (``at_start``: at its first, where a
    backward pass ends); zeros for a review with no real token."""

    def __init__(self, at_start: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.at_start = at_start

    def call(self, sequence, ids):
        lengths = real_lengths(ids)
        index = ops.zeros_like(lengths) if self.at_start else ops.maximum(lengths - 1, 0)
        picked = ops.take_along_axis(sequence, index[:, None, None], axis=1)[:, 0]
        return ops.where((lengths > 0)[:, None], picked, ops.zeros_like(picked))

    def get_config(self):
        return {**super().get_config(), "at_start": self.at_start}

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


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
