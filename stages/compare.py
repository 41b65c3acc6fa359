"""DVC stage compare@CORPUS: every model's saved scores and numbers (scores/CORPUS/) -> paired
differences, the answer in three parts, the headline metrics and plot CSVs (reports/CORPUS/
evaluation/, metrics/CORPUS/, plots/CORPUS/). Scores nothing and imports no TensorFlow. (The
report: the report stage; the registry: `imdb-sentiment promote`.)"""

from imdb_sentiment.cli import corpus_stage, run_stage
from imdb_sentiment.evaluation.compare import compare_models
from imdb_sentiment.evaluation.probes import load_probes
from imdb_sentiment.paths import CorpusPaths


def main() -> None:
    params = corpus_stage(__doc__)
    paths = CorpusPaths(params.corpus)
    compare_models(
        params.families(),
        {name: spec.embedding_init for name, spec in params.models.items()},
        load_probes(paths.probes),
        params.seed,
        paths.models,
        paths.prepared,
        paths.scores,
        paths.outputs,
    )


if __name__ == "__main__":
    run_stage(main)
