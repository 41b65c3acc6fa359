"""A model whose embedding starts from the word vectors, trained as `train@NAME` trains it on the
tiny archive, serves raw text like any other: the vectors shape its start, not its inputs."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import corpus_params, runs_in

from imdb_sentiment.data.prepare import prepare_dataset
from imdb_sentiment.data.word_vectors import write_word_vectors


@pytest.mark.parametrize("arch", ["gru", "dan"])
def test_a_model_started_from_word_vectors_serves_raw_text(
    arch, tmp_path, tiny_archive, monkeypatch
):
    from imdb_sentiment.models.training import train_recurrent

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")  # marks tmp_path as the project root
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    params = corpus_params(vocab_size=2000, max_len=60)
    vectors = params.word_vectors.model_copy(update={"dim": 8, "min_count": 2, "epochs": 1})
    spec = params.models[arch].model_copy(
        update={
            "vocab_size": 2000,
            "embedding_dim": 8,
            "embedding_init": "word_vectors",
            "units": 4,
            "batch_size": 32,
        }
    )
    params = params.model_copy(
        update={
            "word_vectors": vectors,
            "models": {arch: spec},
            "train": params.train.model_copy(update={"epochs": 1}),
        }
    )
    prepared = tmp_path / "prepared"
    prepare_dataset(tiny_archive, prepared, params)
    write_word_vectors(prepared, tmp_path / "vectors", vectors, params.seed)

    summary = train_recurrent(
        arch, params, prepared, tmp_path / "models" / arch, tmp_path / "ckpt", tmp_path / "vectors"
    )
    (run,) = [row for _, row in runs_in(uri).iterrows()]
    assert run["metrics.embedding_words_from_vectors"] > 0  # how many words the vectors gave
    assert run["params.model.embedding_init"] == "word_vectors"

    served = mlflow.pyfunc.load_model(summary["model_uri"])
    texts = ["A wonderful, moving film.<br />Loved it!", "Dull. Boring. Awful.", "", "!!!"]
    out = served.predict(pd.DataFrame({"text": texts}))
    assert list(out.columns) == ["probability", "label"] and len(out) == len(texts)
    assert np.isfinite(out.probability).all() and out.probability.between(0, 1).all()
    assert set(out.label) <= {"positive", "negative"}
