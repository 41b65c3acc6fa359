"""What a recurrent model trains on: one model's view of the prepared ids, in batches of
similar length (each cut to its longest review), planned up front and run as graph ops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.data.text import limit_vocabulary, token_lengths

BUCKET_WINDOW = 50  # batches sorted together: long enough to group lengths, short enough to mix


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, seed: int | None, epoch: int = 0
) -> list[np.ndarray]:
    """Row indices of each batch, grouping reviews of similar length.

    Training (a seed) is "sortish": shuffle, sort by length within windows of
    ``BUCKET_WINDOW`` batches, shuffle the batch order; keyed on (seed, epoch), so a run
    resumed at epoch k gets the batches an uninterrupted one would. Without a seed
    (validation) the batches are simply sorted by length.
    """
    if seed is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    window = batch_size * BUCKET_WINDOW
    batches = []
    for start in range(0, len(order), window):
        part = order[start : start + window]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    seed: int | None,
    first_epoch: int = 0,
    epochs: int = 1,
) -> tuple[tf.data.Dataset, int]:
    """(dataset, batches per epoch): ``epochs`` epochs of similar-length batches, back to back.

    Each batch is cut to its longest review. Padding is on the right and never reaches a real
    step's output (networks.py), so cutting trailing all-padding columns changes no number,
    only the recurrent steps spent on nothing (a CPU walks every step). The whole plan is
    made up front and run as graph ops (gather + slice), so no Python runs per batch to
    contend with the training loop; give `fit` the batches per epoch as ``steps_per_epoch``
    so it reads on across epochs.
    """
    lengths = np.maximum(token_lengths(x), 1)
    plans = [
        bucketed_batches(lengths, batch_size, seed, e)
        for e in range(first_epoch, first_epoch + max(epochs, 1))
    ]
    batches = [rows for plan in plans for rows in plan]
    rows = tf.RaggedTensor.from_row_lengths(
        np.concatenate(batches).astype(np.int64), [len(b) for b in batches]
    )
    widths = np.array([lengths[b].max() for b in batches], dtype=np.int32)
    ids, labels = tf.constant(x), tf.constant(y.astype(np.float32))

    def gather(batch_rows: tf.Tensor, width: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.gather(ids, batch_rows)[:, :width], tf.gather(labels, batch_rows)

    dataset = tf.data.Dataset.from_tensor_slices((rows, widths)).map(gather)
    return dataset.prefetch(tf.data.AUTOTUNE), len(plans[0])


@dataclass(frozen=True)
class SplitArrays:
    """One model's view of the prepared ids: its own vocabulary prefix, train and val."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    @classmethod
    def load(cls, prepared: PreparedPaths, vocab_size: int) -> SplitArrays:
        with np.load(prepared.sequences) as data:
            return cls(
                limit_vocabulary(data["x_train"], vocab_size),
                data["y_train"],
                limit_vocabulary(data["x_val"], vocab_size),
                data["y_val"],
            )


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return -(-n_train // batch_size)
