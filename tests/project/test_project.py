"""The `mlflow run -e train` entry point's command line, and where tracking goes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from imdb_sentiment.params import ParamsError
from imdb_sentiment.tracking.project import KEEP, experiment_command
from imdb_sentiment.tracking.services import free_port
from imdb_sentiment.tracking.store import TrackingError, check_server_reachable, tracking_uri

REPO = Path(__file__).resolve().parents[2]
PARAMS = REPO / "params.yaml"


def test_experiment_command_passes_only_the_overridden_params_to_dvc():
    values = {"epochs": "3", "learning_rate": "3e-3", "units": "128", "dropout": KEEP}
    assert experiment_command("gru", values, PARAMS) == [
        "dvc",
        "exp",
        "run",
        "train@imdb-gru",  # the shared defaults change: the model trains on every corpus
        "train@sst2-gru",
        "-Strain.epochs=3",
        "-Smodels.gru.learning_rate=3e-3",
        "-Smodels.gru.units=128",
    ]


def test_experiment_command_validates_with_the_params_loader():
    with pytest.raises(ParamsError, match="mlflow run -P: train.epochs must be >= 1, got 0"):
        experiment_command("lstm", {"epochs": "0"}, PARAMS)
    with pytest.raises(
        ParamsError, match=r"-P model must be one of params.yaml's models \(simple_rnn, lstm, gru"
    ):
        experiment_command("transformer", {}, PARAMS)


def test_a_relative_sqlite_uri_is_read_from_the_project_root(monkeypatch, tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")  # what `mlflow run` hands on
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri() == "http://127.0.0.1:5000"


def test_an_unreachable_server_is_reported_at_once_with_the_fix():
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(
        TrackingError, match=f"{uri} is not reachable.*imdb-sentiment tracking-server"
    ):
        check_server_reachable(uri)
    assert time.monotonic() - started < 10
    check_server_reachable("sqlite:///anything.db")  # a local store needs no server
