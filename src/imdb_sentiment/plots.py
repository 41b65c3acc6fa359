"""Figures people would rather look at than read; saved as PNG for MLflow and reports."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # stages run headless (DVC, CI, servers)
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_learning_curves(history: pd.DataFrame, title: str, dest: Path) -> Path:
    """Loss and accuracy per epoch, train vs validation: the plot the tutorials show."""
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
    fig.suptitle(title)
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest
