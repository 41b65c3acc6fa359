"""Where the project's outputs live, named once for the stages that write and read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imdb_sentiment.headline import ANSWER_FILES, EVALUATION_FILES

HEADLINE_FILES = [*EVALUATION_FILES, *ANSWER_FILES]

PREPARED = Path("data/prepared")
MODELS = Path("models")
TRAIN_METRICS = Path("metrics/train")  # train@NAME / baseline@NAME: metrics/train/NAME.json


@dataclass(frozen=True)
class Outputs:
    """Where compare writes numbers and report renders them (all declared in dvc.yaml)."""

    metrics: Path = Path("metrics")
    plots: Path = Path("plots")
    reports: Path = Path("reports")

    @property
    def evaluation(self) -> Path:
        """Every number of the evaluation, per model and across models (JSON)."""
        return self.reports / "evaluation"

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
    def table(self) -> Path:
        return self.plots / "comparison.csv"

    def model_evaluation(self, name: str) -> Path:
        return self.evaluation / f"{name}.json"

    @property
    def differences(self) -> Path:
        return self.evaluation / "differences.json"

    @property
    def order(self) -> Path:
        return self.evaluation / "order.json"

    def declared(self) -> list[Path]:
        """Every output of the compare stage, as dvc.yaml lists it (outs, metrics, plots)."""
        headline = [self.metrics / f"{stem}.json" for stem in HEADLINE_FILES]
        plots = [self.histories, self.plots / "roc", self.plots / "confusion"]
        return [self.evaluation, self.table, self.curve, *headline, *plots]

    def rendered(self) -> list[Path]:
        """Every output of the report stage."""
        return [self.report, self.figures]

    def under(self, folder: Path) -> Outputs:
        """The same layout inside ``folder`` (a staging folder)."""
        return Outputs(folder / self.metrics, folder / self.plots, folder / self.reports)

    @property
    def comparison(self) -> Path:
        """What the report needs beyond the per-model numbers: families, the champion, ..."""
        return self.evaluation / "comparison.json"
