"""The pretraining study: does a language model trained on IMDB's unlabeled reviews make a
recurrent classifier better than the same classifier from random weights?

    python -m bench.pretrain --prepared data/prepared/imdb      # the whole study; a rerun resumes
    python -m bench.pretrain --seeds 44 --results b.json   # a second process, other seeds ...
    python -m bench.pretrain --merge b.json                # ... joined before the summary

1. ``lm``: a word-level language model (embedding -> LSTM -> projection, its output tied to the
   embedding, a sampled softmax) on the train split plus the archive's 50,000 unlabeled
   reviews, 1% of them held out for its validation loss. Validation and test text never
   reach it. Checkpointed after every epoch.
2. ``lm_target``: the same model, further trained on the labeled train split's text alone
   (the target text first, as ULMFiT does).
3. For each seed, two classifiers with the same architecture (the LM's embedding and LSTM,
   then last + max + mean pooling over time, dropout, sigmoid) and the same schedule (linear
   warmup, then cosine decay), trained by the project's loop (``fit_recurrent``: bucketed
   batches, early stopping on val_loss, best weights kept):
   - ``pretrained``: started from the LM, with discriminative learning rates (each lower
     layer group a factor ``--lr-decay`` slower) and gradual unfreezing (epoch 1 the head,
     epoch 2 the LSTM too, then everything);
   - ``random``: its twin from random weights, every layer trained from the start.
   Both are scored on validation (which decides) and test (which is reported).

Every phase is an MLflow run in the experiment ``pretraining-study`` of the project's store;
``bench/pretrain.json`` gets each result as it arrives, so a killed study loses at most the
epoch or classifier in progress.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench import BENCH, PRETRAIN_JSON, ROOT
from bench.language_model import LanguageModel, lm_corpus, lm_params, train_language_model
from imdb_sentiment.files import read_json, write_json
from imdb_sentiment.tracking.runs import git_commit

EXPERIMENT = "pretraining-study"
VARIANTS = ("pretrained", "random")

log = logging.getLogger(__name__)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", type=Path, default=ROOT / "data" / "prepared" / "imdb")
    parser.add_argument(
        "--archive", type=Path, default=ROOT.parent / "shared" / "data" / "aclImdb_v1_full.tar.gz"
    )
    parser.add_argument("--work", type=Path, default=BENCH / "pretrain", help="checkpoints")
    parser.add_argument("--results", type=Path, default=PRETRAIN_JSON)
    parser.add_argument("--seeds", type=int, nargs="*", default=[42, 43, 44])
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--segment", type=int, default=70, help="LM tokens per sequence")
    parser.add_argument("--lm-batch", type=int, default=64)
    parser.add_argument("--lm-epochs", type=int, default=1)
    parser.add_argument("--lm-target-epochs", type=int, default=1)
    parser.add_argument("--lm-lr", type=float, default=2e-3)
    parser.add_argument("--sampled", type=int, default=1024, help="sampled softmax classes")
    parser.add_argument("--lm-reviews", type=int, default=0, help="0: all; else a sample")
    parser.add_argument("--epochs", type=int, default=3, help="classifier epochs at most")
    parser.add_argument("--patience", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3, help="classifier head's peak rate")
    parser.add_argument("--lr-decay", type=float, default=2.6, help="per lower layer group")
    parser.add_argument("--dropout", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads")
    parser.add_argument("--max-train", type=int, default=0, help="0: all; else a sample")
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, help="to train"
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="*",
        default=[],
        help="results files of other processes of this study (the same settings, other "
        "seeds or variants): their classifiers join --results before the summary",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import mlflow

    from imdb_sentiment.tracking.store import configure_tracking

    configure_tracking()
    mlflow.set_experiment(EXPERIMENT)
    results = _load(args.results)
    # The commit that started the study (its language model); a resumed or merging run keeps it.
    results.setdefault("commit", git_commit(ROOT))
    results["settings"] = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in ("results", "merge", "prepared", "archive", "work")  # this machine's paths
    }
    corpus = lm_corpus(args)
    results["corpus"] = corpus["summary"]
    write_json(args.results, results)
    for phase, streams, epochs, lr in (
        ("lm", corpus["general"], args.lm_epochs, args.lm_lr),
        ("lm_target", corpus["target"], args.lm_target_epochs, args.lm_lr / 2),
    ):
        results[phase] = train_language_model(
            phase, streams, corpus["held_out"], epochs, lr, args, results.get(phase, {})
        )
        write_json(args.results, results)
    runs = results.setdefault("classifiers", {})
    for other in args.merge:
        merged = _load(other)
        if merged.get("lm") != results.get("lm") or _study_settings(merged) != _study_settings(
            results
        ):
            raise SystemExit(f"{other}: another study's results (its LM or settings differ)")
        runs.update({k: v for k, v in merged.get("classifiers", {}).items() if k not in runs})
    for seed in args.seeds:
        for variant in args.variants:
            key = f"{variant}/{seed}"
            if key in runs:
                continue
            runs[key] = train_classifier(variant, seed, args)
            write_json(args.results, results)
    results["summary"] = summarize(runs)
    write_json(args.results, results)
    log.info("summary: %s", json.dumps(results["summary"]))
    return 0


def _study_settings(results: dict) -> dict:
    """The settings that make two processes' results one study (all but seeds and paths)."""
    skip = {"seeds", "variants", "merge", "work", "prepared", "archive"}
    return {k: v for k, v in results.get("settings", {}).items() if k not in skip}


def classifier(args: argparse.Namespace, seed: int, lm_weights: Path | None):  # -> keras.Model
    """The LM's embedding and LSTM, then last + max + mean pooling (concat pooling), dropout
    and a sigmoid; the LM's weights are copied in when ``lm_weights`` is given."""
    import keras
    from keras import ops

    class ConcatPooling(keras.layers.Layer):
        """The last real step, the max and the mean over real steps, side by side."""

        def call(self, inputs, mask=None):
            valid = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
            lengths = ops.maximum(ops.sum(valid, axis=1), 1.0)
            last_index = ops.cast(lengths - 1, "int32")[:, :, None]
            last = ops.squeeze(ops.take_along_axis(inputs, last_index, axis=1), 1)
            lowest = ops.full_like(inputs, -3.0e38)
            maximum = ops.max(ops.where(valid > 0, inputs, lowest), axis=1)
            mean = ops.sum(inputs * valid, axis=1) / lengths
            return ops.concatenate([last, maximum, mean], axis=-1)

        def compute_mask(self, inputs, mask=None):
            return None

    keras.utils.set_random_seed(seed)
    embedding = keras.layers.Embedding(
        args.vocab_size, args.embedding_dim, mask_zero=True, name="emb"
    )
    lstm = keras.layers.LSTM(args.units, return_sequences=True, name="lstm")
    head = keras.layers.Dense(1, activation="sigmoid", name="head")
    inputs = keras.Input(shape=(None,), dtype="int32")
    hidden = keras.layers.SpatialDropout1D(0.2, seed=seed + 1)(embedding(inputs))
    pooled = ConcatPooling()(lstm(hidden))
    outputs = head(keras.layers.Dropout(args.dropout, seed=seed + 2)(pooled))
    model = _discriminative_class()(inputs, outputs)
    if lm_weights is not None:
        source = LanguageModel(args)
        source.load(lm_weights)
        embedding.set_weights(source.embedding.get_weights())
        lstm.set_weights(source.lstm.get_weights())
    model.groups = [head, lstm, embedding]  # top first: group g learns at lr / decay**g
    return model


def _discriminative_class():
    import keras
    import tensorflow as tf

    class Discriminative(keras.Model):
        """A functional model whose layer groups each have their own optimizer (their own
        learning rate): Keras optimizers take one rate, and Adam ignores gradient scaling."""

        groups: list = []
        optimizers_by_group: list = []

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
            variables = self.trainable_variables
            gradients = dict(
                zip([id(v) for v in variables], tape.gradient(loss, variables), strict=True)
            )
            for layer, optimizer in zip(self.groups, self.optimizers_by_group, strict=True):
                pairs = [(gradients[id(v)], v) for v in layer.trainable_variables]
                if pairs:
                    optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return Discriminative


def train_classifier(variant: str, seed: int, args: argparse.Namespace) -> dict:
    """One classifier through the project's training loop; its val and test accuracy."""
    import keras
    import mlflow

    from imdb_sentiment.data.prepare import PreparedPaths
    from imdb_sentiment.data.text import limit_vocabulary
    from imdb_sentiment.models.batches import SplitArrays, make_dataset, steps_per_epoch
    from imdb_sentiment.models.training import ResumableEarlyStopping, fit_recurrent
    from imdb_sentiment.params import ModelParams

    prepared = PreparedPaths(args.prepared)
    arrays = SplitArrays.load(prepared, args.vocab_size)
    if args.max_train:
        keep = np.random.default_rng(seed).permutation(len(arrays.x_train))[: args.max_train]
        arrays = SplitArrays(arrays.x_train[keep], arrays.y_train[keep], arrays.x_val, arrays.y_val)
    with np.load(prepared.sequences) as data:
        x_test, y_test = limit_vocabulary(data["x_test"], args.vocab_size), data["y_test"]
    spec = ModelParams(
        arch="lstm",
        vocab_size=args.vocab_size,
        embedding_dim=args.embedding_dim,
        embedding_init="random",
        word_dropout=0.0,
        units=args.units,
        layers=1,
        dropout=args.dropout,
        embedding_dropout=0.2,
        pooling="last",
        batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_schedule="constant",
    )
    pretrained = variant == "pretrained"
    model = classifier(args, seed, args.work / "lm_target.npz" if pretrained else None)
    steps = steps_per_epoch(len(arrays.x_train), args.batch_size)
    model.optimizers_by_group = []
    for depth, layer in enumerate(model.groups):
        peak = args.lr / (args.lr_decay**depth if pretrained else 1.0)
        schedule = keras.optimizers.schedules.CosineDecay(
            peak / 10,
            decay_steps=steps * args.epochs,
            warmup_target=peak,
            warmup_steps=max(1, steps * args.epochs // 10),
            alpha=0.05,
        )
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
        optimizer.build(layer.trainable_variables)
        model.optimizers_by_group.append(optimizer)
    # Gradual unfreezing: epoch 1 the head alone, epoch 2 the LSTM too, then everything.
    stages = [(0, 1, 1), (1, 2, 2), (2, args.epochs, 3)] if pretrained else [(0, args.epochs, 3)]
    resume = None
    history: list[dict] = []
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"classifier {variant} seed {seed}"):
        mlflow.log_params({"variant": variant, "seed": seed} | lm_params(args))
        for first, last, groups in stages:
            if first >= last:
                break
            for depth, layer in enumerate(model.groups):
                layer.trainable = depth < groups
            model.compile(
                optimizer=keras.optimizers.SGD(), loss="binary_crossentropy", metrics=["accuracy"]
            )
            stopper = ResumableEarlyStopping(
                resume=resume, monitor="val_loss", patience=args.patience, restore_best_weights=True
            )
            fit_recurrent(model, spec, arrays, seed, last, [stopper], initial_epoch=first)
            for offset, values in enumerate(zip(*model.history.history.values(), strict=True)):
                row = dict(zip(model.history.history, map(float, values), strict=True))
                history.append({"epoch": first + offset + 1, **row})
                mlflow.log_metrics(row, step=first + offset)
                log.info("%s seed %d epoch %d: %s", variant, seed, first + offset + 1, row)
            resume = {**stopper.state(), "best_weights": stopper.best_weights}
            if stopper.stopped_epoch:
                break
        if resume["best_weights"] is not None:
            model.set_weights(resume["best_weights"])
        scored = {}
        for split, x, y in (("val", arrays.x_val, arrays.y_val), ("test", x_test, y_test)):
            data = make_dataset(x, y, 256, None)[0]
            scored[f"{split}_accuracy"] = float(
                model.evaluate(data, verbose=0, return_dict=True)["accuracy"]
            )
        mlflow.log_metrics(scored)
    result = {
        **{k: round(v, 5) for k, v in scored.items()},
        "best_epoch": resume["best_epoch"] + 1,
        "epochs_run": len(history),
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
    }
    log.info("%s seed %d: %s", variant, seed, {k: v for k, v in result.items() if k != "history"})
    keras.backend.clear_session()
    return result


def summarize(runs: dict) -> dict:
    """Per variant: mean and std over seeds of val and test accuracy; the pretrained gain on
    validation against twice the larger seed spread (the study's bar)."""
    out: dict = {}
    for variant in ("pretrained", "random"):
        rows = [r for key, r in runs.items() if key.startswith(f"{variant}/")]
        if not rows:
            continue
        out[variant] = {"seeds": len(rows)}
        for metric in ("val_accuracy", "test_accuracy"):
            values = np.array([r[metric] for r in rows])
            out[variant][f"{metric}_mean"] = round(float(values.mean()), 5)
            out[variant][f"{metric}_std"] = round(
                float(values.std(ddof=1)) if len(rows) > 1 else 0.0, 5
            )
    if {"pretrained", "random"} <= out.keys():
        gain = out["pretrained"]["val_accuracy_mean"] - out["random"]["val_accuracy_mean"]
        bar = 2 * max(out["pretrained"]["val_accuracy_std"], out["random"]["val_accuracy_std"])
        out["val_gain"] = round(gain, 5)
        out["bar"] = round(bar, 5)
        out["pays"] = bool(gain > bar)
    return out


def _load(path: Path) -> dict:
    return read_json(path) if path.exists() else {}


if __name__ == "__main__":
    sys.exit(main())
