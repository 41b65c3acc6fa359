"""The recurrent classifiers: Embedding -> (spatial dropout) -> 1-2 recurrent layers -> pooling
over time -> dropout -> sigmoid. Architectures differ by data (a layer type, a bidirectional
flag), not by copied modules."""

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

    Keras' GlobalMaxPooling1D ignores the mask, and a bidirectional layer outputs zeros on
    padded steps, so a plain max would change with how much padding the batch has. Here a
    padded step never wins, and a review with no real step pools to zeros.
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


def build_model(
    name: str, spec: ModelParams, steps_per_epoch: int, epochs: int, seed: int
) -> keras.Model:
    """A compiled binary classifier over right-padded id sequences (id 0 is masked out).

    Every dropout layer gets an explicit seed, so a model loaded from a checkpoint draws the
    same masks as the one that was saved (a seedless layer takes a fresh seed when loaded).
    """
    pooled_over_time = spec.pooling != "last"
    stack: list[keras.layers.Layer] = [
        keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        keras.layers.Embedding(spec.vocab_size, spec.embedding_dim, mask_zero=True),
    ]
    if spec.embedding_dropout:
        stack.append(keras.layers.SpatialDropout1D(spec.embedding_dropout, seed=seed + 1))
    for layer in range(spec.layers):
        # Every layer but the top one feeds a sequence upward; the top one does too when the
        # pooling reads all steps.
        sequences = layer < spec.layers - 1 or pooled_over_time
        recurrent = RECURRENT_LAYERS[spec.arch](spec.units, return_sequences=sequences)
        if spec.arch in BIDIRECTIONAL:
            recurrent = keras.layers.Bidirectional(recurrent)
        stack.append(recurrent)
    if spec.pooling == "mean":
        stack.append(keras.layers.GlobalAveragePooling1D())  # mask-aware
    elif spec.pooling == "max":
        stack.append(MaskedGlobalMaxPooling1D())
    stack += [
        keras.layers.Dropout(spec.dropout, seed=seed + 2),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
    model = keras.Sequential(stack, name=name)
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
