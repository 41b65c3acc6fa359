"""The pretraining study's language model: its corpus (the train split and the unlabeled
reviews, through the project's text path), the model (embedding -> LSTM -> projection tied to
the embedding, a sampled softmax), and its resumable training, one phase at a time.

Its settings come from bench/pretrain.py's command line (``args``).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from imdb_sentiment.files import read_json, write_json

log = logging.getLogger(__name__)


def lm_corpus(args: argparse.Namespace) -> dict:
    """Id streams for the language model: the train split's reviews and the unlabeled ones,
    through the project's text path and vocabulary (built on the train split alone)."""
    import pandas as pd

    from imdb_sentiment.data.prepare import PreparedPaths
    from imdb_sentiment.data.text import Vocabulary, tokenize

    prepared = PreparedPaths(args.prepared)
    vocab = Vocabulary(Vocabulary.load(prepared.vocab).tokens[: args.vocab_size])
    reviews = pd.read_parquet(prepared.reviews, columns=["split", "text"])
    train_text = reviews.text[reviews.split == "train"].tolist()
    unlabeled = read_unlabeled(prepared, args.archive)
    rng = np.random.default_rng(0)
    general = train_text + unlabeled
    if args.lm_reviews:
        general = [general[i] for i in rng.choice(len(general), args.lm_reviews, replace=False)]
    order = rng.permutation(len(general))
    held = set(order[: max(1, len(general) // 100)].tolist())
    encode = [np.asarray(vocab.ids(tokenize(text)), dtype=np.int32) for text in general]
    kept = [ids for i, ids in enumerate(encode) if i not in held]
    held_out = [ids for i, ids in enumerate(encode) if i in held]
    if args.lm_reviews:  # a smoke run: the target text sampled too
        train_text = [train_text[i] for i in rng.choice(len(train_text), args.lm_reviews)]
    target = [np.asarray(vocab.ids(tokenize(text)), dtype=np.int32) for text in train_text]
    summary = {
        "train_reviews": int((reviews.split == "train").sum()),
        "unlabeled_reviews": len(unlabeled),
        "lm_reviews": len(kept),
        "lm_tokens": int(sum(len(ids) for ids in kept)),
        "held_out_reviews": len(held_out),
        "target_tokens": int(sum(len(ids) for ids in target)),
        "vocab_size": len(vocab),
    }
    log.info("language-model corpus: %s", summary)
    return {"general": kept, "held_out": held_out, "target": target, "summary": summary}


def read_unlabeled(prepared, archive: Path) -> list[str]:
    """The unlabeled reviews' text: what `prepare` kept of them, else read from ``archive``
    by the same reader (never a label)."""
    import tempfile

    import pandas as pd

    from imdb_sentiment.data.prepare import read_reviews

    if prepared.unlabeled.exists():
        texts = pd.read_parquet(prepared.unlabeled, columns=["text"]).text.tolist()
    else:
        with tempfile.TemporaryDirectory() as scratch:
            texts = read_reviews(archive, Path(scratch))[1].text.tolist()
    if not texts:
        raise SystemExit(
            f"no unlabeled reviews in {prepared.root} or {archive}: use the full archive"
        )
    return texts


def segments(streams: list[np.ndarray], length: int, seed: int) -> np.ndarray:
    """The reviews end to end, cut into rows of ``length + 1`` tokens (inputs + next words),
    in a seeded order."""
    flat = np.concatenate(streams)
    rows = (len(flat) - 1) // length
    starts = np.arange(rows) * length
    cut = flat[starts[:, None] + np.arange(length + 1)]
    return cut[np.random.default_rng(seed).permutation(rows)]


class LanguageModel:
    """Embedding -> LSTM -> projection to the embedding size; the logits are the projection
    times the embedding matrix (tied weights) plus a bias, trained by sampled softmax."""

    def __init__(self, args: argparse.Namespace):
        import keras

        self.args = args
        self.embedding = keras.layers.Embedding(args.vocab_size, args.embedding_dim, name="emb")
        self.lstm = keras.layers.LSTM(args.units, return_sequences=True, name="lstm")
        self.project = keras.layers.Dense(args.embedding_dim, name="project")
        inputs = keras.Input(shape=(None,), dtype="int32")
        hidden = keras.layers.Dropout(0.1, seed=1)(self.lstm(self.embedding(inputs)))
        self.model = keras.Model(inputs, self.project(hidden))
        self.bias = keras.Variable(np.zeros(args.vocab_size, np.float32), name="softmax_bias")
        self.variables = [*self.model.trainable_variables, self.bias]

    def sampled_loss(self, x, y, training: bool):  # -> a scalar tf.Tensor
        import tensorflow as tf

        hidden = self.model(x, training=training)
        return tf.reduce_mean(
            tf.nn.sampled_softmax_loss(
                weights=self.embedding.embeddings.value,
                biases=self.bias.value,
                labels=tf.reshape(tf.cast(y, tf.int64), [-1, 1]),
                inputs=tf.reshape(hidden, [-1, self.args.embedding_dim]),
                num_sampled=self.args.sampled,
                num_classes=self.args.vocab_size,
            )
        )

    def full_loss(self, x, y):  # -> a scalar tf.Tensor: the exact cross-entropy
        import tensorflow as tf

        hidden = self.model(x, training=False)
        logits = tf.matmul(hidden, self.embedding.embeddings.value, transpose_b=True) + self.bias
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        )

    def save(self, path: Path) -> None:
        weights = [v.numpy() for v in self.variables]
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, *weights)
        partial.replace(path)

    def load(self, path: Path) -> None:
        with np.load(path) as saved:
            for i, variable in enumerate(self.variables):
                variable.assign(saved[f"arr_{i}"])


def train_language_model(
    phase: str,
    streams: list[np.ndarray],
    held_out: list[np.ndarray],
    epochs: int,
    lr: float,
    args: argparse.Namespace,
    done: dict,
) -> dict:
    """Train (or resume) one LM phase; its loss curve goes to MLflow every 100 steps and its
    weights to ``args.work / f"{phase}.npz"`` after every epoch."""
    import keras
    import mlflow
    import tensorflow as tf

    args.work.mkdir(parents=True, exist_ok=True)
    history = done.get("epochs", [])
    if len(history) >= epochs and (args.work / f"{phase}.npz").exists():
        log.info("%s: done (%d epochs), skipped", phase, len(history))
        return done
    keras.utils.set_random_seed(0)
    lm = LanguageModel(args)
    start_from = args.work / f"{phase}.npz" if history else None
    if start_from is None and phase == "lm_target":
        start_from = args.work / "lm.npz"
    if start_from is not None:
        lm.load(start_from)
    rows_per_epoch = sum(len(s) for s in streams) // args.segment
    steps = rows_per_epoch // args.lm_batch
    schedule = keras.optimizers.schedules.CosineDecay(
        lr / 10,
        decay_steps=steps * epochs,
        warmup_target=lr,
        warmup_steps=max(1, steps * epochs // 10),
        alpha=0.1,
    )
    optimizer = keras.optimizers.Adam(learning_rate=schedule, clipnorm=1.0)
    optimizer.build(lm.variables)
    optimizer.iterations.assign(steps * len(history))

    @tf.function(reduce_retracing=True)
    def step(batch):
        with tf.GradientTape() as tape:
            loss = lm.sampled_loss(batch[:, :-1], batch[:, 1:], training=True)
        optimizer.apply(tape.gradient(loss, lm.variables), lm.variables)
        return loss

    held = segments(held_out, args.segment, seed=1)[:2048]
    evaluate = tf.function(lambda b: lm.full_loss(b[:, :-1], b[:, 1:]), reduce_retracing=True)

    def held_out_loss() -> float:
        losses = [float(evaluate(held[i : i + 256])) for i in range(0, len(held), 256)]
        return float(np.mean(losses))

    run_id = done.get("run_id")
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else phase) as run:
        if not run_id:
            mlflow.log_params({"phase": phase, "epochs": epochs, "lr": lr} | lm_params(args))
        for epoch in range(len(history), epochs):
            rows = segments(streams, args.segment, seed=1000 + epoch)
            started = time.perf_counter()
            losses = []
            for i in range(steps):
                losses.append(
                    float(step(tf.constant(rows[i * args.lm_batch : (i + 1) * args.lm_batch])))
                )
                if (i + 1) % 100 == 0:
                    global_step = epoch * steps + i + 1
                    mlflow.log_metric("sampled_loss", float(np.mean(losses[-100:])), global_step)
                if (i + 1) % 1000 == 0:
                    log.info(
                        "%s epoch %d: step %d/%d, sampled loss %.3f, %.0f tokens/s",
                        phase,
                        epoch + 1,
                        i + 1,
                        steps,
                        np.mean(losses[-1000:]),
                        (i + 1) * args.lm_batch * args.segment / (time.perf_counter() - started),
                    )
            seconds = time.perf_counter() - started
            loss = held_out_loss()
            mlflow.log_metric("held_out_loss", loss, (epoch + 1) * steps)
            lm.save(args.work / f"{phase}.npz")
            history.append(
                {
                    "epoch": epoch + 1,
                    "sampled_loss": round(float(np.mean(losses[-1000:])), 4),
                    "held_out_loss": round(loss, 4),
                    "held_out_perplexity": round(float(np.exp(loss)), 1),
                    "seconds": round(seconds, 1),
                }
            )
            log.info("%s epoch %d: %s", phase, epoch + 1, history[-1])
            done = {"run_id": run.info.run_id, "epochs": history, "steps_per_epoch": steps}
            _save_phase(args, phase, done)
    return done


def lm_params(args: argparse.Namespace) -> dict:
    """The settings that shape the language model, as MLflow params."""
    keys = ("vocab_size", "embedding_dim", "units", "segment", "lm_batch", "sampled")
    return {k: getattr(args, k) for k in keys}


def _save_phase(args: argparse.Namespace, phase: str, done: dict) -> None:
    """The phase so far into the study's results file (atomic: a killed study keeps it)."""
    results = read_json(args.results) if args.results.exists() else {}
    results[phase] = done
    write_json(args.results, results)
