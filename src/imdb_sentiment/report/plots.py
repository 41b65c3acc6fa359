"""Figures people would rather look at than read; saved as PNG for MLflow and reports."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # stages run headless (DVC, CI, servers)
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from imdb_sentiment.files import atomic_path  # noqa: E402


def plot_learning_curves(
    history: pd.DataFrame, title: str, dest: Path, best_epoch: int | None = None
) -> Path:
    """Loss and accuracy per epoch, train vs validation: the plot the tutorials show.

    ``best_epoch`` (1-based) marks the epoch whose weights early stopping kept.
    """
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    epochs = history["epoch"]
    for ax, metric in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.plot(epochs, history[metric], "o-", label="train")
        ax.plot(epochs, history[f"val_{metric}"], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_xticks(list(epochs))
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1)
            ax.annotate(
                "kept",
                (best_epoch, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                color="grey",
            )
    fig.suptitle(title)
    return _save(fig, dest)


def plot_roc(roc: pd.DataFrame, name: str, dest: Path) -> Path:
    """ROC curve on the test set, with the chance diagonal."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    ax.plot(roc["fpr"], roc["tpr"], label=name)
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{name}: test ROC")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, dest)


def plot_confusion(rows: pd.DataFrame, name: str, dest: Path) -> Path:
    """Test-set confusion matrix from one (actual, predicted) row per review, as counts."""
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4), constrained_layout=True)
    ConfusionMatrixDisplay.from_predictions(
        rows["actual"],
        rows["predicted"],
        labels=["negative", "positive"],
        cmap="Blues",
        colorbar=False,
        values_format=",d",
        ax=ax,
    )
    ax.set_title(f"{name}: test confusion matrix")
    return _save(fig, dest)


def plot_comparison(table: pd.DataFrame, dest: Path) -> Path:
    """Per model: test accuracy, shuffled-word accuracy and minimal-pair accuracy side by side."""
    bars = [
        ("test_accuracy", "test accuracy"),
        ("shuffled_test_accuracy", "test accuracy, words shuffled"),
        ("contrast_pair_accuracy", "minimal pairs both right"),
    ]
    fig, ax = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    width = 0.8 / len(bars)
    positions = range(len(table))
    for offset, (column, label) in enumerate(bars):
        xs = [p + (offset - 1) * width for p in positions]
        drawn = ax.bar(xs, table[column], width, label=label)
        ax.bar_label(drawn, labels=[f"{v:.3f}" for v in table[column]], fontsize=6, padding=2)
    ax.set_xticks(list(positions), table.index)
    ax.set_ylim(0, 1.18)
    ax.set_ylabel("fraction correct")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_title("What word order buys: accuracy with and without order")
    ax.legend(loc="upper center", ncols=3, fontsize=8, frameon=False)
    return _save(fig, dest)


def plot_shuffle_windows(curve: pd.DataFrame, dest: Path) -> Path:
    """Accuracy against the shuffle window k, one line per model, with 95% intervals:
    how far each model's use of word order reaches."""
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    windows = list(dict.fromkeys(curve.window))
    for model, rows in curve.groupby("model", sort=False):
        xs = [windows.index(w) for w in rows.window]
        ax.plot(xs, rows.accuracy, marker="o", label=model)
        ax.fill_between(xs, rows.ci_low, rows.ci_high, alpha=0.15)
    ax.set_xticks(range(len(windows)), [f"k={w}" if w != "all" else "whole" for w in windows])
    ax.set_xlabel("words shuffled within windows of k (k=1: as written)")
    ax.set_ylabel("test accuracy")
    ax.set_title("How far does word order reach? Accuracy as order is destroyed")
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, dest)


def _save(fig, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return dest
