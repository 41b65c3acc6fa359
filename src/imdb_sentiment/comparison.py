"""The evaluate stage: score every model and write the numbers (JSON, CSV), the DVC
headline and each model's MLflow run. The report stage renders them (report.py); registering
versions and the champion alias is registry.py's job."""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdb_sentiment.data import PreparedPaths
from imdb_sentiment.evaluation import (
    CONFIDENCE,
    RESAMPLES,
    WINDOWS,
    EvaluationData,
    ModelEvaluation,
    confusion_rows,
    evaluate_predictor,
    load_evaluation_data,
    paired_difference,
    roc_points,
    window_key,
)
from imdb_sentiment.files import atomic_outputs, atomic_path, read_json, write_json
from imdb_sentiment.headline import write_evaluation_headline
from imdb_sentiment.paths import Outputs
from imdb_sentiment.registry import champion_of
from imdb_sentiment.runs import RUN_FILE, log_evaluation, prepared_dataset
from imdb_sentiment.serving import load_predictor
from imdb_sentiment.suites import BAG_OF_WORDS_BOUNDS

log = logging.getLogger(__name__)

# What the report shows of each model's training (models/NAME/training.json).
TRAINING_COLUMNS = ("train_seconds", "parameters", "epochs_run", "run_id", "model_uri")
# Already on the run from training, under the key it was logged with (best_val_accuracy):
# logged again here it would add a false last point to the per-epoch val_accuracy curve.
TRAINING_RUN_KEYS = {"val_accuracy"}


def evaluate_and_compare(
    families: dict[str, str],
    models_root: Path,
    prepared_dir: Path,
    contrast_path: Path,
    seed: int,
    outputs: Outputs | None = None,
) -> pd.DataFrame:
    """Score each model (name -> family), write every number and log it to MLflow.

    Returns the comparison table (one row per model). Writes numbers only (JSON, CSV): the
    report stage renders them (report.py). Touches no registry: see registry.py. The outputs
    appear together once all are written (a killed run leaves none behind).
    """
    outputs = outputs or Outputs()
    with atomic_outputs(outputs.declared(), "evaluate") as staging:
        return _evaluate_into(
            families, models_root, prepared_dir, contrast_path, seed, outputs.under(staging)
        )


def _evaluate_into(
    families: dict[str, str],
    models_root: Path,
    prepared_dir: Path,
    contrast_path: Path,
    seed: int,
    outputs: Outputs,
) -> pd.DataFrame:
    data = load_evaluation_data(prepared_dir, contrast_path, seed)
    log.info(
        "evaluating %d models on %d val, %d test (+ shuffled) and %d contrast reviews",
        len(families),
        len(data.val),
        len(data.test),
        len(data.contrast),
    )
    labels = data.test.label.to_numpy()
    results = _score_all(families, models_root, data, seed)
    rows = []
    test_right: dict[str, np.ndarray] = {}
    trained: dict[str, dict[str, Any]] = {}
    for name, family in families.items():
        folder = models_root / name
        result = results[name]
        test_right[name] = (result.test_probabilities >= 0.5) == labels
        training = read_json(folder / "training.json")
        trained[name] = {"family": family, **{k: training.get(k) for k in TRAINING_COLUMNS}}
        log.info(
            "%s: test_accuracy %.4f, shuffled %.4f, contrast pairs %.3f",
            name,
            result.metrics["test_accuracy"],
            result.metrics["shuffled_test_accuracy"],
            result.metrics["contrast_pair_accuracy"],
        )
        write_json(outputs.model_evaluation(name), result.metrics)
        if (folder / "history.csv").exists():  # one curve per recurrent model, for DVC plots
            with atomic_path(outputs.histories / f"{name}.csv") as tmp:
                shutil.copyfile(folder / "history.csv", tmp)
        _write_model_plots(name, labels, result.test_probabilities, outputs)
        rows.append({"model": name, **result.metrics, **trained[name]})
    table = pd.DataFrame(rows).set_index("model")
    differences = accuracy_differences(table, test_right, seed)
    write_json(outputs.differences, differences)
    with atomic_path(outputs.curve) as tmp:
        shuffle_curve(table).to_csv(tmp, index=False)
    answer = order_answer(table, results, test_right, data, seed)
    write_json(outputs.order, answer)
    with atomic_path(outputs.table) as tmp:
        table[["test_accuracy", "shuffled_test_accuracy", "contrast_pair_accuracy"]].to_csv(tmp)
    write_json(
        outputs.comparison,
        {
            "models": trained,
            "champion": champion_of(table),
            "best_recurrent": answer["best_recurrent"],
            "reference": answer["reference"],
            "reviews": {
                "val": len(data.val),
                "test": len(data.test),
                "contrast": len(data.contrast),
            },
            "intervals": {"confidence": CONFIDENCE, "resamples": RESAMPLES},
            "coverage": length_coverage(prepared_dir),
            "suite_bounds": BAG_OF_WORDS_BOUNDS,
            "disagreements": disagreements(table, results, data, seed).to_dict("records"),
        },
    )
    write_evaluation_headline(
        {name: results[name].metrics for name in table.index}, answer, outputs.metrics
    )
    dataset = prepared_dataset(prepared_dir, "evaluation")
    for name in table.index:
        log_evaluation(
            read_json(models_root / name / RUN_FILE),
            f"baseline@{name}" if families[name] == "bag_of_words" else f"train@{name}",
            {k: v for k, v in results[name].metrics.items() if k not in TRAINING_RUN_KEYS},
            dataset,
            artifacts={
                "evaluation": [
                    outputs.model_evaluation(name),
                    outputs.plots / "roc" / f"{name}.csv",
                    outputs.plots / "confusion" / f"{name}.csv",
                ]
            },
        )
    return table


def _score_all(
    families: dict[str, str], models_root: Path, data: EvaluationData, seed: int
) -> dict[str, ModelEvaluation]:
    """Every model's evaluation, side by side: one recurrent model's inference is bound by
    per-step dispatch, not arithmetic, and leaves a second core mostly idle. Scores do not
    depend on it (each model's arithmetic is its own)."""
    # Loading stays in this thread: Keras' loading scopes are per thread, and it is quick.
    predictors = {name: load_predictor(models_root / name / "predictor") for name in families}
    with ThreadPoolExecutor(max_workers=max(1, min(len(families), os.cpu_count() or 1))) as pool:
        scoring = {
            name: pool.submit(evaluate_predictor, predictor, data, seed)
            for name, predictor in predictors.items()
        }
        for name, future in scoring.items():  # progress, as each model finishes
            future.add_done_callback(lambda _, name=name: log.info("%s: scored", name))
        try:
            return {name: scoring[name].result() for name in families}
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # fail at once, not after the rest
            raise


def shuffle_curve(table: pd.DataFrame) -> pd.DataFrame:
    """The order curve in long form: model, window (1 ... 64, all), accuracy and its 95%
    interval; one line per model in the DVC plot and the figure."""
    rows = []
    for model in table.index:
        for window in WINDOWS:
            key = f"window_{window_key(window)}_accuracy"
            row = table.loc[model]
            rows.append(
                {
                    "model": model,
                    "window": window_key(window),
                    "accuracy": row[key],
                    "ci_low": row[f"{key}_ci_low"],
                    "ci_high": row[f"{key}_ci_high"],
                }
            )
    return pd.DataFrame(rows)


def order_baselines(table: pd.DataFrame) -> tuple[str, str]:
    """(the best recurrent model by validation accuracy, the order-blind reference): the
    unigram bag of words `tfidf`, else the first bag-of-words model."""
    recurrent = table[table.family == "recurrent"]
    blind = table.index[table.family == "bag_of_words"]
    reference = "tfidf" if "tfidf" in blind else blind[0]
    return champion_of(recurrent), str(reference)


def order_answer(
    table: pd.DataFrame,
    evaluations: dict[str, Any],
    test_right: dict[str, np.ndarray],
    data: EvaluationData,
    seed: int,
) -> dict[str, Any]:
    """What order is worth on each probe: every model's number there, and the best recurrent
    model minus the order-blind reference, paired (same reviews or groups), with its 95%
    interval. Probes: the plain test set, each suite (per review and per group), the
    hand-written pairs, each natural subset."""
    best, reference = order_baselines(table)
    probes: dict[str, tuple[str, int, dict[str, np.ndarray]]] = {
        "test": ("plain test set", len(data.test), {m: test_right[m] for m in table.index})
    }
    for name, suite in data.suites.items():
        reviews = {m: evaluations[m].suite_reviews[name] for m in table.index}
        probes[f"suite_{name}_reviews"] = (
            f"suite {name} (reviews right)",
            len(suite.cases),
            reviews,
        )
        unit = "groups unchanged" if suite.group_kind == "unchanged" else "groups all right"
        groups = {m: evaluations[m].suite_groups[name] for m in table.index}
        probes[f"suite_{name}"] = (f"suite {name} ({unit})", len(groups[best]), groups)
    pairs = {m: evaluations[m].suite_groups["handwritten"] for m in table.index}
    probes["pairs_handwritten"] = ("hand-written pairs (both right)", len(pairs[best]), pairs)
    for name, mask in data.subsets.items():
        probes[f"subset_{name}"] = (
            f"subset {name}",
            int(mask.sum()),
            {m: test_right[m][mask] for m in table.index},
        )
    answer: dict[str, Any] = {"best_recurrent": best, "reference": reference, "probes": {}}
    for key, (label, n, right) in probes.items():
        if not n:
            continue
        difference = paired_difference(right[best], right[reference], seed)
        answer["probes"][key] = {
            "label": label,
            "n": n,
            "accuracy": {m: round(float(np.mean(right[m])), 6) for m in table.index},
            "order_worth": {k: round(v, 6) for k, v in difference.items()},
        }
    return answer


def disagreements(
    table: pd.DataFrame,
    evaluations: dict[str, Any],
    data: EvaluationData,
    seed: int,
    per_side: int = 5,
    length: int = 300,
) -> pd.DataFrame:
    """A seeded sample of test reviews the best recurrent model gets right and the order-blind
    reference gets wrong, and the reverse, shortened, with both models' probabilities."""
    best, reference = order_baselines(table)
    labels = data.test.label.to_numpy()
    p_best = evaluations[best].test_probabilities
    p_ref = evaluations[reference].test_probabilities
    best_right, ref_right = (p_best >= 0.5) == labels, (p_ref >= 0.5) == labels
    rng = np.random.default_rng(seed)
    rows = []
    for side, mask in (
        (f"{best} right, {reference} wrong", best_right & ~ref_right),
        (f"{reference} right, {best} wrong", ref_right & ~best_right),
    ):
        chosen = np.flatnonzero(mask)
        for i in np.sort(rng.choice(chosen, size=min(per_side, len(chosen)), replace=False)):
            text = " ".join(data.test.text.iloc[i].replace("<br />", " ").split())
            rows.append(
                {
                    "which": side,
                    "label": "positive" if labels[i] else "negative",
                    best: round(float(p_best[i]), 3),
                    reference: round(float(p_ref[i]), 3),
                    "review": text if len(text) <= length else text[: length - 3] + "...",
                }
            )
    return pd.DataFrame(rows)


def accuracy_differences(
    table: pd.DataFrame, test_right: dict[str, np.ndarray], seed: int
) -> dict[str, dict[str, float]]:
    """Paired-bootstrap test-accuracy differences that answer the question: every recurrent
    model minus every bag-of-words baseline, keyed ``"lstm - tfidf"``. The models are paired
    on the same test reviews, which makes the interval far narrower than two separate ones."""
    recurrent = table.index[table.family == "recurrent"]
    baselines = table.index[table.family == "bag_of_words"]
    return {
        f"{model} - {baseline}": {
            key: round(value, 6)
            for key, value in paired_difference(
                test_right[model], test_right[baseline], seed
            ).items()
        }
        for model in recurrent
        for baseline in baselines
    }


def length_coverage(prepared_dir: Path) -> dict[str, float]:
    """How much text the recurrent models read: their length cap and the share of test
    reviews it cuts (the TF-IDF baselines read every token)."""
    paths = PreparedPaths(prepared_dir)
    max_len = read_json(paths.config)["prepare"]["max_len"]
    reviews = pd.read_parquet(paths.reviews, columns=["split", "n_tokens"])
    test = reviews[reviews.split == "test"]
    return {"max_len": max_len, "test_truncated_fraction": float((test.n_tokens > max_len).mean())}


def _write_model_plots(
    name: str, labels: np.ndarray, probabilities: np.ndarray, outputs: Outputs
) -> None:
    """The model's ROC points and confusion rows, as CSV for `dvc plots` and the report."""
    roc = roc_points(labels, probabilities)
    for folder, frame in (("roc", roc), ("confusion", confusion_rows(labels, probabilities))):
        with atomic_path(outputs.plots / folder / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
