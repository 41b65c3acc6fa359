"""DVC stage prepare: archive -> split, vocabulary, padded ids, dataset stats."""

from pathlib import Path

from imdb_sentiment.cli import run_stage
from imdb_sentiment.data.prepare import prepare_dataset
from imdb_sentiment.files import atomic_path, write_json
from imdb_sentiment.params import load_params


def main() -> None:
    params = load_params()
    stats, histogram = prepare_dataset(
        Path("data/raw/aclImdb_v1.tar.gz"), Path("data/prepared"), params.prepare, params.seed
    )
    write_json("reports/dataset_stats.json", stats)
    with atomic_path("plots/review_lengths.csv") as tmp:
        histogram.to_csv(tmp, index=False)


if __name__ == "__main__":
    run_stage(main)
