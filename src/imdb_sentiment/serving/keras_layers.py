"""The custom layers a saved network is built from: pooling and gathering over each review's
real steps (id 0 pads). They are Keras serializables registered on import, so loading a
``.keras`` file, for training's checkpoints and for the served model alike, needs this module
and nothing of the training code."""

from __future__ import annotations

import keras
from keras import ops


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
