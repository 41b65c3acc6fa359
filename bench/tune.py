"""Pick defaults on the validation split (never the test set): train candidates, print val curves.

    python bench/tune.py --arch gru --max-len 400 --vocab-size 20000 --pooling mean

Uses the project's own prepare, model and batching code; no MLflow, no DVC. Each result is
appended to bench/tuning.jsonl so the choice of defaults can be traced.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from imdb_sentiment.data import PreparedPaths, prepare_dataset
from imdb_sentiment.models import build_model
from imdb_sentiment.params import load_params
from imdb_sentiment.training import make_dataset, seed_everything

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = ROOT / "data" / "raw" / "aclImdb_v1.tar.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", action="append", required=True)
    parser.add_argument("--max-len", type=int)
    parser.add_argument("--vocab-size", type=int)
    parser.add_argument("--pooling")
    parser.add_argument("--units", type=int)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--embedding-dim", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patience", type=int, default=2)
    args = parser.parse_args()

    params = load_params(ROOT / "params.yaml")
    prepare = dataclasses.replace(
        params.prepare,
        **{k: v for k, v in {"max_len": args.max_len, "vocab_size": args.vocab_size}.items() if v},
    )
    train = dataclasses.replace(
        params.train,
        epochs=args.epochs,
        patience=args.patience,
        **{
            k: v
            for k, v in {
                "embedding_dim": args.embedding_dim,
                "learning_rate": args.learning_rate,
                "batch_size": args.batch_size,
            }.items()
            if v
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared"
        prepare_dataset(ARCHIVE, prepared, prepare, params.seed)
        data = np.load(PreparedPaths(prepared).sequences)
        for arch in args.arch:
            overrides = {"units": args.units, "dropout": args.dropout, "pooling": args.pooling}
            spec = dataclasses.replace(
                params.models[arch], **{k: v for k, v in overrides.items() if v is not None}
            )
            seed_everything(params.seed)
            model = build_model(arch, prepare.vocab_size, train, spec)
            stopper = keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=train.patience, restore_best_weights=True
            )
            started = time.perf_counter()
            train_data, steps = make_dataset(
                data["x_train"], data["y_train"], train.batch_size, params.seed, epochs=train.epochs
            )
            history = model.fit(
                train_data,
                steps_per_epoch=steps,
                validation_data=make_dataset(data["x_val"], data["y_val"], train.batch_size, None)[
                    0
                ],
                epochs=train.epochs,
                callbacks=[stopper],
                verbose=2,
            ).history
            best = int(np.argmin(history["val_loss"]))
            result = {
                "arch": arch,
                "prepare": dataclasses.asdict(prepare),
                "train": dataclasses.asdict(train),
                "model": dataclasses.asdict(spec),
                "val_accuracy": history["val_accuracy"][best],
                "best_epoch": best + 1,
                "epochs_run": len(history["val_loss"]),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(json.dumps(result), flush=True)
            with (ROOT / "bench" / "tuning.jsonl").open("a") as out:
                out.write(json.dumps(result) + "\n")
            keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    sys.exit(main())
