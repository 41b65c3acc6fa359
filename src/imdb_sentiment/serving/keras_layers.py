"""The custom layers a saved network is built from: pooling and gathering over each review's
real steps (id 0 pads), and dropping whole words in training. They are Keras serializables
registered on import, so loading a ``.keras`` file, for training's checkpoints and for the
served model alike, needs this module and nothing of the training code."""

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


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class MaskedGlobalAveragePooling1D(keras.layers.Layer):
    """The mean over each review's real steps only; a review with no real step pools to zeros.

    Keras' GlobalAveragePooling1D divides by the number of unmasked steps, so a text with no
    token (``"!!!"``) pools to 0 / 0 = NaN, and a NaN in a training batch spreads to every
    weight at the next update. The same sum divided by at least 1: on a text with a token,
    the same operations in the same order as Keras' layer, so the same numbers.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        valid = ops.expand_dims(ops.cast(mask, "bool"), -1)
        total = ops.sum(ops.where(valid, inputs, 0), axis=1)
        count = ops.sum(ops.cast(valid, inputs.dtype), axis=1)
        return total / ops.maximum(count, 1.0)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class WordDropout(keras.layers.Layer):
    """In training, each real token of a batch is dropped with probability ``rate``: its id
    becomes ``replacement``. Padding is never touched, and outside training the ids pass as
    they are.

    The replacement says what "dropped" means to the network after it: 0 (padding) takes the
    token out of a pooled bag of words exactly, as if it were not in the text (Iyyer et al.
    2015); 1 (out-of-vocabulary) keeps the token's step in a recurrent model, so the real
    steps (the last one, the reversed ones) stay where the padding logic finds them, and the
    step reads the vector every unknown word has. Seeded like Keras' Dropout, so a model
    loaded from a checkpoint draws the same masks as the one saved.
    """

    def __init__(self, rate: float, replacement: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"WordDropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.replacement = replacement
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._build_at_init()

    def call(self, ids, training=False):
        if not training or self.rate == 0:
            return ids
        draws = keras.random.uniform(ops.shape(ids), seed=self.seed_generator)
        dropped = ops.logical_and(draws < self.rate, ops.not_equal(ids, 0))
        return ops.where(dropped, ops.full_like(ids, self.replacement), ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "replacement": self.replacement,
            "seed": self.seed,
        }


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
