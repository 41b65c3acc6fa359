"""DVC stage transfer@CORPUS: the corpus's answer and its chosen models (champion, best
recurrent, best bag), those scored on every corpus's test set -> reports/corpora/CORPUS.json."""

from imdb_sentiment.cli import corpus_stage, run_stage
from imdb_sentiment.evaluation.transfer import corpus_summary
from imdb_sentiment.files import write_json
from imdb_sentiment.params import load_params_file
from imdb_sentiment.paths import CorpusPaths
from imdb_sentiment.report.summary import corpus_summary_file


def main() -> None:
    params = corpus_stage(__doc__)
    paths = CorpusPaths(params.corpus)
    probes = {corpus: CorpusPaths(corpus).probes for corpus in load_params_file().corpora}
    summary = corpus_summary(
        params.corpus, probes, paths.models, paths.outputs.evaluation, params.seed
    )
    write_json(corpus_summary_file(params.corpus), summary)


if __name__ == "__main__":
    run_stage(main, tensorflow=True)  # the best recurrent model reads the other corpora's texts
