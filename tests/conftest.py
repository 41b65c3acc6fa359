"""Shared fixtures: a tiny archive cut from the real one, and a repo copy to run DVC in."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_ARCHIVE = REPO.parent / "shared" / "data" / "aclImdb_v1_labeled.tar.gz"
REVIEWS_PER_FOLDER = 24  # per split and label: 96 reviews in all


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def cut_archive(dest: Path, per_folder: int = REVIEWS_PER_FOLDER) -> Path:
    """The first ``per_folder`` reviews of each train/test pos/neg folder of the real archive,
    or synthetic reviews in the same layout where the real archive is not at hand."""
    wanted = {f"aclImdb/{s}/{p}/": per_folder for s in ("train", "test") for p in ("pos", "neg")}
    with tarfile.open(dest, "w:gz") as out:
        if REAL_ARCHIVE.exists():
            with tarfile.open(REAL_ARCHIVE, "r:gz") as src:
                for member in src:
                    folder = member.name.rsplit("/", 1)[0] + "/"
                    if "/urls_" in member.name:  # review id -> movie, for the grouped split
                        add_file(out, member.name, src.extractfile(member).read())
                    elif member.isfile() and wanted.get(folder, 0) > 0:
                        wanted[folder] -= 1
                        add_file(out, member.name, src.extractfile(member).read())
        else:
            rng = random.Random(0)
            words = {
                "pos": ["great", "wonderful", "moving", "superb", "loved"],
                "neg": ["awful", "boring", "dull", "worst", "hated"],
            }
            filler = ["the", "film", "plot", "actor", "scene", "story", "was", "and", "it", "a"]
            for folder, count in wanted.items():
                polarity = folder.split("/")[2]
                for i in range(count):
                    text = " ".join(rng.choice(filler + words[polarity]) for _ in range(40))
                    rating = 8 if polarity == "pos" else 2
                    add_file(out, f"{folder}{i}_{rating}.txt", f"{text}<br /><br />end".encode())
    return dest


def sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut_archive(tmp_path_factory.mktemp("archive") / "tiny_aclImdb.tar.gz")


def copy_repo(dest: Path) -> Path:
    """The tracked files of this repo (plus uncommitted edits) in a fresh git repo at ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest
