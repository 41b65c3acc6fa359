"""The plain reference the tutorials use: `model.fit` on pre-padded numpy arrays, no masking.

Kept deliberately small: the same architecture as the project's (Embedding -> recurrent layer
-> dropout -> sigmoid), fed the way the Keras tutorials feed it.
"""

from __future__ import annotations

import keras
import numpy as np

LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "bilstm": keras.layers.LSTM,
}


def reference_model(arch: str, vocab_size: int, max_len: int, embedding_dim: int, units: int):
    recurrent = LAYERS[arch](units)
    if arch == "bilstm":
        recurrent = keras.layers.Bidirectional(recurrent)
    model = keras.Sequential(
        [
            keras.Input(shape=(max_len,), dtype="int32"),
            keras.layers.Embedding(vocab_size, embedding_dim),
            recurrent,
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def pre_pad(right_padded: np.ndarray) -> np.ndarray:
    """Move each row's ids to the end, as `pad_sequences(padding="pre")` lays them out."""
    out = np.zeros_like(right_padded)
    lengths = (right_padded != 0).sum(axis=1)
    for row, length in enumerate(lengths):
        if length:
            out[row, -length:] = right_padded[row, :length]
    return out
