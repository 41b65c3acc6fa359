"""Where the tutorial-configuration `speedup` goes: the per-step cost of a Keras mask, against
the project's model, which has none.

    python -m bench.mask_cost                 # lstm, 4,096 reviews, 3 interleaved repeats
    python -m bench.mask_cost gru --reviews 2048

At the tutorial configuration (length 200, batch 128, 64 units) length-bucketing can save at
most ~1.24x of the recurrent steps. This runs, in one process on one seeded sample and with
bench/throughput.py's thread settings, the reference and three ways of feeding the same
bucketed batches:

- reference: the plain model (bench/reference.py), `fit` on pre-padded numpy arrays, fixed
  length, no mask;
- project: the project's model (no Keras mask: each review's state read at its last real
  step, the padding excluded exactly);
- last state: the same bucketed batches into a plain RNN (its last state then reads the
  padding: not exact, a bound on what skipping the exact read can give);
- last state + gather: a plain RNN, return_sequences, each review's output at its last real
  token (exact for a one-directional RNN over right padding: padding only follows the real
  steps).

Medians of `--repeats` fits of one epoch each, the four interleaved; examples per second of
the process's CPU time, as bench/throughput.py takes its ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from bench import ROOT
from bench.throughput import (
    TUTORIAL,
    bucketed_fit,
    fix_threads,
    padded_fit,
    rate_of,
    tutorial_sample,
    tutorial_spec,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", nargs="?", default="lstm", choices=["simple_rnn", "lstm", "gru"])
    parser.add_argument("--clone", type=Path, default=ROOT, help="has data/prepared")
    parser.add_argument("--reviews", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    fix_threads()
    import keras
    import tensorflow as tf

    from bench.reference import LAYERS, pre_pad, reference_model
    from imdb_sentiment.models.networks import build_model
    from imdb_sentiment.models.training import seed_everything

    batch, units, embedding = TUTORIAL["batch"], TUTORIAL["units"], TUTORIAL["embedding_dim"]
    x, y = tutorial_sample(args.clone, args.reviews, np.random.default_rng(0))
    seed_everything(0)

    class LastRealStep(keras.layers.Layer):
        def call(self, sequence: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
            last = tf.maximum(tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1), 1) - 1
            return tf.gather(sequence, last, axis=1, batch_dims=1)

    def plain(gather: bool) -> keras.Model:
        ids = keras.Input(shape=(None,), dtype="int32")
        embedded = keras.layers.Embedding(TUTORIAL["vocab_size"], embedding)(ids)
        state = LAYERS[args.arch](units, return_sequences=gather)(embedded)
        if gather:
            state = LastRealStep()(state, ids)
        hidden = keras.layers.Dropout(0.3)(state)
        model = keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(hidden))
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    reference = reference_model(
        args.arch, TUTORIAL["vocab_size"], TUTORIAL["max_len"], embedding, units
    )
    fits = {
        "reference (pre-padded, no mask)": padded_fit(reference, pre_pad(x), y, batch, 1),
        "project (bucketed, exact, no mask)": bucketed_fit(
            build_model(args.arch, tutorial_spec(args.arch), 1, 1, seed=0), x, y, batch, 1
        ),
        "last state (bucketed; not exact)": bucketed_fit(plain(gather=False), x, y, batch, 1),
        "last state + gather (bucketed, exact)": bucketed_fit(plain(gather=True), x, y, batch, 1),
    }
    rates: dict[str, list[float]] = {name: [] for name in fits}
    for _ in range(args.repeats):
        for name, fit in fits.items():
            rates[name].append(rate_of(fit, len(x))[0])
    base = statistics.median(rates["reference (pre-padded, no mask)"])
    print(f"{args.arch}, {len(x)} reviews, tutorial configuration, median of {args.repeats}:")
    for name, runs in rates.items():
        median = statistics.median(runs)
        shown = ", ".join(f"{rate:.0f}" for rate in runs)
        print(f"  {name:38s} {median:7.0f} ex/s  {median / base:5.2f}x   runs: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
