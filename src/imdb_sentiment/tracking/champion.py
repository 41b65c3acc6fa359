"""The champion rule, in one place: the registry moves the `champion` alias by it, and compare
(which imports no MLflow) names the best model of each family by it."""

from __future__ import annotations

import pandas as pd

CHAMPION_METRIC = "val_accuracy"  # never a test metric: the test set picks nothing


def champion_of(table: pd.DataFrame) -> str:
    """The best validation accuracy in ``table`` (one row per model; first listed on a tie)."""
    return str(table[CHAMPION_METRIC].idxmax())
