"""A real `mlflow models serve` on 127.0.0.1, answering for models trained on the tiny archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests
from scoring_server import scoring_server

from imdb_sentiment.serving import load_predictor

pytestmark = pytest.mark.slow

REVIEWS = ["A wonderful, moving film.<br />Loved it!", "Dull. Boring. Awful.", "It was fine."]
EDGE_CASES = [
    "",
    "   \n\t",
    "😀🎬👍🔥",
    "很好看的电影，演员也很棒",
    "Ótimo filme! Très bien.",
    "great " * 20_000,
]


def invoke(url: str, body, content_type: str = "application/json") -> requests.Response:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(
        f"{url}/invocations", data=data, headers={"Content-Type": content_type}, timeout=60
    )


@pytest.fixture(scope="module")
def champion(pipeline):
    """(url of a server on the champion alias, the champion's model folder name)."""
    repo, env, _ = pipeline
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    version = client.get_model_version_by_alias("imdb-sentiment", "champion")
    with scoring_server("models:/imdb-sentiment@champion", repo, env) as url:
        yield url, version.tags["model_name"]


def trained_predictor(model_uri: str, tracking_uri: str):
    """The trained Keras / scikit-learn model inside the MLflow model, loaded in process."""
    local = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=model_uri, tracking_uri=tracking_uri)
    )
    return load_predictor(local / "artifacts" / "predictor")


def predictions(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_all_three_request_formats_give_the_same_answers_in_order(champion):
    url, _ = champion
    split = invoke(url, {"dataframe_split": {"columns": ["text"], "data": [[r] for r in REVIEWS]}})
    records = invoke(url, {"dataframe_records": [{"text": r} for r in REVIEWS]})
    inputs = invoke(url, {"inputs": REVIEWS})
    answers = predictions(split)
    assert answers == predictions(records) == predictions(inputs)
    assert len(answers) == len(REVIEWS)
    for answer in answers:
        assert set(answer) == {"probability", "label"}
        assert 0.0 <= answer["probability"] <= 1.0
        assert answer["label"] == ("positive" if answer["probability"] >= 0.5 else "negative")


def test_served_predictions_equal_the_trained_model_in_process(pipeline, champion):
    url, _ = champion
    store = pipeline[1]["MLFLOW_TRACKING_URI"]
    served = [p["probability"] for p in predictions(invoke(url, {"inputs": REVIEWS + EDGE_CASES}))]
    local = trained_predictor("models:/imdb-sentiment@champion", store).positive_probability(
        REVIEWS + EDGE_CASES
    )
    assert served == pytest.approx(local.tolist(), abs=1e-6)


def test_empty_emoji_foreign_and_very_long_reviews_are_predicted(champion):
    url, _ = champion
    assert len(predictions(invoke(url, {"inputs": EDGE_CASES}))) == len(EDGE_CASES)
    assert predictions(invoke(url, {"inputs": []})) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ({"dataframe_split": {"columns": ["review"], "data": [["x"]]}}, None, 400, "'text'"),
        ({"dataframe_split": {"columns": ["text"], "data": [[3]]}}, None, 400,
         "column 'text', row 0: expected a string"),
        ({"dataframe_records": [{"text": "ok"}, {"text": None}]}, None, 400, "row 1"),
        ('{"dataframe_split": ', None, 400, "valid JSON"),
        ("", None, 400, "valid JSON"),
        ("text\nhello", "text/plain", 415, ""),
    ],
)  # fmt: skip
def test_bad_requests_get_a_4xx_naming_the_problem_and_the_server_keeps_serving(
    champion, body, content_type, status, message
):
    url, _ = champion
    response = invoke(url, body, content_type or "application/json")
    assert response.status_code == status, response.text
    assert message in response.text
    assert len(predictions(invoke(url, {"inputs": ["still serving?"]}))) == 1


def test_a_run_uri_serves_the_other_family_too(pipeline, champion):
    repo, env, _ = pipeline
    _, champion_name = champion
    other = "lstm" if champion_name.startswith("tfidf") else "tfidf"
    run_id = json.loads((repo / "models" / other / "mlflow.json").read_text())["run_id"]
    with scoring_server(f"runs:/{run_id}/model", repo, env) as url:
        served = [p["probability"] for p in predictions(invoke(url, {"inputs": EDGE_CASES}))]
    local = trained_predictor(f"runs:/{run_id}/model", env["MLFLOW_TRACKING_URI"])
    local = local.positive_probability(EDGE_CASES)
    assert served == pytest.approx(local.tolist(), abs=1e-6)


def test_batch_scoring_of_a_csv_through_a_registry_version(pipeline, tmp_path):
    repo, env, _ = pipeline
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"text": REVIEWS}).to_csv(reviews, index=False)
    out = tmp_path / "predictions.json"
    result = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", "models:/imdb-sentiment/1",
         "-i", str(reviews), "-t", "csv", "-o", str(out), "--env-manager", "local"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(json.loads(out.read_text())["predictions"]) == len(REVIEWS)


def test_cli_scores_arguments_and_piped_lines_with_the_champion(pipeline):
    repo, env, _ = pipeline
    command = [sys.executable, "-m", "imdb_sentiment", "predict"]
    typed = subprocess.run(
        [*command, "A wonderful film."], cwd=repo, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert typed.returncode == 0, typed.stderr[-3000:]
    label, probability, text = typed.stdout.strip().split("\t")
    assert label in {"positive", "negative"} and 0 <= float(probability) <= 1
    assert text == "A wonderful film."
    piped = subprocess.run(
        [*command, "--json"], input="Great fun.\n\nTerrible, boring.\n", cwd=repo, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr[-3000:]
    lines = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["Great fun.", "Terrible, boring."]


def test_cli_says_how_to_get_a_champion_when_there_is_none(tmp_path):
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'empty.db'}")
    result = subprocess.run(
        [sys.executable, "-m", "imdb_sentiment", "predict", "text"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error (") and "`imdb-sentiment promote`" in line, result.stderr
