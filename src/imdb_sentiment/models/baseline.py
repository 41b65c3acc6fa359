"""The bag-of-n-grams baselines (the baseline@NAME stage): TF-IDF or naive-Bayes-weighted
binary n-gram counts, then logistic regression, over the project's own tokens."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from imdb_sentiment.data.prepare import PreparedPaths, prepared_params
from imdb_sentiment.data.text import tokenize
from imdb_sentiment.errors import UserError
from imdb_sentiment.files import read_json
from imdb_sentiment.models.nb_weighting import NBLogCountRatio
from imdb_sentiment.params import BaselineParams, Params, flatten_params
from imdb_sentiment.serving.model_folder import write_model_folder
from imdb_sentiment.serving.pipeline_file import save_pipeline
from imdb_sentiment.serving.predictors import PIPELINE_FILE
from imdb_sentiment.tracking.runs import log_dataset, model_run, prepared_dataset

log = logging.getLogger(__name__)


# lbfgs' stopping tolerance (largest gradient entry of the mean loss). At sklearn's 1e-4 a
# uni+bigram fit at C=64 (22,500 full-data reviews) stopped after 17 iterations, 26 of 2,500
# validation labels (max |dp| 0.15) away from its optimum: where it stops moves with rounding,
# so from machine to machine. At 1e-8 it took 50-61 iterations, and fits on 1 and 2 threads
# (different paths) and liblinear's, an other solver, agreed to |dp| <= 3.3e-4, no label apart.
# liblinear's (dual coordinate descent, one thread, no BLAS) at 1e-6 stops at the same labels.
TOLERANCE = {"lbfgs": 1e-8, "liblinear": 1e-6}


class NotConvergedError(UserError, RuntimeError):
    """A logistic regression stopped at its iteration cap, not at its optimum."""


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
    """Logistic regression at ``c``, to be fitted to its optimum (``TOLERANCE``). liblinear
    for the NB features: on their ~10^6 columns lbfgs needs far more iterations for the same
    optimum (Wang & Manning fit a linear SVM), and liblinear runs on one thread."""
    solver = "liblinear" if params.weighting == "nb" else "lbfgs"
    return LogisticRegression(
        C=c, solver=solver, tol=TOLERANCE[solver], max_iter=params.max_iter, random_state=seed
    )


def fit_classifier(
    name: str, x: Any, y: Any, params: BaselineParams, c: float, seed: int
) -> LogisticRegression:
    """Logistic regression at ``C=c``, fitted to its optimum (``TOLERANCE``) or not at all.

    A fit cut off early stops wherever the optimizer's path has got to, and that path differs
    between machines (summation order, threads, SIMD); the optimum does not. So reaching
    ``max_iter`` before the tolerance is an error, not a warning.
    """
    classifier = build_classifier(params, c, seed)
    max_iter = params.max_iter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the check below says it, with a fix
        classifier.fit(x, y)
    iterations = int(np.max(classifier.n_iter_))
    if iterations >= max_iter:
        raise NotConvergedError(
            f"{name}: logistic regression at C={c:g} did not converge in max_iter={max_iter} "
            f"iterations, so its result would depend on the machine; raise "
            f"baselines.{name}.max_iter in params.yaml"
        )
    return classifier


def train_baseline(name: str, params: Params, prepared_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Fit TF-IDF on train, pick C on validation, log the run and write ``out_dir``."""
    prepared = PreparedPaths(prepared_dir)
    reviews = pd.read_parquet(prepared.reviews, columns=["split", "text", "label"])
    train, val = reviews[reviews.split == "train"], reviews[reviews.split == "val"]
    prepare_config = read_json(prepared.config)
    baseline = params.baselines[name]

    with model_run(name, "bag_of_words", params.corpus) as run:
        mlflow.log_params(
            {
                "seed": params.seed,
                **prepared_params(prepare_config),
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
            classifier = fit_classifier(name, x_train, train.label, baseline, c, params.seed)
            accuracy = float(classifier.score(x_val, val.label))
            iterations = int(np.max(classifier.n_iter_))
            candidates.append({"C": c, "val_accuracy": accuracy, "classifier": classifier})
            mlflow.log_metrics(
                {"selection_val_accuracy": accuracy, "selection_iterations": iterations}, step=step
            )
            log.info(
                "%s: C=%g val_accuracy %.4f (converged in %d iterations)",
                name,
                c,
                accuracy,
                iterations,
            )
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
        with write_model_folder(out_dir, run, summary, ["scikit-learn", "skops"]) as folder:
            save_pipeline(pipeline, folder.predictor / PIPELINE_FILE)
            selection = pd.DataFrame([{k: c[k] for k in ("C", "val_accuracy")} for c in candidates])
            selection.to_csv(folder.root / "selection.csv", index=False)
            mlflow.log_artifact(str(folder.root / "selection.csv"))
    return summary | folder.record
