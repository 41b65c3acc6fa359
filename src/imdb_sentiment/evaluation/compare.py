"""The compare stage: every model's saved scores and numbers (scores/) -> what they mean
together: paired differences, the answer in three parts (head to head; what order adds on top
of the best bag of words; order with the words held equal), the headline metric files, the
plot CSVs. It scores nothing and imports no TensorFlow; the report stage renders its numbers
(report/comparison.py), and registering versions and the champion alias is
tracking/registry.py's job."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdb_sentiment.data.prepare import PreparedPaths
from imdb_sentiment.evaluation.headline import write_evaluation_headline
from imdb_sentiment.evaluation.intervals import CONFIDENCE, RESAMPLES, is_right, paired_difference
from imdb_sentiment.evaluation.model_evaluation import (
    CONTRAST_WORDS,
    NEGATORS,
    WINDOWS,
    EvaluationData,
    Groupings,
    group_results,
    window_key,
)
from imdb_sentiment.evaluation.scoring import (
    CONFUSION_FILE,
    METRICS_FILE,
    ROC_FILE,
    SCORES_FILE,
    copy_score_file,
    score_folder,
)
from imdb_sentiment.evaluation.suites import BAG_OF_WORDS_BOUNDS
from imdb_sentiment.evaluation.weights import pick_weights
from imdb_sentiment.files import atomic_outputs, atomic_path, read_json, write_json
from imdb_sentiment.params import BAG_OF_WORDS, ENSEMBLE, NEURAL_BAG, RECURRENT
from imdb_sentiment.paths import Outputs
from imdb_sentiment.serving.predictors import average_scores
from imdb_sentiment.tracking.champion import champion_of

log = logging.getLogger(__name__)

# What the report shows of each model's training (models/NAME/training.json).
TRAINING_COLUMNS = ("train_seconds", "parameters", "epochs_run", "run_id", "model_uri")
# The weight grid of "on top": the best bag + one recurrent model, weights on validation.
ON_TOP_STEP = 0.05


def compare_models(
    families: dict[str, str],
    embedding_inits: dict[str, str],
    data: EvaluationData,
    seed: int,
    models_root: Path,
    prepared_dir: Path,
    scores_root: Path,
    outputs: Outputs,
) -> pd.DataFrame:
    """Compare every model of ``families`` (name -> family) from its saved scores; write every
    number (JSON, CSV) together, or none (a killed run leaves none behind). Returns the table
    (one row per model). ``embedding_inits`` (neural model -> random | word_vectors) pairs the
    best recurrent model with the neural bag that starts from the same embedding."""
    with atomic_outputs(outputs.declared(), "compare") as staging:
        return _compare_into(
            families,
            embedding_inits,
            data,
            seed,
            models_root,
            prepared_dir,
            scores_root,
            outputs.under(staging),
        )


def _compare_into(
    families: dict[str, str],
    embedding_inits: dict[str, str],
    data: EvaluationData,
    seed: int,
    models_root: Path,
    prepared_dir: Path,
    scores_root: Path,
    outputs: Outputs,
) -> pd.DataFrame:
    log.info("comparing %d models from their saved scores", len(families))
    labels = data.test.label.to_numpy()
    scores: dict[str, dict[str, np.ndarray]] = {}
    results: dict[str, Groupings] = {}
    rows = []
    trained: dict[str, dict[str, Any]] = {}
    for name, family in families.items():
        folder = score_folder(family, name, scores_root)
        if not (folder / SCORES_FILE).exists():
            raise FileNotFoundError(f"{folder / SCORES_FILE}: {name} has not been scored")
        with np.load(folder / SCORES_FILE) as saved:
            scores[name] = {key: saved[key] for key in saved.files}
        # The per-group results of the paired probes come from the scores; every number of
        # the model alone is its score stage's, read back.
        results[name] = group_results(scores[name], data)
        metrics = read_json(folder / METRICS_FILE)
        training = read_json(models_root / name / "training.json")
        trained[name] = {"family": family, **{k: training.get(k) for k in TRAINING_COLUMNS}}
        if name in embedding_inits:
            trained[name]["embedding_init"] = embedding_inits[name]
        if family == ENSEMBLE:
            trained[name]["weights"] = training["weights"]
        write_json(outputs.model_evaluation(name), metrics)
        if (models_root / name / "history.csv").exists():  # per recurrent model, for DVC plots
            with atomic_path(outputs.histories / f"{name}.csv") as tmp:
                shutil.copyfile(models_root / name / "history.csv", tmp)
        copy_score_file(folder, ROC_FILE, outputs.plots / "roc" / f"{name}.csv")
        copy_score_file(folder, CONFUSION_FILE, outputs.plots / "confusion" / f"{name}.csv")
        rows.append({"model": name, **metrics, **trained[name]})
    table = pd.DataFrame(rows).set_index("model")
    test_right = {name: is_right(s["test"], labels) for name, s in scores.items()}
    write_json(outputs.differences, accuracy_differences(table, test_right, seed))
    with atomic_path(outputs.curve) as tmp:
        shuffle_curve(table).to_csv(tmp, index=False)
    answer = order_answer(table, results, test_right, data, seed)
    answer |= answer_parts(table, scores, data, seed)
    write_json(outputs.order, answer)
    with atomic_path(outputs.table) as tmp:
        table[["test_accuracy", "shuffled_test_accuracy", "contrast_pair_accuracy"]].to_csv(tmp)
    write_json(
        outputs.comparison,
        {
            "models": trained,
            "champion": champion_of(table),
            "best_recurrent": answer["best_recurrent"],
            "best_bag": answer["best_bag"],
            "neural_bag": neural_bag_of(table, answer["words_equal"]),
            "reference": answer["reference"],
            "texts": {
                "val": len(data.val),
                "test": len(data.test),
                "contrast": len(data.contrast),
                "windows": len(data.window_index),
            },
            "intervals": {"confidence": CONFIDENCE, "resamples": RESAMPLES},
            "coverage": length_coverage(prepared_dir),
            "suite_bounds": BAG_OF_WORDS_BOUNDS,
            "subset_words": {"contrast": CONTRAST_WORDS, "negators": NEGATORS},
            "disagreements": disagreements(table, scores, data, seed).to_dict("records"),
        },
    )
    write_evaluation_headline(
        {name: read_json(outputs.model_evaluation(name)) for name in table.index},
        answer,
        outputs.metrics,
    )
    return table


def answer_parts(
    table: pd.DataFrame, scores: dict[str, dict[str, np.ndarray]], data: EvaluationData, seed: int
) -> dict[str, Any]:
    """What word order buys, in three parts, each model chosen on validation:
    (a) head to head, the best recurrent model minus the best bag of n-grams on test, paired;
    (b) on top, the best bag averaged with each recurrent model (weights on validation) minus
    the best bag alone, paired: what order adds on top of the words;
    (c) with the words held equal, the best recurrent model minus the best neural bag that
    starts from the same embedding (the same tokens, training loop and knowledge of words, no
    order), paired; None where no neural bag shares its embedding init."""
    recurrent = table[table.family == RECURRENT]
    bags = table[table.family == BAG_OF_WORDS]
    best, bag = champion_of(recurrent), champion_of(bags)
    labels = data.test.label.to_numpy()
    bag_right = is_right(scores[bag]["test"], labels)
    head = paired_difference(is_right(scores[best]["test"], labels), bag_right, seed)
    on_top = {
        str(model): on_top_of(scores[bag], scores[model], bag, str(model), data, seed)
        for model in recurrent.index
    }
    return {
        "best_bag": bag,
        "head_to_head": {"model": best, "bag": bag, **_rounded(head)},
        "on_top": on_top,
        "words_equal": words_equal(table, scores, best, labels, seed),
    }


def words_equal(
    table: pd.DataFrame,
    scores: dict[str, dict[str, np.ndarray]],
    best: str,
    labels: np.ndarray,
    seed: int,
) -> dict[str, Any] | None:
    """The best recurrent model minus the neural bag (best by validation) whose embedding
    starts as the recurrent model's does, on test, paired: order alone."""
    init = table.loc[best, "embedding_init"]
    twins = table[(table.family == NEURAL_BAG) & (table.embedding_init == init)]
    if twins.empty:
        return None
    twin = champion_of(twins)
    difference = paired_difference(
        is_right(scores[best]["test"], labels), is_right(scores[twin]["test"], labels), seed
    )
    return {"model": best, "neural_bag": twin, "embedding_init": init, **_rounded(difference)}


def neural_bag_of(table: pd.DataFrame, words_equal: dict[str, Any] | None) -> str | None:
    """The neural bag the answer sets against the best recurrent model, else the best one by
    validation (None without any)."""
    if words_equal:
        return str(words_equal["neural_bag"])
    bags = table[table.family == NEURAL_BAG]
    return None if bags.empty else champion_of(bags)


def on_top_of(
    bag_scores: dict[str, np.ndarray],
    model_scores: dict[str, np.ndarray],
    bag: str,
    model: str,
    data: EvaluationData,
    seed: int,
) -> dict[str, Any]:
    """The bag averaged with ``model`` (its weight picked on validation, as an ensemble's),
    minus the bag alone on test, paired: what ``model`` adds on top of the bag's words."""
    labels, val_labels = data.test.label.to_numpy(), data.val.label.to_numpy()
    members = {bag: bag_scores, model: model_scores}
    weights, val_metrics = pick_weights(
        {m: s["val"] for m, s in members.items()}, val_labels, "validation", ON_TOP_STEP
    )
    right = is_right(average_scores({m: s["test"] for m, s in members.items()}, weights), labels)
    bag_right = is_right(bag_scores["test"], labels)
    return {
        "weights": weights,
        "val_accuracy": round(val_metrics["accuracy"], 6),
        "test_accuracy": round(float(right.mean()), 6),
        **_rounded(paired_difference(right, bag_right, seed)),
    }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in values.items()}


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
    """(the best recurrent model by validation accuracy, the order-blind reference of the
    probes): the unigram bag of words `tfidf`, strictly blind to order, else the first
    bag-of-words model."""
    recurrent = table[table.family == RECURRENT]
    blind = table.index[table.family == BAG_OF_WORDS]
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
    scores: dict[str, dict[str, np.ndarray]],
    data: EvaluationData,
    seed: int,
    per_side: int = 5,
    length: int = 300,
) -> pd.DataFrame:
    """A seeded sample of test reviews the best recurrent model gets right and the order-blind
    reference gets wrong, and the reverse, shortened, with both models' probabilities."""
    best, reference = order_baselines(table)
    labels = data.test.label.to_numpy()
    p_best, p_ref = scores[best]["test"], scores[reference]["test"]
    best_right = is_right(p_best, labels).astype(bool)
    ref_right = is_right(p_ref, labels).astype(bool)
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
    model minus every order-blind model (bags of n-grams and neural bags), keyed
    ``"lstm - tfidf"``. The models are paired on the same test reviews, which makes the
    interval far narrower than two separate ones."""
    recurrent = table.index[table.family == RECURRENT]
    baselines = table.index[table.family.isin([BAG_OF_WORDS, NEURAL_BAG])]
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
