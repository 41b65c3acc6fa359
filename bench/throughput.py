"""Training speed: the project's training path against the tutorials' way, in one process on
the same data, at the tutorial configuration and at each tuned default; and the machine's
float32 matmul rate, with the fraction of it each training loop reaches.

TensorFlow (keras with it) is imported inside the functions: `fix_threads` must set its
thread pools before anything runs on it.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TUTORIAL = {"vocab_size": 10000, "max_len": 200, "embedding_dim": 128, "units": 64, "batch": 128}
# Matmuls per recurrent step and direction: one per gate (and the SimpleRNN's one).
GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4, "bilstm": 4}
# One thread each, so that a ratio holds from run to run. With two inter-op threads (the
# default here, or set), TensorFlow's executor runs each fit either on both threads or
# inline on one, a coin toss per fit: 8 fits of one GRU in one process took turns between
# ~1,400 ex/s (1.8 cores busy) and ~800 ex/s (1.0 core), at intra/inter 1/2, 2/2, 2/4 and
# the defaults alike; at 1/1 every fit ran at 800-900 ex/s. The rates are one core's.
# Even at 1/1 some fits take ~5.1 s of wall time where others take 3-4 s, while the process
# spends the same CPU time in both (3.8 s of CPU in a 5.1 s fit, 0.73 cores busy, no other
# load, no steal in /proc/stat): the process is off the CPU, not working harder. So the
# ratios are taken on CPU time, and the wall-clock rates are kept beside them.
THREADS = {"intra_op": 1, "inter_op": 1}


def fix_threads() -> str:
    """TensorFlow's thread pools at THREADS, before anything runs on TensorFlow; returns the
    device it trains on ("gpu" or "cpu")."""
    from imdb_sentiment.runtime import import_tensorflow

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(THREADS["intra_op"])
    tf.config.threading.set_inter_op_parallelism_threads(THREADS["inter_op"])
    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def tutorial_data(clone: Path) -> tuple[np.ndarray, np.ndarray]:
    """Training split at the tutorial's vocab and length, through the project's text path."""
    import pandas as pd

    from imdb_sentiment.data.text import Vocabulary, encode_tokens, tokenize

    reviews = pd.read_parquet(clone / "data/prepared/imdb/reviews.parquet")
    train = reviews[reviews.split == "train"]
    tokens = [tokenize(text) for text in train.text]
    vocab = Vocabulary.build(tokens, TUTORIAL["vocab_size"])
    x = encode_tokens(tokens, vocab, TUTORIAL["max_len"], "pre")
    return x, train.label.to_numpy().astype(np.int32)


def tutorial_sample(
    clone: Path, reviews: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``reviews`` training reviews drawn with ``rng``, at the tutorial's vocab and length."""
    x_all, y_all = tutorial_data(clone)
    rows = rng.choice(len(x_all), size=min(reviews, len(x_all)), replace=False)
    return x_all[rows], y_all[rows]


def tutorial_spec(arch: str):  # -> ModelParams, imported late like everything TensorFlow
    """The project's model at the tutorial configuration: one layer, last state, dropout 0.3."""
    from imdb_sentiment.params import ModelParams

    return ModelParams(
        arch=arch,
        vocab_size=TUTORIAL["vocab_size"],
        embedding_dim=TUTORIAL["embedding_dim"],
        embedding_init="random",
        embedding_dropout=0.0,
        word_dropout=0.0,
        units=TUTORIAL["units"],
        layers=1,
        dropout=0.3,
        pooling="last",
        batch_size=TUTORIAL["batch"],
        learning_rate=1e-3,
        lr_schedule="constant",
    )


def padded_fit(  # model: a keras.Model (keras is imported after fix_threads)
    model, x: np.ndarray, y: np.ndarray, batch: int, epochs: int
) -> Callable[[], None]:
    """The tutorials' way: ``fit`` on fixed-length arrays in random batches. Warms up (traces
    the graph) now; the returned call is the one to time."""
    model.fit(x[: 4 * batch], y[: 4 * batch], batch_size=batch, verbose=0)
    return partial(model.fit, x, y, batch_size=batch, epochs=epochs, verbose=0)


def bucketed_fit(  # model: a keras.Model (keras is imported after fix_threads)
    model, x: np.ndarray, y: np.ndarray, batch: int, epochs: int
) -> Callable[[], None]:
    """The project's way: length-bucketed batches cut to their longest review. Warms up now;
    the returned call is the one to time."""
    from imdb_sentiment.models.batches import make_dataset

    data, steps = make_dataset(x, y, batch, seed=0, epochs=epochs)
    model.fit(make_dataset(x[: 4 * batch], y[: 4 * batch], batch, seed=0)[0], verbose=0)
    return lambda: model.fit(data, steps_per_epoch=steps, epochs=epochs, verbose=0)


def rate_of(fit: Callable[[], None], examples: int) -> tuple[float, float]:
    """examples per second of one ``fit`` call: of this process's CPU time (all its threads;
    with THREADS at one each, one core's rate) and of wall time."""
    wall, cpu = time.perf_counter(), time.process_time()
    fit()
    return examples / (time.process_time() - cpu), examples / (time.perf_counter() - wall)


def compare_rates(
    reference_fit: Callable[[], None],
    project_fit: Callable[[], None],
    examples: int,
    repeats: int,
) -> dict[str, float]:
    """Median examples/s of each fit over ``repeats`` runs, A and B interleaved so that a slow
    spell of the machine falls on both: per CPU second (``reference``, ``project``, the ones
    the ratios use) and per wall second (``..._wall``)."""
    runs: dict[str, list[float]] = {
        "reference": [],
        "project": [],
        "reference_wall": [],
        "project_wall": [],
    }
    for _ in range(repeats):
        for side, fit in (("reference", reference_fit), ("project", project_fit)):
            cpu_rate, wall_rate = rate_of(fit, examples)
            runs[side].append(cpu_rate)
            runs[f"{side}_wall"].append(wall_rate)
    return {side: statistics.median(rates) for side, rates in runs.items()}


def matmul_gflops() -> float:
    import tensorflow as tf

    n = 2048
    a = tf.random.uniform((n, n), dtype=tf.float32)
    tf.linalg.matmul(a, a).numpy()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        tf.linalg.matmul(a, a).numpy()
        runs.append(time.perf_counter() - started)
    return 2 * n**3 / min(runs) / 1e9


def flops_per_example(
    arch: str, embedding_dim: int, units: int, layers: int, steps: float
) -> float:
    """Training FLOPs of one review: the recurrent matmuls (2*gates*(input+H)*H per step,
    layer and direction), times 3 for forward + backward; embedding and dense are negligible."""
    directions = 2 if arch == "bilstm" else 1
    total, inputs = 0.0, embedding_dim
    for _ in range(layers):
        total += 2 * GATES[arch] * (inputs + units) * units * directions
        inputs = units * directions
    return 3 * total * steps


def throughput(clone: Path, epochs: int, repeats: int, reviews: int) -> dict:
    """examples/s of the project's training path against the plain reference, per architecture:
    at the tutorial configuration (``speedup``) and at each default (``speedup_at_defaults``).

    Both sides of a ratio run in this process, on the same seeded sample of ``reviews``
    training reviews, for ``epochs`` epochs, ``repeats`` times interleaved (the median counts),
    after a warm-up fit that traces the graphs.
    """
    rng = np.random.default_rng(0)
    results = at_tutorial_configuration(*tutorial_sample(clone, reviews, rng), epochs, repeats)
    for name, row in at_defaults(clone, reviews, rng, epochs, repeats).items():
        results.setdefault(name, {}).update(row)
    return results


def at_tutorial_configuration(x: np.ndarray, y: np.ndarray, epochs: int, repeats: int) -> dict:
    """Per architecture at TUTORIAL: the reference on pre-padded arrays against the project's
    model on length-bucketed batches."""
    import keras

    from bench.reference import pre_pad, reference_model
    from imdb_sentiment.models.networks import build_model
    from imdb_sentiment.models.training import seed_everything
    from imdb_sentiment.params import RECURRENT_ARCHITECTURES

    x_pre = pre_pad(x)
    batch = TUTORIAL["batch"]
    results = {}
    for arch in RECURRENT_ARCHITECTURES:  # the tutorial's recurrent models
        seed_everything(0)
        reference = reference_model(
            arch,
            TUTORIAL["vocab_size"],
            TUTORIAL["max_len"],
            TUTORIAL["embedding_dim"],
            TUTORIAL["units"],
        )
        reference_fit = padded_fit(reference, x_pre, y, batch, epochs)
        ours = build_model(arch, tutorial_spec(arch), len(x) // batch + 1, epochs, seed=0)
        rates = compare_rates(
            reference_fit, bucketed_fit(ours, x, y, batch, epochs), len(x) * epochs, repeats
        )
        keras.backend.clear_session()
        shape = (TUTORIAL["embedding_dim"], TUTORIAL["units"], 1)
        results[arch] = {
            "reference_examples_per_second": round(rates["reference"], 1),
            "project_examples_per_second": round(rates["project"], 1),
            "speedup": round(rates["project"] / rates["reference"], 3),
            "reviews": int(len(x)),
            "reference_examples_per_wall_second": round(rates["reference_wall"], 1),
            "project_examples_per_wall_second": round(rates["project_wall"], 1),
            "speedup_wall": round(rates["project_wall"] / rates["reference_wall"], 3),
            "flops_per_example_reference": flops_per_example(arch, *shape, TUTORIAL["max_len"]),
            "flops_per_example_project": flops_per_example(arch, *shape, mean_steps(x, batch)),
        }
        log.info("throughput %s (tutorial configuration): %s", arch, results[arch])
    return results


def at_defaults(
    clone: Path, reviews: int, rng: np.random.Generator, epochs: int, repeats: int
) -> dict:
    """Per params.yaml model at its defaults: the same model fed two ways. The tutorials pad
    every review to the length cap and batch at random; the project cuts length-bucketed
    batches to their longest review. Both sides are the same model, so only the feeding
    differs."""
    import keras

    from imdb_sentiment.data.prepare import PreparedPaths
    from imdb_sentiment.models.batches import SplitArrays
    from imdb_sentiment.models.networks import build_model
    from imdb_sentiment.models.training import seed_everything
    from imdb_sentiment.params import load_params

    params = load_params(clone / "params.yaml")
    prepared = PreparedPaths(clone / "data" / "prepared" / "imdb")
    results = {}
    for name, spec in params.models.items():
        arrays = SplitArrays.load(prepared, spec.vocab_size)
        # A quarter of the tutorial sample: at the defaults, batches run to the length cap.
        size = min(reviews, len(arrays.x_train)) // 4
        sample = rng.choice(len(arrays.x_train), size=size, replace=False)
        x, y = arrays.x_train[sample], arrays.y_train[sample]
        seed_everything(0)
        padded = build_model(name, spec, len(x) // spec.batch_size + 1, epochs, seed=0)
        padded_side = padded_fit(padded, x, y, spec.batch_size, epochs)
        ours = build_model(name, spec, len(x) // spec.batch_size + 1, epochs, seed=0)
        rates = compare_rates(
            padded_side,
            bucketed_fit(ours, x, y, spec.batch_size, epochs),
            len(x) * epochs,
            repeats,
        )
        keras.backend.clear_session()
        shape = (spec.embedding_dim, spec.units, spec.layers)
        results[name] = {
            "padded_to_cap_examples_per_second_at_defaults": round(rates["reference"], 1),
            "project_examples_per_second_at_defaults": round(rates["project"], 1),
            "speedup_at_defaults": round(rates["project"] / rates["reference"], 3),
            "speedup_at_defaults_wall": round(rates["project_wall"] / rates["reference_wall"], 3),
            "max_len": int(x.shape[1]),
            "reviews_at_defaults": int(len(x)),
            "flops_per_example_padded_at_defaults": flops_per_example(
                spec.arch, *shape, x.shape[1]
            ),
            "flops_per_example_project_at_defaults": flops_per_example(
                spec.arch, *shape, mean_steps(x, spec.batch_size)
            ),
        }
        log.info("throughput %s (defaults): %s", name, results[name])
    return results


def mean_steps(x: np.ndarray, batch: int) -> float:
    """Recurrent steps per review when length-bucketed batches are cut to their longest."""
    from imdb_sentiment.models.batches import bucketed_batches

    lengths = np.maximum((x != 0).sum(axis=1), 1)
    plan = bucketed_batches(lengths, batch, seed=0)
    return sum(int(lengths[rows].max()) * len(rows) for rows in plan) / len(x)


# The examples/s key of each side of a ratio in a `throughput` row (its FLOPs and peak-fraction
# keys end in the side's name).
RATES = {
    "reference": "reference_examples_per_second",
    "project": "project_examples_per_second",
    "padded_at_defaults": "padded_to_cap_examples_per_second_at_defaults",
    "project_at_defaults": "project_examples_per_second_at_defaults",
}


def add_peak_fractions(rows: dict, gflops: float) -> None:
    """Beside each rate in ``rows`` (what `throughput` returns), the fraction of the matmul
    peak ``gflops`` that its FLOPs per second reach."""
    for row in rows.values():
        for side, rate in RATES.items():
            if rate in row:
                achieved = row[f"flops_per_example_{side}"] * row[rate]
                row[f"fraction_of_matmul_peak_{side}"] = round(achieved / (gflops * 1e9), 4)
