"""DVC stage compare: every model's saved scores and numbers (scores/) -> paired differences,
the answer in two parts, the headline metrics and plot CSVs (reports/evaluation/, metrics/,
plots/). Scores nothing and imports no TensorFlow. (The report: the report stage; the
registry: `imdb-sentiment promote`.)"""

from imdb_sentiment.cli import run_stage
from imdb_sentiment.evaluation.compare import compare_models
from imdb_sentiment.evaluation.probes import PROBES, load_probes
from imdb_sentiment.params import load_params
from imdb_sentiment.paths import MODELS, PREPARED


def main() -> None:
    params = load_params()
    compare_models(params.families(), load_probes(PROBES), params.seed, MODELS, PREPARED)


if __name__ == "__main__":
    run_stage(main)
