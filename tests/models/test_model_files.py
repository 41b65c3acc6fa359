"""Model files that run no code when loaded: skops pipelines with a trusted-types check,
Keras in safe mode, and a pyfunc logged from code, for every model family."""

from __future__ import annotations

import importlib.metadata
import json
import pickle
import zipfile
from pathlib import Path

import cloudpickle
import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import fit_bag
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from imdb_sentiment.data.text import OOV_TOKEN, PAD_TOKEN, Vocabulary
from imdb_sentiment.models.networks import build_model
from imdb_sentiment.params import ModelParams
from imdb_sentiment.serving.mlflow_model import log_sentiment_model
from imdb_sentiment.serving.pipeline_file import (
    PipelineFileError,
    UntrustedModelError,
    load_pipeline,
    save_pipeline,
    vectorizers,
    vocabulary_path,
)
from imdb_sentiment.serving.predictors import (
    KERAS_FILE,
    PIPELINE_FILE,
    TEXT_CONFIG_FILE,
    VOCAB_FILE,
    load_predictor,
)

TEXTS = ["a great film, loved it", "an awful dull film", "great fun", "awful, boring"] * 4
LABELS = [1, 0, 1, 0] * 4
INPUT_EXAMPLE = pd.DataFrame(
    {"text": ["A wonderful film, moving and funny.", "Dull and far too long."]}
)
WORDS = ["a", "great", "film", "loved", "it", "an", "awful", "dull", "fun", "boring"]
# A pickle stream starts with PROTO (0x80) and its protocol number (2-5 since Python 3).
PICKLE_STARTS = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))


def pipeline_folder(folder: Path) -> Path:
    """A bag of n-grams with the project's own NB weighting step in it (skops must load it)."""
    save_pipeline(fit_bag(TEXTS, LABELS, "nb", ngram_max=2), folder / PIPELINE_FILE)
    return folder


def keras_folder(folder: Path, arch: str, pooling: str, word_dropout: float = 0.0) -> Path:
    """A tiny untrained model whose layers include the project's custom ones."""
    spec = ModelParams(
        arch=arch,
        vocab_size=len(WORDS) + 2,
        embedding_dim=4,
        embedding_init="random",
        embedding_dropout=0.1,
        word_dropout=word_dropout,
        units=4,
        layers=1,
        dropout=0.1,
        pooling=pooling,
        batch_size=8,
        learning_rate=0.01,
        lr_schedule="cosine",
    )
    build_model(arch, spec, steps_per_epoch=2, epochs=1, seed=0).save(folder / KERAS_FILE)
    Vocabulary([PAD_TOKEN, OOV_TOKEN, *WORDS]).save(folder / VOCAB_FILE)
    (folder / TEXT_CONFIG_FILE).write_text(json.dumps({"max_len": 20, "truncating": "pre"}))
    return folder


FAMILIES = {
    "tfidf": (pipeline_folder, ["scikit-learn", "skops"]),
    "bilstm": (lambda f: keras_folder(f, "bilstm", "last"), ["tensorflow", "keras"]),
    "gru": (lambda f: keras_folder(f, "gru", "max"), ["tensorflow", "keras"]),
    "dan": (lambda f: keras_folder(f, "dan", "mean", word_dropout=0.3), ["tensorflow", "keras"]),
}


def pickles_in(root: Path) -> list[str]:
    """Every file under ``root`` (and member of a zip there) that is or holds a pickle."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        if path.suffix in {".pkl", ".pickle", ".joblib"} or path.read_bytes().startswith(
            PICKLE_STARTS
        ):
            found.append(name)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    with archive.open(member) as handle:
                        if handle.read(2) in PICKLE_STARTS:
                            found.append(f"{name}:{member}")
                    if member.endswith(".npy"):  # an object array would be pickled inside
                        with archive.open(member) as handle:
                            np.load(handle, allow_pickle=False)
    return found


@pytest.fixture
def tracking(tmp_path):
    """A fresh MLflow store of the test's own, as the process-wide one (runs go to its
    Default experiment: an active experiment set here would outlive the test)."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.fixture
def no_unpickling(monkeypatch):
    """Make every way of reading a pickle fail while the test runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model file was unpickled")

    for module, name in [
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (pickle, "_Unpickler"),
        (cloudpickle, "load"),
        (cloudpickle, "loads"),
    ]:
        monkeypatch.setattr(module, name, refuse)


@pytest.mark.parametrize("name", FAMILIES)
def test_a_logged_model_holds_no_pickle_and_loads_without_unpickling(
    name, tmp_path, tracking, request
):
    make_folder, requirements = FAMILIES[name]
    (tmp_path / "predictor").mkdir()
    predictor = make_folder(tmp_path / "predictor")
    with mlflow.start_run() as run:
        info = log_sentiment_model(name, predictor, requirements)

    downloaded = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=tmp_path / "m"))
    assert (downloaded / "MLmodel").exists()
    assert pickles_in(downloaded) == []
    assert not list(downloaded.rglob("python_model.pkl"))

    request.getfixturevalue("no_unpickling")
    # Named after the model: runs:/<id>/<name> is the URI a user types.
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/{name}")
    out = model.predict(INPUT_EXAMPLE)
    assert list(out.columns) == ["probability", "label"] and len(out) == len(INPUT_EXAMPLE)


def test_a_logged_model_pins_its_whole_closure_at_the_installed_versions(tmp_path, tracking):
    with mlflow.start_run():
        info = log_sentiment_model("tfidf", pipeline_folder(tmp_path), ["scikit-learn", "skops"])
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=tmp_path / "m"))
    pinned = dict(
        line.split("==") for line in (local / "requirements.txt").read_text().split() if line
    )
    # scikit-learn's own dependencies (scipy, joblib, threadpoolctl) travel with it.
    assert {"mlflow", "scikit-learn", "skops", "scipy", "joblib", "threadpoolctl"} <= set(pinned)
    # The versions it was trained with, whatever requirements.lock says (tests/serving/
    # test_requirements.py has a lock that differs).
    assert all(importlib.metadata.version(name) == version for name, version in pinned.items())


def test_a_pipeline_of_the_projects_own_types_loads(tmp_path):
    pipeline = load_pipeline(pipeline_folder(tmp_path) / PIPELINE_FILE)
    assert pipeline.predict(["great fun"]).tolist() == [1]


@pytest.mark.parametrize("weighting", ["tfidf", "nb"])
def test_a_saved_bag_scores_as_the_fitted_one_with_its_vocabulary_beside_the_skops_file(
    tmp_path, weighting
):
    fitted = fit_bag(TEXTS, LABELS, weighting, ngram_max=2)
    save_pipeline(fitted, tmp_path / PIPELINE_FILE)
    vocabularies = json.loads(vocabulary_path(tmp_path / PIPELINE_FILE).read_text())
    (vectorizer,) = (v for _, v in vectorizers(fitted))
    assert list(vocabularies.values()) == [
        sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    ]
    assert hasattr(vectorizer, "vocabulary_")  # saving leaves the caller's pipeline whole
    loaded = load_pipeline(tmp_path / PIPELINE_FILE)
    texts = ["great fun", "dull and boring", "an awful film"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))


def test_a_pipeline_file_without_its_vocabulary_is_refused_naming_the_fix(tmp_path):
    pipeline_folder(tmp_path)
    vocabulary_path(tmp_path / PIPELINE_FILE).unlink()
    with pytest.raises(PipelineFileError, match="write the two files together with save_pipeline"):
        load_pipeline(tmp_path / PIPELINE_FILE)


def test_a_pipeline_holding_an_untrusted_type_is_refused_naming_it(tmp_path):
    pipeline = Pipeline([("call", FunctionTransformer(json.loads)), ("lr", LogisticRegression())])
    save_pipeline(pipeline, tmp_path / PIPELINE_FILE)
    with pytest.raises(UntrustedModelError, match=r"untrusted types json\.loads"):
        load_predictor(tmp_path)


def test_a_keras_model_with_a_lambda_is_refused(tmp_path):
    ids = keras.Input(shape=(None,), dtype="int32")
    doubled = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Embedding(5, 2)(ids))
    keras.Model(ids, doubled).save(tmp_path / KERAS_FILE)
    Vocabulary([PAD_TOKEN, OOV_TOKEN]).save(tmp_path / VOCAB_FILE)
    (tmp_path / TEXT_CONFIG_FILE).write_text(json.dumps({"max_len": 5, "truncating": "pre"}))
    with pytest.raises(ValueError, match="safe_mode"):
        load_predictor(tmp_path)
