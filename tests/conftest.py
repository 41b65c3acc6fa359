"""Shared fixtures: a tiny archive cut from the real one, and a repo copy to run DVC in."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from imdb_sentiment.params import Params, load_params

REPO = Path(__file__).resolve().parents[1]
REAL_ARCHIVE = REPO.parent / "shared" / "data" / "aclImdb_v1_full.tar.gz"
REAL_TREEBANK = REPO.parent / "shared" / "data" / "trainDevTestTrees_PTB.zip"
# Trees per file of the tiny treebank: its training trees give a few hundred distinct phrases.
TREES_PER_FILE = {"trees/train.txt": 40, "trees/dev.txt": 24, "trees/test.txt": 24}
REVIEWS_PER_FOLDER = 24  # per split and label: 96 labeled reviews in all, and 24 unlabeled
NEURAL_MODELS = ["simple_rnn", "lstm", "gru", "bilstm", "dan", "dan_wv"]  # params.yaml `models:`
RECURRENT_MODELS = NEURAL_MODELS[:4]  # the ones that read order
NEURAL_BAGS = NEURAL_MODELS[4:]  # dan from a random embedding, and from the word vectors
BAGS = ["tfidf", "tfidf_bigram", "nb_trigram"]  # params.yaml `baselines:`
MODELS = NEURAL_MODELS + BAGS
ENSEMBLES = ["gru_nb"]
# The smallest pipeline with every kind of stage: one recurrent model, the unigram reference
# bag, the best bag and their ensemble. Tests of what wraps a whole `dvc repro` (`mlflow run`,
# the team server) run it; the shared `pipeline` fixture keeps every model.
FEW_MODELS = ["gru", "tfidf", "nb_trigram"]


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def cut_archive(dest: Path, per_folder: int = REVIEWS_PER_FOLDER) -> Path:
    """The first ``per_folder`` reviews of each train/test pos/neg folder of the real archive,
    or synthetic reviews in the same layout where the real archive is not at hand."""
    wanted = {f"aclImdb/{s}/{p}/": per_folder for s in ("train", "test") for p in ("pos", "neg")}
    wanted["aclImdb/train/unsup/"] = per_folder
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
            for number, (folder, count) in enumerate(wanted.items()):
                polarity = folder.split("/")[2]
                if polarity == "unsup":
                    words[polarity] = words["pos"] + words["neg"]
                # Three reviews per movie, as the real urls_*.txt say which movie each is about.
                urls = "".join(
                    f"http://www.imdb.com/title/tt{1000 * (number + 1) + i // 3:07d}/usercomments\n"
                    for i in range(count)
                )
                add_file(out, f"{folder.rsplit('/', 2)[0]}/urls_{polarity}.txt", urls.encode())
                for i in range(count):
                    text = " ".join(rng.choice(filler + words[polarity]) for _ in range(40))
                    rating = {"pos": 8, "neg": 2, "unsup": 0}[polarity]
                    add_file(out, f"{folder}{i}_{rating}.txt", f"{text}<br /><br />end".encode())
    return dest


def sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# The word vectors at the tiny models' width, so that a model that starts from them still may.
TINY_PARAMS = {"train": {"epochs": 1}, "word_vectors": {"dim": 8}}
TINY_PREPARE = {"vocab_size": 2000, "max_len": 60, "truncating": "pre"}
# Set on every `models:` entry: small enough to train in seconds on 86 reviews.
TINY_MODEL = {
    "vocab_size": 2000,
    "embedding_dim": 8,
    "units": 10,
    "batch_size": 32,
    "learning_rate": 0.01,
}


def project_env(tracking_uri: str) -> dict[str, str]:
    """The environment a user's shell has: this venv first on PATH, a chosen MLflow store."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # A tiny training ends within MLflow's default 10 s between system-metric samples.
    env["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] = "1"
    env.pop("DVC_ROOT", None)
    return env


def model_entries(params: dict) -> list[dict]:
    """Every `models:` entry of a parsed params.yaml: the shared ones and each corpus's own."""
    overrides = [c.get("models", {}) for c in params["corpora"].values()]
    return [*params["models"].values(), *(e for o in overrides for e in o.values())]


def edit_params(
    repo: Path, every_model: dict | None = None, corpora: dict | None = None, **sections: dict
) -> None:
    """Update params.yaml sections; ``every_model`` updates each `models:` entry and each
    corpus's own model defaults, ``corpora`` each named corpus's sections (corpus -> section
    -> values)."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    for entry in model_entries(params):
        entry.update(every_model or {})  # a corpus's own defaults shrink with the shared ones
    for corpus, corpus_sections in (corpora or {}).items():
        for section, values in corpus_sections.items():
            entry = params["corpora"][corpus]
            if isinstance(entry.get(section), dict):
                entry[section].update(values)
            else:
                entry[section] = values
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def dvc(repo: Path, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(autouse=True)
def isolated_process_state() -> Iterator[None]:
    """Each test leaves the test process as it found it, so that no test depends on the order.

    In-process code sets process-wide state that would reach later tests and the processes
    they start: `mlflow.set_experiment` exports MLFLOW_EXPERIMENT_ID (a child then looks for
    that experiment in its own, new store), the quiet TensorFlow import its log level, a
    stage its MLflow settings. MLflow keeps the active experiment and run in module globals."""
    environ = dict(os.environ)
    yield
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.tracking.fluent._active_experiment_id = None  # no public way to unset it
    os.environ.clear()
    os.environ.update(environ)


# Fixtures that build something for many tests (a whole tiny pipeline, a PostgreSQL-backed
# server), and the group of tests each one's users form. Under pytest-xdist (`-n 2 --dist
# loadgroup`, pyproject.toml) every test of a group is sent to the same worker, so each fixture
# is built once, not once per worker. The team server's group holds the pipeline logged to it.
SHARED_FIXTURES = {"team_tracking": "team", "pipeline": "pipeline", "corpora": "corpora"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups off the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        groups = [group for name, group in SHARED_FIXTURES.items() if name in item.fixturenames]
        if groups:
            item.add_marker(pytest.mark.xdist_group(groups[0]))


def build_once(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    """Fail where a second xdist worker builds the shared fixture ``name``: its tests were not
    grouped on one worker, and the suite pays for the fixture twice."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    marker = tmp_path_factory.getbasetemp().parent / f"built-{name}"  # the workers' common root
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        pytest.fail(
            f"a second worker builds the shared `{name}`: --dist loadgroup did not keep its "
            "tests together (the xdist_group markers, or a pytest that xdist does not support)"
        )


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, tiny_archive):
    """A repo copy whose pipeline has run once on the tiny archive; its env and repro output."""
    build_once(tmp_path_factory, "pipeline")
    repo = tiny_repo(tmp_path_factory.mktemp("repo"), tiny_archive)
    store = tmp_path_factory.mktemp("mlflow")
    env = project_env(f"sqlite:///{store / 'mlflow.db'}")
    first = dvc(repo, env, "repro")
    promote(repo, env)  # what `make run` does after `dvc repro`
    return repo, env, first


@pytest.fixture(scope="session")
def corpora(tmp_path_factory, tiny_archive, tiny_treebank):
    """A repo copy whose pipeline has run once on both corpora (the tiny archive and the tiny
    treebank, a few models each), promoted; its env and repro output."""
    build_once(tmp_path_factory, "corpora")
    repo = tiny_repo(tmp_path_factory.mktemp("corpora"), tiny_archive, FEW_MODELS, tiny_treebank)
    store = tmp_path_factory.mktemp("corpora-mlflow")
    env = project_env(f"sqlite:///{store / 'mlflow.db'}")
    first = dvc(repo, env, "repro")
    promote(repo, env)
    return repo, env, first


def own_copy(pipeline: tuple, dest: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the shared pipeline's repo and of its MLflow store: a test that changes or
    breaks either works on its copy, so no other test sees what it did, in any order."""
    repo = shutil.copytree(pipeline[0], dest / "repo", symlinks=True)
    source = Path(pipeline[1]["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    if source.exists():  # none yet where no stage has logged a run
        shutil.copy2(source, dest / "mlflow.db")
    return repo, {**pipeline[1], "MLFLOW_TRACKING_URI": f"sqlite:///{dest / 'mlflow.db'}"}


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, tiny_archive):
    """A repo copy whose pipeline has run up to `prepare` on the tiny archive, for the tests
    that train one model by hand (checkpoints, resuming, a tracking-server outage). Seconds to
    build, so each xdist worker builds its own and those tests spread over both."""
    repo = tiny_repo(tmp_path_factory.mktemp("prepared"), tiny_archive)
    store = tmp_path_factory.mktemp("prepared-mlflow")
    env = project_env(f"sqlite:///{store / 'mlflow.db'}")
    # The word vectors too: every neural model's train stage depends on them.
    return repo, env, dvc(repo, env, "repro", "prepare", "word_vectors")


def runs_in(uri: str, **filters: str) -> pd.DataFrame:
    """Every run in the store at ``uri`` as one row (run_id, experiment_id, status,
    artifact_uri, metrics.*, params.*, tags.*), read through a client of that store: no test
    depends on MLflow's process-wide tracking URI."""
    import pandas as pd

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    rows = []
    for run in client.search_runs(experiments, max_results=10_000):
        rows.append(
            {
                "run_id": run.info.run_id,
                "experiment_id": run.info.experiment_id,
                "status": run.info.status,
                "artifact_uri": run.info.artifact_uri,
                **{f"metrics.{k}": v for k, v in run.data.metrics.items()},
                **{f"params.{k}": v for k, v in run.data.params.items()},
                **{f"tags.{k}": v for k, v in run.data.tags.items()},
            }
        )
    runs = pd.DataFrame(rows)
    for column, value in filters.items():
        runs = runs[runs[column] == value]
    return runs


def promote(repo: Path, env: dict) -> subprocess.CompletedProcess:
    """`imdb-sentiment promote` in ``repo``: the registry step after `dvc repro`."""
    result = subprocess.run(
        [sys.executable, "-m", "imdb_sentiment", "promote"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"imdb-sentiment promote failed:\n{result.stderr}")
    return result


def tiny_repo(
    dest: Path,
    tiny_archive: Path,
    models: list[str] | None = None,
    treebank: Path | None = None,
) -> Path:
    """A committed copy of this repo whose params read the tiny archive and train tiny models
    (``models``: only these, and the ensembles of them; every model when None). Its corpora:
    IMDB alone, or IMDB and SST-2 from the tiny ``treebank``.

    The first source is a path that does not exist, so the download stage falls through."""
    repo = copy_repo(dest)
    if models is not None:
        keep_only(repo, models)
    corpora = {"imdb": {"sources": tiny_sources(tiny_archive), "prepare": TINY_PREPARE}}
    if treebank is not None:
        corpora["sst2"] = {"sources": tiny_sources(treebank), "prepare": TINY_PREPARE}
    keep_corpora(repo, list(corpora))
    edit_params(repo, every_model=TINY_MODEL, corpora=corpora, **TINY_PARAMS)
    git(repo, "commit", "-qam", "tiny params")
    return repo


def corpus_params(corpus: str = "imdb", read: dict | None = None, **prepare: object) -> Params:
    """params.yaml's params of ``corpus``, with its ``read`` and ``prepare`` values updated."""
    params = load_params(REPO / "params.yaml", corpus=corpus)
    return params.model_copy(
        update={
            "read": params.read.model_copy(update=read or {}),
            "prepare": params.prepare.model_copy(update=prepare),
        }
    )


def tiny_sources(archive: Path) -> list[dict[str, str]]:
    """A corpus's sources for a tiny archive: a path that does not exist, then the archive."""
    digest = sha256_of(archive)
    missing = f"no/such/{archive.name}"
    return [{"url": missing, "sha256": digest}, {"url": str(archive), "sha256": digest}]


def keep_corpora(repo: Path, corpora: list[str]) -> None:
    """Drop from params.yaml every corpus not in ``corpora``."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["corpora"] = {k: v for k, v in params["corpora"].items() if k in corpora}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def keep_only(repo: Path, models: list[str]) -> None:
    """Drop from params.yaml every model, baseline and ensemble not built from ``models``."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section in ("models", "baselines"):
        params[section] = {k: v for k, v in params[section].items() if k in models}
    params["ensembles"] = {
        k: v for k, v in params["ensembles"].items() if set(v["members"]) <= set(models)
    }
    for corpus in params["corpora"].values():  # a corpus may override only what is left
        for section in ("models", "baselines", "ensembles"):
            if section in corpus:
                corpus[section] = {k: v for k, v in corpus[section].items() if k in params[section]}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def cut_treebank(dest: Path, trees: dict[str, int] = TREES_PER_FILE) -> Path:
    """The first and the last trees of each of the real treebank's files, in its own zip
    layout: upstream's files hold their positive sentences first, their negative ones last."""
    with zipfile.ZipFile(REAL_TREEBANK) as src, zipfile.ZipFile(dest, "w") as out:
        for member, count in trees.items():
            lines = src.read(member).decode("utf-8").splitlines(keepends=True)
            out.writestr(member, "".join(lines[: count // 2] + lines[-(count - count // 2) :]))
    return dest


@pytest.fixture(scope="session")
def tiny_treebank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut_treebank(tmp_path_factory.mktemp("treebank") / "tiny_trees.zip")


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout


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
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "copy")
    return dest


def postgres_folder(prefix: str) -> Path:
    """A fresh folder for a PostgreSQL cluster and tracking server; skips the test where
    PostgreSQL's server programs are missing (fails instead under
    IMDB_SENTIMENT_REQUIRE_POSTGRES, as CI sets it)."""
    from imdb_sentiment.tracking.team_server import ServerSetupError, postgres_bin

    try:
        postgres_bin("initdb")
    except ServerSetupError as exc:
        if os.environ.get("IMDB_SENTIMENT_REQUIRE_POSTGRES"):
            raise
        pytest.skip(str(exc))
    # Not pytest's tmp_path: its parents are private to this user, and PostgreSQL, when the
    # tests run as root, runs as `postgres` and must reach its folder.
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def bag_params(weighting: str = "tfidf", ngram_max: int = 1, max_iter: int = 200):
    """A bag-of-n-grams baseline's params for tiny data: every n-gram kept, C 1."""
    from imdb_sentiment.params import BaselineParams

    return BaselineParams(
        weighting=weighting,
        ngram_max=ngram_max,
        min_df=1,
        max_features=None,
        sublinear_tf=weighting == "tfidf",
        C=(1.0,),
        max_iter=max_iter,
    )


def fit_bag(texts, labels, weighting: str = "tfidf", ngram_max: int = 1):
    """That baseline's raw-text Pipeline, fitted as baseline@NAME fits it (C fixed at 1)."""
    from sklearn.pipeline import Pipeline

    from imdb_sentiment.models.baseline import build_classifier, build_features

    params = bag_params(weighting, ngram_max)
    steps = [("features", build_features(params)), ("classifier", build_classifier(params, 1, 0))]
    return Pipeline(steps).fit(texts, labels)


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``text``, in order: its rows as {header: cell}. Cells split on
    `` | ``, so an escaped ``\\|`` inside a cell stays in it."""
    found: list[list[dict[str, str]]] = []
    block: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        elif block:
            header, _, *body = block
            found.append([dict(zip(header, row, strict=True)) for row in body])
            block = []
    return found


def table_with(text: str, column: str) -> dict[str, dict[str, str]]:
    """The first Markdown table in ``text`` with a ``column`` header, keyed by its first cell."""
    for rows in markdown_tables(text):
        if rows and column in rows[0]:
            return {next(iter(row.values())): row for row in rows}
    raise AssertionError(f"no table with a {column!r} column")


def section(text: str, heading: str) -> str:
    """The Markdown section that opens with ``heading`` (any level), up to the next heading."""
    start = text.index(heading)
    rest = text[start + len(heading) :]
    ends = [rest.find(f"\n{'#' * level} ") for level in (1, 2, 3)]
    ends = [end for end in ends if end >= 0]
    return text[start : start + len(heading) + (min(ends) if ends else len(rest))]
