"""The bag-of-n-grams baselines (the baseline@NAME stage): TF-IDF or naive-Bayes-weighted
binary n-gram counts, then logistic regression, over the project's own tokens."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from imdb_sentiment.data import PreparedPaths
from imdb_sentiment.files import read_json
from imdb_sentiment.model_folder import write_model_folder
from imdb_sentiment.nb_weighting import NBLogCountRatio
from imdb_sentiment.params import BaselineParams, Params, PrepareParams, flatten_params
from imdb_sentiment.runs import log_dataset, model_run, prepared_dataset
from imdb_sentiment.serving import PIPELINE_FILE
from imdb_sentiment.text import tokenize

log = logging.getLogger(__name__)


def build_features(params: BaselineParams) -> Pipeline:
    """Raw text -> weighted n-gram features, over the project tokenizer: the baseline sees
    exactly the recurrent models' words. TF-IDF, or binary counts times the NB ratio."""
    counting = {
        "tokenizer": tokenize,
        "lowercase": False,  # tokenize() already standardizes
        "token_pattern": None,
        "ngram_range": (1, params.ngram_max),
        "min_df": params.min_df,
        "max_features": params.max_features,
        "dtype": np.float32,
    }
    if params.weighting == "nb":
        steps = [("counts", CountVectorizer(binary=True, **counting)), ("nb", NBLogCountRatio())]
    else:
        steps = [("tfidf", TfidfVectorizer(sublinear_tf=params.sublinear_tf, **counting))]
    return Pipeline(steps)


def build_classifier(params: BaselineParams, c: float, seed: int) -> LogisticRegression:
    """Logistic regression at ``c``. liblinear for the NB features: on their ~10^6 columns
    lbfgs needs far more iterations for the same optimum (Wang & Manning fit a linear SVM)."""
    solver = "liblinear" if params.weighting == "nb" else "lbfgs"
    return LogisticRegression(C=c, max_iter=params.max_iter, solver=solver, random_state=seed)


def train_baseline(name: str, params: Params, prepared_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Fit TF-IDF on train, pick C on validation, log the run and write ``out_dir``."""
    prepared = PreparedPaths(prepared_dir)
    reviews = pd.read_parquet(prepared.reviews, columns=["split", "text", "label"])
    train, val = reviews[reviews.split == "train"], reviews[reviews.split == "val"]
    prepare_config = read_json(prepared.config)
    baseline = params.baselines[name]

    with model_run(name, "bag_of_words") as run:
        mlflow.log_params(
            {
                "seed": params.seed,
                **flatten_params(PrepareParams(**prepare_config["prepare"]), "prepare"),
                **flatten_params(baseline, "baseline"),
                "model.arch": f"{baseline.weighting}_logreg",
            }
        )
        log_dataset(prepared_dataset(prepared_dir, "train"), "training")
        started = time.perf_counter()
        vectorizer = build_features(baseline)
        x_train = vectorizer.fit_transform(train.text, train.label)
        x_val = vectorizer.transform(val.text)
        log.info("%s: %d terms from %d reviews", name, x_train.shape[1], len(train))
        # The features do not depend on C, so they are fitted once and shared by every candidate.
        candidates = []
        for step, c in enumerate(baseline.C):
            classifier = build_classifier(baseline, c, params.seed)
            classifier.fit(x_train, train.label)
            accuracy = float(classifier.score(x_val, val.label))
            candidates.append({"C": c, "val_accuracy": accuracy, "classifier": classifier})
            mlflow.log_metric("selection_val_accuracy", accuracy, step=step)
            log.info("%s: C=%g val_accuracy %.4f", name, c, accuracy)
        best = max(candidates, key=lambda candidate: candidate["val_accuracy"])
        train_seconds = time.perf_counter() - started
        pipeline = Pipeline([("features", vectorizer), ("classifier", best["classifier"])])
        summary = {
            "selected_C": best["C"],
            "best_val_accuracy": best["val_accuracy"],
            "train_seconds": round(train_seconds, 2),
            "train_examples_per_second": round(len(train) * len(candidates) / train_seconds, 1),
            "parameters": int(x_train.shape[1] + 1),
        }
        mlflow.log_params({"baseline.C_selected": best["C"]})
        mlflow.log_metrics(
            {
                k: summary[k]
                for k in (
                    "best_val_accuracy",
                    "train_seconds",
                    "train_examples_per_second",
                    "parameters",
                )
            }
        )
        log.info("%s: selected C=%g (val_accuracy %.4f)", name, best["C"], best["val_accuracy"])
        with write_model_folder(out_dir, run, summary, ["scikit-learn"]) as folder:
            joblib.dump(pipeline, folder.predictor / PIPELINE_FILE)
            selection = pd.DataFrame([{k: c[k] for k in ("C", "val_accuracy")} for c in candidates])
            selection.to_csv(folder.root / "selection.csv", index=False)
            mlflow.log_artifact(str(folder.root / "selection.csv"))
    return summary | folder.record
