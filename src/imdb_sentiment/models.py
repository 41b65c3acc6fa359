"""The four recurrent classifiers: Embedding -> recurrent layer -> dropout -> sigmoid."""

from __future__ import annotations

import keras

from imdb_sentiment.params import ArchParams, TrainParams

RECURRENT_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "bilstm": keras.layers.LSTM,
}
BIDIRECTIONAL = {"bilstm"}


def build_model(arch: str, vocab_size: int, train: TrainParams, spec: ArchParams) -> keras.Model:
    """A compiled binary classifier over right-padded id sequences (id 0 is masked out)."""
    over_time = spec.pooling == "mean"
    recurrent = RECURRENT_LAYERS[arch](spec.units, return_sequences=over_time)
    if arch in BIDIRECTIONAL:
        recurrent = keras.layers.Bidirectional(recurrent)
    pooling = [keras.layers.GlobalAveragePooling1D()] if over_time else []  # mask-aware
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32", name="token_ids"),
            keras.layers.Embedding(vocab_size, train.embedding_dim, mask_zero=True),
            recurrent,
            *pooling,
            keras.layers.Dropout(spec.dropout),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name=arch,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=train.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model
