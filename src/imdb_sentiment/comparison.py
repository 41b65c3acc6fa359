"""The evaluate stage: score every model, write metrics/plots/report and log them to each
model's MLflow run. Registering versions and the champion alias is registry.py's job."""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from imdb_sentiment.data import PreparedPaths
from imdb_sentiment.evaluation import (
    CONFIDENCE,
    RESAMPLES,
    WINDOWS,
    EvaluationData,
    confusion_rows,
    evaluate_predictor,
    load_evaluation_data,
    paired_difference,
    roc_points,
    window_key,
)
from imdb_sentiment.files import atomic_outputs, atomic_path, read_json, write_json
from imdb_sentiment.plots import plot_comparison, plot_confusion, plot_roc, plot_shuffle_windows
from imdb_sentiment.registry import champion_of
from imdb_sentiment.runs import RUN_FILE, log_evaluation
from imdb_sentiment.serving import load_predictor
from imdb_sentiment.suites import BAG_OF_WORDS_BOUNDS
from imdb_sentiment.tracking import project_run_id

log = logging.getLogger(__name__)

ORDER_BLIND_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Outputs:
    """Where the evaluate stage writes (all declared in dvc.yaml)."""

    metrics: Path = Path("metrics")
    plots: Path = Path("plots")
    reports: Path = Path("reports")

    @property
    def report(self) -> Path:
        return self.reports / "comparison.md"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"

    @property
    def histories(self) -> Path:
        return self.plots / "history"

    @property
    def curve(self) -> Path:
        return self.plots / "shuffle_windows.csv"

    @property
    def differences(self) -> Path:
        return self.metrics / "differences.json"

    def declared(self) -> list[Path]:
        """Every output, as dvc.yaml lists it under the evaluate stage."""
        plots = [self.plots / name for name in ("comparison.csv", "roc", "confusion")]
        return [self.metrics, self.report, self.figures, self.histories, self.curve, *plots]

    def under(self, folder: Path) -> Outputs:
        return Outputs(folder / self.metrics, folder / self.plots, folder / self.reports)


def evaluate_and_compare(
    families: dict[str, str],
    models_root: Path,
    prepared_dir: Path,
    contrast_path: Path,
    seed: int,
    outputs: Outputs = Outputs(),
) -> pd.DataFrame:
    """Score each model (name -> family), write every output and log it to MLflow.

    Returns the comparison table (one row per model). Touches no registry: see registry.py.
    The outputs appear together once all are written (a killed run leaves none behind).
    """
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
    rows = []
    figures: dict[str, list[Path]] = {}
    test_right: dict[str, np.ndarray] = {}
    evaluations = {}
    labels = data.test.label.to_numpy()
    # Models are scored side by side: one recurrent model's inference is bound by per-step
    # dispatch, not arithmetic, and leaves a second core mostly idle. Scores do not depend
    # on it (each model's arithmetic is its own).
    # (Loading stays in this thread: Keras' loading scopes are per thread, and it is quick.)
    predictors = {name: load_predictor(models_root / name / "predictor") for name in families}
    with ThreadPoolExecutor(max_workers=max(1, min(len(families), os.cpu_count() or 1))) as pool:
        scoring = {
            name: pool.submit(evaluate_predictor, predictor, data, seed)
            for name, predictor in predictors.items()
        }
        for name, future in scoring.items():  # progress, as each model finishes
            future.add_done_callback(lambda _, name=name: log.info("%s: scored", name))
        try:
            results = {name: scoring[name].result() for name in families}
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # fail at once, not after the rest
            raise
    for name, family in families.items():
        folder = models_root / name
        result = results[name]
        test_right[name] = (result.test_probabilities >= 0.5) == labels
        evaluations[name] = result
        training = read_json(folder / "training.json")
        log.info(
            "%s: test_accuracy %.4f, shuffled %.4f, contrast pairs %.3f",
            name,
            result.metrics["test_accuracy"],
            result.metrics["shuffled_test_accuracy"],
            result.metrics["contrast_pair_accuracy"],
        )
        write_json(outputs.metrics / f"{name}.json", result.metrics)
        if (folder / "history.csv").exists():  # one curve per recurrent model, for DVC plots
            with atomic_path(outputs.histories / f"{name}.csv") as tmp:
                shutil.copyfile(folder / "history.csv", tmp)
        figures[name] = _write_model_plots(name, data, result.test_probabilities, outputs)
        rows.append(
            {
                "model": name,
                "family": family,
                **result.metrics,
                "train_seconds": training["train_seconds"],
                "parameters": training["parameters"],
                "epochs_run": training.get("epochs_run"),
                "run_id": training["run_id"],
                "model_uri": training["model_uri"],
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    champion = champion_of(table)
    differences = accuracy_differences(table, test_right, seed)
    write_json(outputs.differences, differences)
    coverage = length_coverage(prepared_dir)

    curve = shuffle_curve(table)
    with atomic_path(outputs.curve) as tmp:
        curve.to_csv(tmp, index=False)
    curve_png = plot_shuffle_windows(curve, outputs.figures / "shuffle_windows.png")
    answer = order_answer(table, evaluations, test_right, data, seed)
    write_json(outputs.metrics / "order.json", answer)
    examples = disagreements(table, evaluations, data, seed)

    comparison_png = plot_comparison(table, outputs.figures / "comparison.png")
    with atomic_path(outputs.plots / "comparison.csv") as tmp:
        table[["test_accuracy", "shuffled_test_accuracy", "contrast_pair_accuracy"]].to_csv(tmp)
    with atomic_path(outputs.report) as tmp:
        tmp.write_text(
            comparison_report(table, champion, differences, coverage, answer, curve, examples)
        )

    for name in table.index:
        epochs_run = table.loc[name, "epochs_run"]
        # At the run's last epoch step, so these (not a mid-training epoch) are the values
        # MLflow shows as the run's latest val_accuracy.
        log_evaluation(
            read_json(models_root / name / RUN_FILE)["run_id"],
            f"baseline@{name}" if families[name] == "bag_of_words" else f"train@{name}",
            read_json(outputs.metrics / f"{name}.json"),
            step=int(epochs_run) - 1 if pd.notna(epochs_run) else 0,
            artifacts={
                "evaluation": figures[name],
                "comparison": [outputs.report, comparison_png, curve_png],
            },
        )
    parent = project_run_id()
    if parent:  # under `mlflow run`, the run the user started shows the outcome too
        client = mlflow.MlflowClient()
        for artifact in (outputs.report, comparison_png):
            client.log_artifact(parent, str(artifact), artifact_path="comparison")
    return table


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
    table: pd.DataFrame, evaluations: dict[str, Any], data: EvaluationData, seed: int,
    per_side: int = 5, length: int = 300,
) -> pd.DataFrame:  # fmt: skip
    """A seeded sample of test reviews the best recurrent model gets right and the order-blind
    reference gets wrong, and the reverse, shortened, with both models' probabilities."""
    best, reference = order_baselines(table)
    labels = data.test.label.to_numpy()
    p_best = evaluations[best].test_probabilities
    p_ref = evaluations[reference].test_probabilities
    best_right, ref_right = (p_best >= 0.5) == labels, (p_ref >= 0.5) == labels
    rng = np.random.default_rng(seed)
    rows = []
    for side, mask in ((f"{best} right, {reference} wrong", best_right & ~ref_right),
                       (f"{reference} right, {best} wrong", ref_right & ~best_right)):  # fmt: skip
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
    name: str, data: EvaluationData, probabilities, outputs: Outputs
) -> list[Path]:
    labels = data.test.label.to_numpy()
    roc = roc_points(labels, probabilities)
    for folder, frame in (("roc", roc), ("confusion", confusion_rows(labels, probabilities))):
        with atomic_path(outputs.plots / folder / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    return [
        plot_roc(roc, name, outputs.figures / f"{name}_roc.png"),
        plot_confusion(labels, probabilities, name, outputs.figures / f"{name}_confusion.png"),
    ]


def comparison_report(
    table: pd.DataFrame,
    champion: str,
    differences: dict[str, dict[str, float]],
    coverage: dict[str, float],
    answer: dict[str, Any] | None = None,
    curve: pd.DataFrame | None = None,
    examples: pd.DataFrame | None = None,
) -> str:
    """Markdown: the answer first (what order is worth on each probe, the order curve), then
    the table with intervals, the paired differences, findings computed from them, links to
    the plots."""
    shown = pd.DataFrame(
        {
            "family": table.family,
            "val acc": table.val_accuracy.map(_pct),
            "test acc [95% CI]": [_with_interval(table, m, "test_accuracy") for m in table.index],
            "test F1": table.test_f1.map("{:.3f}".format),
            "test AUC [95% CI]": [
                _with_interval(table, m, "test_roc_auc", percent=False) for m in table.index
            ],
            "shuffled acc": table.shuffled_test_accuracy.map(_pct),
            "drop, points [95% CI]": [_drop(table, m) for m in table.index],
            "contrast acc": table.contrast_accuracy.map(_pct),
            "contrast pairs": table.contrast_pair_accuracy.map(_pct),
            "train s": table.train_seconds.map("{:.0f}".format),
            "parameters": table.parameters.map("{:,}".format),
        },
        index=table.index,
    )
    shown.index = [f"**{m}** (champion)" if m == champion else m for m in shown.index]
    difference_rows = pd.DataFrame(
        {
            "test accuracy difference, points": [
                f"{100 * d['difference']:+.2f}" for d in differences.values()
            ],
            f"{CONFIDENCE:.0%} paired bootstrap CI": [
                f"[{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}]"
                for d in differences.values()
            ],
            "interval excludes 0": [_verdict(d) for d in differences.values()],
        },
        index=list(differences),
    )
    lines = [
        "# What does word order buy?",
        "",
        "Generated by the `evaluate` stage from `metrics/*.json`; every number below is computed,",
        "none is typed in. Test set: 25,000 IMDB reviews never used for any choice; the champion",
        "is picked on the validation split.",
        "",
        *(answer_section(table, answer, curve, examples) if answer is not None else []),
        f"Text read: the recurrent models read each review's tokens up to "
        f"`prepare.max_len` = {coverage['max_len']}, which cuts "
        f"{_pct(coverage['test_truncated_fraction'], 2)} of test reviews; the TF-IDF baselines "
        "read every token of every review.",
        "",
        _markdown_table(shown),
        "",
        f"- Intervals: {CONFIDENCE:.0%} percentile bootstrap over the test reviews "
        f"({RESAMPLES:,} resamples, seeded). They show how much the number would move on "
        "another test set of this size, not how much it moves between training seeds (see "
        "`bench/RESULTS.md` for the seed spread).",
        "- *shuffled acc*: accuracy on the test reviews with each review's words in a seeded",
        "  random order; *drop*: test accuracy minus that, in percentage points.",
        "- *contrast*: minimal pairs (`data/contrast/pairs.tsv`) whose two reviews have exactly",
        "  the same words in a different order and opposite sentiment; *pairs*: both of a pair",
        "  right.",
        "",
        "## Recurrent minus bag of words, paired on the same test reviews",
        "",
        _markdown_table(difference_rows),
        "",
        "## Findings",
        "",
        findings(table, champion, differences),
        "",
        "## Plots",
        "",
        "![accuracy vs shuffled accuracy](figures/comparison.png)",
        "",
        *[
            f"- {m}: [ROC curve](figures/{m}_roc.png), "
            f"[confusion matrix](figures/{m}_confusion.png)"
            for m in table.index
        ],
        "",
    ]
    return "\n".join(lines)


def answer_section(
    table: pd.DataFrame,
    answer: dict[str, Any],
    curve: pd.DataFrame | None,
    examples: pd.DataFrame | None,
) -> list[str]:
    """The report's opening: what order is worth, probe by probe, and how far it reaches."""
    best, reference = answer["best_recurrent"], answer["reference"]
    rows = {}
    for probe in answer["probes"].values():
        worth = probe["order_worth"]
        rows[probe["label"]] = {
            "n": f"{probe['n']:,}",
            **{m: _pct(v) for m, v in probe["accuracy"].items()},
            "order's worth, points [95% CI]": f"{100 * worth['difference']:+.2f} "
            f"[{100 * worth['ci_low']:+.2f}, {100 * worth['ci_high']:+.2f}]",
            "interval excludes 0": _verdict(worth),
        }
    lines = [
        "## The answer",
        "",
        f"*Order's worth* is **{best}** (the best recurrent model by validation accuracy) minus "
        f"**{reference}** (a unigram bag of words, blind to order), paired on the same reviews "
        f"(or groups), with a {CONFIDENCE:.0%} bootstrap interval. A difference whose interval "
        "holds 0 is not a difference.",
        "",
        _markdown_table(pd.DataFrame.from_dict(rows, orient="index"), index_name="probe"),
        "",
        *answer_summary(answer),
        "",
        "- Suites are generated from `data/suites/suites.yaml`, labelled by construction; a "
        "group counts when all its reviews are right (filler: when adding a neutral sentence "
        "changes no label). What a bag of words can reach on each:",
        *[f"  - {name}: {bound}" for name, bound in BAG_OF_WORDS_BOUNDS.items()],
        "- Subsets of the test set: `contrast_ending`, the last sentence opens with but, however "
        "or although; `negated_sentiment`, a negation up to three words before a sentiment word "
        "of the suites' lexicon; `length_q1`..`q4`, quartiles of review length.",
        "",
    ]
    if curve is not None:
        wide = curve.pivot(index="model", columns="window", values="accuracy")
        wide = wide[list(dict.fromkeys(curve.window))].reindex(table.index)
        lines += [
            "### How far does order reach?",
            "",
            "![accuracy as words are shuffled within windows of k](figures/shuffle_windows.png)",
            "",
            "Test accuracy with each review's words shuffled within consecutive windows of k "
            "words (k=1: as written; all: the whole review), seeded:",
            "",
            _markdown_table(wide.map(_pct)),
            "",
            *curve_findings(wide),
            "",
        ]
    if examples is not None and len(examples):
        lines += [
            f"### Where {best} and {reference} disagree",
            "",
            "A seeded sample of test reviews, shortened, with both models' probability of "
            "positive:",
            "",
            _markdown_table(examples.set_index("which"), index_name="which"),
            "",
        ]
    return lines


def answer_summary(answer: dict[str, Any]) -> list[str]:
    """Where order's worth beats the noise, either way, and where it does not: from the
    intervals alone."""
    verdicts: dict[str, list[str]] = {"yes: higher": [], "yes: lower": [], "no": []}
    for probe in answer["probes"].values():
        worth = probe["order_worth"]
        verdicts[_verdict(worth)].append(f"{probe['label']} ({100 * worth['difference']:+.1f})")
    best, reference = answer["best_recurrent"], answer["reference"]
    said = {
        "yes: higher": f"{best} beats {reference} beyond the noise on",
        "yes: lower": f"{best} is below {reference} beyond the noise on",
        "no": "The interval holds 0 on",
    }
    return [f"- {said[v]}: {', '.join(probes)}." for v, probes in verdicts.items() if probes]


def curve_findings(wide: pd.DataFrame) -> list[str]:
    """Sentences computed from the order curve: flat, or what shuffling within k costs."""
    lines = []
    for model, row in wide.iterrows():
        costs = {k: 100 * (row["1"] - row[k]) for k in row.index if k != "1"}
        if max(abs(c) for c in costs.values()) == 0:
            lines.append(f"- {model}: flat: exactly {_pct(row['1'])} at every k.")
            continue
        shown = ", ".join(f"k={k} {c:+.2f}" for k, c in costs.items())
        lines.append(f"- {model}: points lost to shuffling: {shown}.")
    return lines


def _with_interval(table: pd.DataFrame, model: str, metric: str, percent: bool = True) -> str:
    row = table.loc[model]
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if percent:
        text = _pct(row[metric])
        return text if pd.isna(low) else f"{text} [{100 * low:.1f}, {100 * high:.1f}]"
    text = f"{row[metric]:.3f}"
    return text if pd.isna(low) else f"{text} [{low:.3f}, {high:.3f}]"


def _drop(table: pd.DataFrame, model: str) -> str:
    row = table.loc[model]
    text = f"{100 * row.shuffled_accuracy_drop:+.2f}"
    low = row.get("shuffled_accuracy_drop_ci_low")
    if pd.isna(low):
        return text
    return f"{text} [{100 * low:+.2f}, {100 * row.shuffled_accuracy_drop_ci_high:+.2f}]"


def _verdict(difference: dict[str, float]) -> str:
    if difference["ci_low"] > 0:
        return "yes: higher"
    if difference["ci_high"] < 0:
        return "yes: lower"
    return "no"


def findings(
    table: pd.DataFrame, champion: str, differences: dict[str, dict[str, float]] | None = None
) -> str:
    """Plain-words statements derived from the numbers (nothing here is hard-coded)."""
    blind = table[table.shuffled_max_probability_change <= ORDER_BLIND_TOLERANCE]
    sighted = table.drop(index=blind.index)
    recurrent = table[table.family == "recurrent"]
    best = table.loc[champion]
    sentences = [
        f"By validation accuracy the best model is **{champion}** ({_pct(best.val_accuracy)} "
        f"on validation, {_pct(best.test_accuracy)} on test)."
    ]
    for name, row in blind.iterrows():
        sentences.append(
            f"**{name}** gave every shuffled review exactly the score of the original, so its "
            f"shuffled accuracy equals its test accuracy ({_pct(row.test_accuracy)}): it cannot "
            f"see word order. It got {_pct(row.contrast_pair_accuracy)} of the minimal pairs "
            "fully right"
            + (
                " — a bag of words scores both reviews of a pair the same, so it never gets both."
                if row.contrast_pair_accuracy == 0
                else "."
            )
        )
    if not recurrent.empty:
        drops = 100 * recurrent.shuffled_accuracy_drop
        sentences.append(
            f"Shuffling the words cost the recurrent models between {drops.min():.1f} and "
            f"{drops.max():.1f} points of test accuracy ({drops.idxmax()} the most), and they "
            f"got {_range_pct(recurrent.contrast_pair_accuracy)} of the minimal pairs fully right."
        )
    unigram = blind.test_accuracy.idxmax() if not blind.empty else None
    if unigram is not None and not recurrent.empty:
        top = recurrent.test_accuracy.idxmax()
        gain = 100 * (recurrent.test_accuracy.max() - blind.test_accuracy.max())
        verdict = "more" if gain > 0 else "less"
        sentences.append(
            f"On the plain test set, the best recurrent model ({top}) scores {abs(gain):.1f} "
            f"points {verdict} than the order-blind {unigram}."
        )
    local = sighted[sighted.family == "bag_of_words"]
    if not local.empty and not recurrent.empty:
        name = local.test_accuracy.idxmax()
        gap = 100 * (local.loc[name, "test_accuracy"] - recurrent.test_accuracy.max())
        sentences.append(
            f"**{name}**, a bag of n-grams that sees only short word windows, reaches "
            f"{_pct(local.loc[name, 'test_accuracy'])}: {abs(gap):.1f} points "
            f"{'above' if gap > 0 else 'below'} the best recurrent model, and its shuffled "
            f"accuracy drops by {100 * local.loc[name, 'shuffled_accuracy_drop']:.1f} points."
        )
    if differences and not recurrent.empty:
        best = str(recurrent.val_accuracy.idxmax())  # picked on validation, like the champion
        for name, d in differences.items():
            if not name.startswith(f"{best} - "):
                continue
            baseline = name.split(" - ", 1)[1]
            if d["ci_low"] > 0:
                verdict = "higher than"
            elif d["ci_high"] < 0:
                verdict = "lower than"
            else:
                verdict = "not distinguishable from"
            sentences.append(
                f"The best recurrent model by validation ({best}) is {verdict} {baseline} on "
                f"test: {100 * d['difference']:+.2f} points, {CONFIDENCE:.0%} paired interval "
                f"[{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}]."
            )
    return " ".join(sentences)


def _pct(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}%"


def _range_pct(values: pd.Series) -> str:
    low, high = values.min(), values.max()
    return _pct(low) if low == high else f"{_pct(low)} to {_pct(high)}"


def _markdown_table(frame: pd.DataFrame, index_name: str = "model") -> str:
    header = [index_name, *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        cells = [str(index), *map(str, row.tolist())]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
