"""Train one neural model (recurrent, or dan): resumable, early-stopped, every epoch tracked in
MLflow."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm import tqdm

from imdb_sentiment.data.prepare import PreparedPaths, prepared_params
from imdb_sentiment.data.text import Vocabulary
from imdb_sentiment.data.word_vectors import VECTORS_FILE, EmbeddingStart, WordVectors
from imdb_sentiment.files import atomic_path, read_json, write_json
from imdb_sentiment.models.batches import SplitArrays, make_dataset, steps_per_epoch
from imdb_sentiment.models.networks import build_model
from imdb_sentiment.params import (
    ModelParams,
    Params,
    TrainParams,
    as_dict,
    flatten_params,
)
from imdb_sentiment.paths import WORD_VECTORS
from imdb_sentiment.progress import on_terminal
from imdb_sentiment.report.plots import plot_learning_curves
from imdb_sentiment.runtime import training_device
from imdb_sentiment.serving.model_folder import write_model_folder
from imdb_sentiment.serving.predictors import KERAS_FILE, TEXT_CONFIG_FILE, VOCAB_FILE
from imdb_sentiment.tracking.runs import log_dataset, model_run, prepared_dataset

log = logging.getLogger(__name__)

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def seed_everything(seed: int) -> None:
    """Same params + same data -> same weights and metrics (Python, NumPy, TF, op kernels)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class EpochSeeds(keras.callbacks.Callback):
    """Dropout masks keyed on (layer seed, epoch), so a run resumed at epoch k draws exactly
    the masks an uninterrupted run draws there.

    A saved model keeps its layers' seeds but not how far each seed generator has advanced,
    so without this a resumed run trains on other dropout masks (issue: resume != fresh).
    """

    EPOCH_STRIDE = 1 << 24  # draws per epoch a generator may make before two epochs overlap

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._generators = [
            (v, int(v.numpy()[0])) for v in self.model.variables if "seed_generator" in v.path
        ]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for state, seed in self._generators:
            state.assign(np.array([seed, epoch * self.EPOCH_STRIDE], dtype=state.dtype))


def fit_recurrent(
    model: keras.Model,
    spec: ModelParams,
    arrays: SplitArrays,
    seed: int,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
    initial_epoch: int = 0,
) -> None:
    """``model.fit`` on length-bucketed batches from ``initial_epoch`` up to ``epochs``: the
    one training loop that the pipeline, the tuning search and the benchmark share."""
    train_data, steps = make_dataset(
        arrays.x_train,
        arrays.y_train,
        spec.batch_size,
        seed,
        first_epoch=initial_epoch,
        epochs=epochs - initial_epoch,
    )
    model.fit(
        train_data,
        steps_per_epoch=steps,
        validation_data=make_dataset(arrays.x_val, arrays.y_val, spec.batch_size, None)[0],
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=[EpochSeeds(), *([BatchProgress()] if on_terminal() else []), *callbacks],
        shuffle=False,  # the batches shuffle themselves, seeded
        verbose=0,  # one line per epoch comes from the callbacks instead of redrawn bars
    )


class BatchProgress(keras.callbacks.Callback):
    """A bar within each epoch, for a person at a terminal; the one log line per epoch stays."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        what = f"epoch {epoch + 1}/{self.params['epochs']}"
        self.bar = tqdm(total=self.params["steps"], desc=what, unit="batch", leave=False)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.bar.close()


def early_stopping(
    train: TrainParams, resume: dict[str, Any] | None = None
) -> ResumableEarlyStopping:
    """Stop after ``train.patience`` epochs without a better val_loss; keep the best weights."""
    return ResumableEarlyStopping(
        resume=resume, monitor="val_loss", patience=train.patience, restore_best_weights=True
    )


def fit_model(
    name: str,
    spec: ModelParams,
    arrays: SplitArrays,
    seed: int,
    train: TrainParams,
    stopper: ResumableEarlyStopping,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    resumed: keras.Model | None = None,
    initial_epoch: int = 0,
    start: EmbeddingStart | None = None,
) -> keras.Model:
    """Seed, build, early-stop and fit one neural model: the one way `train@NAME`, the
    tuning search and the benchmark train, so the three train the same thing by construction.

    ``resumed`` is a checkpoint's model, trained on from ``initial_epoch`` (not rebuilt, not
    reseeded: its weights and optimizer state are the checkpoint's). ``start``: where the
    embedding starts for ``embedding_init: word_vectors`` (see `embedding_start`).
    """
    if (start is not None) != (spec.embedding_init == "word_vectors") and resumed is None:
        raise ValueError(
            f"{name}: embedding_init {spec.embedding_init} with "
            f"{'a' if start is not None else 'no'} word-vector start; see embedding_start"
        )
    model = resumed
    if model is None:
        # Seeded right here: whatever ran before (a checkpoint that failed to load, say) may
        # have drawn from the global RNG.
        seed_everything(seed)
        model = build_model(
            name,
            spec,
            steps_per_epoch(len(arrays.x_train), spec.batch_size),
            train.epochs,
            seed,
            start,
        )
    fit_recurrent(
        model, spec, arrays, seed, train.epochs, [stopper, *callbacks], initial_epoch=initial_epoch
    )
    return model


def embedding_start(
    spec: ModelParams, prepared: PreparedPaths, vectors_dir: Path = WORD_VECTORS
) -> EmbeddingStart | None:
    """Where a model's embedding starts: None for Keras' random init; for ``embedding_init:
    word_vectors``, the rows of its vocabulary (the prepared one, cut to ``spec.vocab_size``)
    that the word_vectors stage has a vector for, looked up by the same token string in
    every corpus."""
    if spec.embedding_init == "random":
        return None
    vectors = WordVectors.load(vectors_dir, spec.embedding_dim)
    return vectors.start(Vocabulary.load(prepared.vocab).tokens[: spec.vocab_size])


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping whose patience count and best weights survive a restart."""

    def __init__(self, resume: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._resume = resume

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self._resume:
            self.wait = self._resume["wait"]
            self.best = self._resume["best"]
            self.best_epoch = self._resume["best_epoch"]
            self.best_weights = self._resume["best_weights"]

    def state(self) -> dict[str, Any]:
        best = None if self.best is None else float(self.best)
        return {"wait": int(self.wait), "best": best, "best_epoch": int(self.best_epoch)}


class EpochRecorder(keras.callbacks.Callback):
    """After every epoch: one progress line, the metrics in MLflow, and a checkpoint.

    Metrics are logged synchronously (MLflow's own Keras callback queues them, and a killed
    run loses the queue). The checkpoint is the full model (weights + optimizer state), the
    early-stopping state with its best weights, and the history so far; ``state.json`` is
    written last, so it only ever describes files that are complete.
    """

    def __init__(self, folder: Path, early_stopping: ResumableEarlyStopping, state: dict):
        super().__init__()
        self.folder = folder
        self.early_stopping = early_stopping
        self.state = state
        self._epoch_start = self._train_end = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._train_end = 0.0

    def on_test_begin(self, logs: dict | None = None) -> None:
        # Validation runs inside the epoch; training speed excludes it.
        self._train_end = self._train_end or time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        train_seconds = (self._train_end or now) - self._epoch_start
        row = {"epoch": epoch + 1, **{k: float(logs[k]) for k in HISTORY_KEYS}}
        row["train_seconds"] = round(train_seconds, 3)
        mlflow.log_metrics({k: row[k] for k in HISTORY_KEYS}, step=epoch)
        self.state["history"].append(row)
        self.state["epochs_done"] = epoch + 1
        self.state["stopped"] = bool(self.model.stop_training)
        self.state["early_stopping"] = self.early_stopping.state()
        log.info(
            "epoch %d/%d  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f  %.1fs",
            epoch + 1,
            self.params["epochs"],
            row["loss"],
            row["accuracy"],
            row["val_loss"],
            row["val_accuracy"],
            now - self._epoch_start,
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / "last.partial.keras"  # Keras insists on the .keras suffix
        self.model.save(partial)
        partial.replace(self.folder / "last.keras")
        if self.early_stopping.best_epoch == epoch and self.early_stopping.best_weights:
            with atomic_path(self.folder / "best_weights.npz") as tmp, tmp.open("wb") as handle:
                np.savez(handle, *self.early_stopping.best_weights)
        write_json(self.folder / "state.json", self.state)


class SummaryLogger(keras.callbacks.Callback):
    """The model's size in the log and, for a new run, its layer summary in MLflow."""

    def __init__(self, run_is_new: bool):
        super().__init__()
        self.run_is_new = run_is_new

    def on_train_begin(self, logs: dict | None = None) -> None:
        log.info("%s: %d parameters", self.model.name, self.model.count_params())
        if self.run_is_new:
            mlflow.log_text(_summary_text(self.model), "model_summary.txt")


def train_recurrent(
    name: str,
    params: Params,
    prepared_dir: Path,
    out_dir: Path,
    checkpoint_dir: Path,
    vectors_dir: Path = WORD_VECTORS,
) -> dict[str, Any]:
    """Train model ``name`` on the prepared data, log its run, write ``out_dir``; return its
    summary. ``vectors_dir``: the word_vectors stage's folder (read for ``embedding_init:
    word_vectors`` only).

    ``checkpoint_dir`` outlives a killed run (DVC deletes a stage's outputs before it reruns);
    it is only trusted when its fingerprint matches these params and this data, and is removed
    once the model is safely written.
    """
    seed_everything(params.seed)  # op determinism, and a seeded start for the checkpoint load
    prepared = PreparedPaths(prepared_dir)
    prepare_config = read_json(prepared.config)
    spec = params.models[name]
    arrays = SplitArrays.load(prepared, spec.vocab_size)
    start = embedding_start(spec, prepared, vectors_dir)
    used = [prepared.sequences] + ([vectors_dir / VECTORS_FILE] if start is not None else [])
    fingerprint = _fingerprint(name, params, used)
    state, resume, checkpoint_model = _load_checkpoint(checkpoint_dir, fingerprint)
    epochs = params.train.epochs

    with model_run(name, spec.family, params.corpus, resume_run_id=state.get("run_id")) as run:
        if not resume:
            state = {"fingerprint": fingerprint, "run_id": run.info.run_id, "history": []}
            mlflow.log_params(
                {
                    "seed": params.seed,
                    **prepared_params(prepare_config),
                    **flatten_params(params.train, "train"),
                    **flatten_params(spec, "model"),
                }
            )
            log_dataset(prepared_dataset(prepared_dir, "train"), "training")
            if start is not None:  # how many of its words the vectors gave a start
                mlflow.log_metric("embedding_words_from_vectors", len(start.rows))
        if start is not None:
            log.info(
                "%s: %d of its %d vocabulary words start from their word vectors",
                name,
                len(start.rows),
                start.size - 2,
            )
        n_train = len(arrays.x_train)
        stopper = early_stopping(params.train, resume)
        initial_epoch = epochs if state.get("stopped") else state.get("epochs_done", 0)
        if initial_epoch:
            log.info("resuming %s from its checkpoint after epoch %d", name, initial_epoch)
        log.info("training %s on %d reviews", name, n_train)
        log.info("device: %s", training_device())
        model = fit_model(
            name,
            spec,
            arrays,
            params.seed,
            params.train,
            stopper,
            [EpochRecorder(checkpoint_dir, stopper, state), SummaryLogger(run_is_new=not resume)],
            resumed=checkpoint_model,
            initial_epoch=initial_epoch,
            start=start,
        )
        summary = _summarize(state, n_train, model.count_params())
        log.info(
            "%s: best epoch %d of %d, val_accuracy %.4f, %.0f examples/s",
            name,
            summary["best_epoch"],
            summary["epochs_run"],
            summary["best_val_accuracy"],
            summary["train_examples_per_second"],
        )
        mlflow.log_metrics(
            {
                "best_val_accuracy": summary["best_val_accuracy"],
                "train_seconds": summary["train_seconds"],
                "train_examples_per_second": summary["train_examples_per_second"],
                "best_epoch": summary["best_epoch"],
                "epochs_run": summary["epochs_run"],
                "parameters": summary["parameters"],
            }
        )
        with write_model_folder(out_dir, run, summary, ["tensorflow", "keras"]) as folder:
            model.save(folder.predictor / KERAS_FILE)
            # The model's own vocabulary: the prefix it was trained on, so the served text
            # path maps every rarer word to out-of-vocabulary exactly as training did.
            vocab = Vocabulary.load(prepared.vocab)
            Vocabulary(vocab.tokens[: spec.vocab_size]).save(folder.predictor / VOCAB_FILE)
            write_json(folder.predictor / TEXT_CONFIG_FILE, _text_config(prepare_config))
            history = pd.DataFrame(state["history"])
            history.to_csv(folder.root / "history.csv", index=False)
            curves = plot_learning_curves(
                history,
                f"{name}: learning curves (weights kept from epoch {summary['best_epoch']})",
                folder.root / "learning_curves.png",
                best_epoch=summary["best_epoch"],
            )
            mlflow.log_artifact(str(curves))
            mlflow.log_artifact(str(folder.root / "history.csv"))
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return summary | folder.record


def _summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return "\n".join(lines)


def _text_config(prepare_config: dict[str, Any]) -> dict[str, Any]:
    prepare = prepare_config["prepare"]
    return {"max_len": prepare["max_len"], "truncating": prepare["truncating"]}


def _summarize(state: dict[str, Any], n_train: int, parameters: int) -> dict[str, Any]:
    history = state["history"]
    best = state["early_stopping"]["best_epoch"]
    train_seconds = sum(row["train_seconds"] for row in history)
    return {
        "epochs_run": len(history),
        "best_epoch": best + 1,
        "best_val_loss": history[best]["val_loss"],
        "best_val_accuracy": history[best]["val_accuracy"],
        "stopped_early": bool(state.get("stopped")),
        "train_seconds": round(train_seconds, 2),
        "train_examples_per_second": round(n_train * len(history) / train_seconds, 1),
        "parameters": parameters,
    }


def _fingerprint(name: str, params: Params, data: list[Path]) -> str:
    digest = hashlib.sha256()
    config = {
        "name": name,
        "seed": params.seed,
        "train": as_dict(params.train),
        "model": as_dict(params.models[name]),
    }
    digest.update(json.dumps(config, sort_keys=True).encode())
    for path in data:  # the prepared ids, and the word vectors of a model that starts there
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _load_checkpoint(
    folder: Path, fingerprint: str
) -> tuple[dict[str, Any], dict[str, Any] | None, keras.Model | None]:
    """(state, early-stopping resume state, model) of a matching checkpoint, else an empty
    start.

    A checkpoint that cannot be read (a file cut short by a full disk or a lost machine) is
    removed with one log line naming the file: training starts afresh instead of stopping.
    """
    state_file = folder / "state.json"
    if not state_file.exists():
        shutil.rmtree(folder, ignore_errors=True)
        return {}, None, None
    reading = state_file
    try:
        state = read_json(state_file)
        if state.get("fingerprint") != fingerprint or not (folder / "last.keras").exists():
            log.info("checkpoint in %s is from other params or data; starting afresh", folder)
            shutil.rmtree(folder, ignore_errors=True)
            return {}, None, None
        best_weights = None
        reading = folder / "best_weights.npz"
        if reading.exists():
            with np.load(reading) as saved:
                best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        reading = folder / "last.keras"
        if not zipfile.is_zipfile(reading):  # Keras would call a cut-short file "not found"
            return _start_afresh(folder, reading, "not a complete .keras zip file")
        model = keras.models.load_model(reading, safe_mode=True)
        resume = {**state["early_stopping"], "best_weights": best_weights}
    except Exception as exc:  # whatever the damage, the remedy is a fresh start
        message = " ".join(str(exc).split())[:200]
        return _start_afresh(folder, reading, f"{type(exc).__name__}: {message}".rstrip(": "))
    return state, resume, model


def _start_afresh(folder: Path, unreadable: Path, reason: str) -> tuple[dict, None, None]:
    log.warning("checkpoint %s is unreadable (%s); starting afresh", unreadable, reason)
    shutil.rmtree(folder, ignore_errors=True)
    return {}, None, None
