"""DVC stage download: the first source in data.sources that verifies -> data/raw/."""

from pathlib import Path

from imdb_sentiment.cli import run_stage
from imdb_sentiment.data.download import fetch_archive
from imdb_sentiment.files import project_root
from imdb_sentiment.params import load_params

ARCHIVE = Path("data/raw/aclImdb_v1.tar.gz")


def main() -> None:
    params = load_params()
    fetch_archive(params.data.sources, ARCHIVE, root=project_root())


if __name__ == "__main__":
    run_stage(main)
