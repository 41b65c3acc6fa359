"""DVC stage word_vectors: word2vec on the prepared training split and unlabeled texts of
params.yaml's word_vectors.corpus -> data/word_vectors/ (vectors.npy, vocabulary.json), where a
model with `embedding_init: word_vectors` starts; what it saw -> reports/word_vectors.json."""

import argparse

from imdb_sentiment.cli import run_stage
from imdb_sentiment.data.word_vectors import write_word_vectors
from imdb_sentiment.files import write_json
from imdb_sentiment.params import load_params
from imdb_sentiment.paths import WORD_VECTORS, WORD_VECTORS_STATS, CorpusPaths


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    params = load_params()
    source = CorpusPaths(params.word_vectors.corpus)
    stats = write_word_vectors(source.prepared, WORD_VECTORS, params.word_vectors, params.seed)
    write_json(WORD_VECTORS_STATS, stats)


if __name__ == "__main__":
    run_stage(main)
