"""DVC stage download@CORPUS: the first of the corpus's sources that verifies ->
data/raw/CORPUS/."""

from imdb_sentiment.cli import corpus_stage, run_stage
from imdb_sentiment.data.download import fetch_archive
from imdb_sentiment.files import project_root
from imdb_sentiment.paths import CorpusPaths


def main() -> None:
    params = corpus_stage(__doc__)
    archive = CorpusPaths(params.corpus).archive(params.read.format)
    fetch_archive(params.sources, archive, root=project_root())


if __name__ == "__main__":
    run_stage(main)
