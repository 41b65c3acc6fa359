"""DVC stage prepare@CORPUS: archive -> splits, vocabulary, padded ids, dataset stats."""

from imdb_sentiment.cli import corpus_stage, run_stage
from imdb_sentiment.data.prepare import prepare_dataset
from imdb_sentiment.files import atomic_path, write_json
from imdb_sentiment.paths import CorpusPaths


def main() -> None:
    params = corpus_stage(__doc__)
    paths = CorpusPaths(params.corpus)
    archive = paths.archive(params.read.format)
    stats, histogram = prepare_dataset(archive, paths.prepared, params)
    write_json(paths.dataset_stats, stats)
    with atomic_path(paths.lengths) as tmp:
        histogram.to_csv(tmp, index=False)


if __name__ == "__main__":
    run_stage(main)
