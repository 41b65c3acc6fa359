"""Where the project's outputs live, named once for the stages that write and read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The headline metric files compare writes under metrics/ (evaluation/headline.py fills them).
# file name -> the per-model evaluation metric it holds. Validation accuracy is each model's
# training headline (metrics/train/NAME.json) and is not repeated here: each fact once.
EVALUATION_FILES = {
    "test": "test_accuracy",
    "drop": "shuffled_accuracy_drop",  # test accuracy lost when words are shuffled
    "pairs": "contrast_pair_accuracy",  # minimal pairs with both reviews right
}
# The answer in three parts (compare.answer_parts), each a paired difference of test accuracy
# with its interval, under a model's column: head to head (the best recurrent model minus the
# best bag), on top (the best bag + each recurrent model, minus the bag alone) and with the
# words held equal (the best recurrent model minus the neural bag with its embedding init).
ANSWER_PARTS = ("head_to_head", "on_top", "words_equal")
ANSWER_FILES = {
    f"{part}{suffix}": (part, key)
    for part in ANSWER_PARTS
    for suffix, key in (("", "difference"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high"))
}
HEADLINE_FILES = [*EVALUATION_FILES, *ANSWER_FILES]

# The word_vectors stage's folder: one set of vectors, for the models of every corpus.
WORD_VECTORS = Path("data/word_vectors")
WORD_VECTORS_STATS = Path("reports/word_vectors.json")  # texts, tokens, words kept, seconds
RUN_FILE = "mlflow.json"  # in each models/<corpus>/<name>/ folder: the DVC -> MLflow link
# Each corpus format's archive (params.yaml corpora.*.read.format), named as upstream names it.
ARCHIVE_FILES = {"imdb": "aclImdb_v1.tar.gz", "treebank": "trainDevTestTrees_PTB.zip"}


@dataclass(frozen=True)
class CorpusPaths:
    """Where one corpus's pipeline writes and reads: every folder carries the corpus's name,
    so corpora never share an output and DVC re-runs one corpus without the other."""

    corpus: str

    @property
    def raw(self) -> Path:
        """download@CORPUS's folder: the corpus's archive, as fetched and verified."""
        return Path("data/raw") / self.corpus

    def archive(self, corpus_format: str) -> Path:
        """Where download@CORPUS puts the archive and prepare@CORPUS reads it."""
        return self.raw / ARCHIVE_FILES[corpus_format]

    @property
    def prepared(self) -> Path:
        return Path("data/prepared") / self.corpus

    @property
    def probes(self) -> Path:
        """Every text set the corpus's models are scored on (the probes stage)."""
        return Path("data/probes") / self.corpus

    @property
    def models(self) -> Path:
        """One folder per model: models/CORPUS/NAME."""
        return Path("models") / self.corpus

    @property
    def scores(self) -> Path:
        return Path("scores") / self.corpus

    @property
    def checkpoints(self) -> Path:
        return Path("checkpoints") / self.corpus

    @property
    def train_metrics(self) -> Path:
        """Each model's training headline: metrics/CORPUS/train/NAME.json."""
        return Path("metrics") / self.corpus / "train"

    @property
    def dataset_stats(self) -> Path:
        return Path("reports") / self.corpus / "dataset_stats.json"

    @property
    def lengths(self) -> Path:
        """Texts per token-length bin and split (a DVC plot)."""
        return Path("plots") / self.corpus / "review_lengths.csv"

    @property
    def outputs(self) -> Outputs:
        return Outputs(
            Path("metrics") / self.corpus,
            Path("plots") / self.corpus,
            Path("reports") / self.corpus,
        )


@dataclass(frozen=True)
class Outputs:
    """Where compare writes one corpus's numbers and report renders them (all declared in
    dvc.yaml; ``CorpusPaths.outputs`` places them)."""

    metrics: Path
    plots: Path
    reports: Path

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
