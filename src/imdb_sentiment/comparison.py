"""The evaluate stage: score every model, write metrics/plots/report, log them, crown a champion."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from imdb_sentiment.evaluation import (
    EvaluationData,
    confusion_rows,
    evaluate_folder,
    load_evaluation_data,
    roc_points,
)
from imdb_sentiment.files import atomic_path, read_json, write_json
from imdb_sentiment.plots import plot_comparison, plot_confusion, plot_roc
from imdb_sentiment.tracking import (
    RUN_FILE,
    in_temporary_copy,
    open_recorded_run,
    project_run_id,
    register_versions,
)

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


def evaluate_and_compare(
    families: dict[str, str],
    models_root: Path,
    prepared_dir: Path,
    contrast_path: Path,
    seed: int,
    outputs: Outputs = Outputs(),
) -> pd.DataFrame:
    """Score each model (name -> family), write every output, log to MLflow, set the champion.

    Returns the comparison table (one row per model).
    """
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
    for name, family in families.items():
        folder = models_root / name
        result = evaluate_folder(folder, data)
        training = read_json(folder / "training.json")
        log.info(
            "%s: test_accuracy %.4f, shuffled %.4f, contrast pairs %.3f",
            name,
            result.metrics["test_accuracy"],
            result.metrics["shuffled_test_accuracy"],
            result.metrics["contrast_pair_accuracy"],
        )
        write_json(outputs.metrics / f"{name}.json", result.metrics)
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
    champion = str(table.val_accuracy.idxmax())  # never by test accuracy

    comparison_png = plot_comparison(table, outputs.figures / "comparison.png")
    with atomic_path(outputs.plots / "comparison.csv") as tmp:
        table[["test_accuracy", "shuffled_test_accuracy", "contrast_pair_accuracy"]].to_csv(tmp)
    with atomic_path(outputs.report) as tmp:
        tmp.write_text(comparison_report(table, champion))

    for name in table.index:
        record = read_json(models_root / name / RUN_FILE)
        metrics = read_json(outputs.metrics / f"{name}.json")
        # Logged at the run's last epoch step, so these (not a mid-training epoch) are the
        # values MLflow shows as the run's latest val_accuracy.
        epochs_run = table.loc[name, "epochs_run"]
        last_step = int(epochs_run) - 1 if pd.notna(epochs_run) else 0
        with open_recorded_run(record["run_id"], name):
            mlflow.log_metrics(metrics, step=last_step)
            for figure in figures[name]:
                mlflow.log_artifact(str(figure), artifact_path="evaluation")
            mlflow.log_artifact(str(outputs.report), artifact_path="comparison")
            mlflow.log_artifact(str(comparison_png), artifact_path="comparison")
    # A queued experiment is a candidate, not a release: the workers of a sweep would otherwise
    # move `champion` in whatever order they finish. Its versions are registered (tagged with
    # the experiment's name) for a person to promote.
    move_alias = not in_temporary_copy()
    versions = register_versions(table, families, champion, move_alias=move_alias)
    if move_alias:
        log.info(
            "champion (best val_accuracy): %s, registry version %s", champion, versions[champion]
        )
    else:
        log.info(
            "experiment %s: best is %s (registry version %s); `champion` left as it was. "
            "Promote it in the MLflow UI, or `dvc exp apply` it and rerun evaluate",
            os.environ.get("DVC_EXP_NAME", "?"), champion, versions[champion],
        )  # fmt: skip
    parent = project_run_id()
    if parent:  # under `mlflow run`, the run the user started shows the outcome too
        client = mlflow.MlflowClient()
        for artifact in (outputs.report, comparison_png):
            client.log_artifact(parent, str(artifact), artifact_path="comparison")
        client.set_tag(parent, "champion", champion)
    return table


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


def comparison_report(table: pd.DataFrame, champion: str) -> str:
    """Markdown: the table, a paragraph of findings computed from it, links to the plots."""
    shown = pd.DataFrame(
        {
            "family": table.family,
            "val acc": table.val_accuracy.map(_pct),
            "test acc": table.test_accuracy.map(_pct),
            "test F1": table.test_f1.map("{:.3f}".format),
            "test AUC": table.test_roc_auc.map("{:.3f}".format),
            "shuffled acc": table.shuffled_test_accuracy.map(_pct),
            "drop (points)": (100 * table.shuffled_accuracy_drop).map("{:+.2f}".format),
            "contrast acc": table.contrast_accuracy.map(_pct),
            "contrast pairs": table.contrast_pair_accuracy.map(_pct),
            "train s": table.train_seconds.map("{:.0f}".format),
            "parameters": table.parameters.map("{:,}".format),
        },
        index=table.index,
    )
    shown.index = [f"**{m}** (champion)" if m == champion else m for m in shown.index]
    lines = [
        "# What does word order buy?",
        "",
        "Generated by the `evaluate` stage from `metrics/*.json`; every number below is computed,",
        "none is typed in. Test set: 25,000 IMDB reviews never used for any choice; the champion",
        "is picked on the validation split.",
        "",
        _markdown_table(shown),
        "",
        "- *shuffled acc*: accuracy on the test reviews with each review's words in a seeded",
        "  random order; *drop*: test accuracy minus that, in percentage points.",
        "- *contrast*: minimal pairs (`data/contrast/pairs.tsv`) whose two reviews have exactly",
        "  the same words in a different order and opposite sentiment; *pairs*: both of a pair",
        "  right.",
        "",
        "## Findings",
        "",
        findings(table, champion),
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


def findings(table: pd.DataFrame, champion: str) -> str:
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
    return " ".join(sentences)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _range_pct(values: pd.Series) -> str:
    low, high = values.min(), values.max()
    return _pct(low) if low == high else f"{_pct(low)} to {_pct(high)}"


def _markdown_table(frame: pd.DataFrame) -> str:
    header = ["model", *frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index), *map(str, row.tolist())]) + " |")
    return "\n".join(lines)
