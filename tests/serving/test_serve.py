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

from imdb_sentiment.serving.predictors import load_predictor
from imdb_sentiment.serving.scoring_server import scoring_server

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


@pytest.fixture(scope="module")
def other_family(pipeline, champion):
    """(url of a server on a run of the family the champion is not, its URI, its name)."""
    repo, env, _ = pipeline
    _, champion_name = champion
    other = "lstm" if champion_name.startswith("tfidf") else "tfidf"
    run_id = json.loads((repo / "models" / "imdb" / other / "mlflow.json").read_text())["run_id"]
    with scoring_server(f"runs:/{run_id}/{other}", repo, env) as url:  # named after the model
        yield url, f"runs:/{run_id}/{other}", other


@pytest.fixture(params=["champion", "other_family"])
def each_family(request, champion, other_family) -> tuple[str, str]:
    """(url, model name) of the champion's server, then of the other family's (Keras, sklearn).
    Both are named as arguments, not looked up by name: xdist's grouping sees only these, and
    a test that reached the shared pipeline unseen would build it again on the other worker."""
    served = {"champion": champion, "other_family": other_family}[request.param]
    return served[0], served[-1]


def trained_predictor(model_uri: str, tracking_uri: str):
    """The trained Keras / scikit-learn model inside the MLflow model, loaded in process."""
    # A models:/ URI resolves through the global registry URI, not the tracking_uri argument:
    # alone (without test_pipeline.py before it) this module would look in ./mlflow.db.
    mlflow.set_tracking_uri(tracking_uri)
    local = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=model_uri, tracking_uri=tracking_uri)
    )
    return load_predictor(local / "artifacts" / "predictor")


def predictions(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def csv_body(values: list) -> str:
    return pd.DataFrame({"text": values}).to_csv(index=False)


# Every way a request can carry reviews: (name, body builder, content type).
FORMATS = [
    (
        "dataframe_split",
        lambda v: {"dataframe_split": {"columns": ["text"], "data": [[x] for x in v]}},
        "application/json",
    ),
    (
        "dataframe_records",
        lambda v: {"dataframe_records": [{"text": x} for x in v]},
        "application/json",
    ),
    ("inputs list", lambda v: {"inputs": v}, "application/json"),
    ("inputs dict", lambda v: {"inputs": {"text": v}}, "application/json"),
    ("inputs records", lambda v: {"inputs": [{"text": x} for x in v]}, "application/json"),
    ("instances", lambda v: {"instances": v}, "application/json"),
    ("csv", csv_body, "text/csv"),
]


def test_every_request_format_gives_the_same_answers_in_order(each_family):
    url, _ = each_family
    answers = [predictions(invoke(url, body(REVIEWS), ct)) for _, body, ct in FORMATS]
    for (name, _, _), answer in zip(FORMATS, answers, strict=True):
        assert answer == answers[0], name
    assert len(answers[0]) == len(REVIEWS)
    for answer in answers[0]:
        assert set(answer) == {"probability", "label"}
        assert 0.0 <= answer["probability"] <= 1.0
        assert answer["label"] == ("positive" if answer["probability"] >= 0.5 else "negative")


# A value where a review belongs, and how the 400 names it. CSV has no types but one: an
# empty field is a null (a 5 there is the review "5").
BAD_VALUES = [
    (None, "null"),
    (5, "a number: 5"),
    (2.5, "a number: 2.5"),
    (True, "a boolean: true"),
    (["nested"], 'a list: ["nested"]'),
    ({"text": "x"}, 'an object: {"text": "x"}'),
]


@pytest.mark.parametrize(
    ("body", "content_type", "value", "named"),
    [
        pytest.param(body, ct, value, named, id=f"{name}-{named}")
        for name, body, ct in FORMATS
        for value, named in BAD_VALUES
        if ct != "text/csv" or value is None
    ],
)
def test_a_non_string_review_gets_the_same_400_in_every_format(
    each_family, body, content_type, value, named
):
    url, _ = each_family
    response = invoke(url, body(["A fine film.", value]), content_type)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    expected = f"column 'text', row 1: expected a string (the review text), got {named}"
    assert expected in response.json()["message"]


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
        (
            {"dataframe_split": {"columns": ["text"], "data": [[3]]}},
            None,
            400,
            "column 'text', row 0: expected a string",
        ),
        ({"dataframe_records": [{"text": "ok"}, {"text": None}]}, None, 400, "row 1"),
        ('{"dataframe_split": ', None, 400, "valid JSON"),
        ("", None, 400, "valid JSON"),
        ("text\nhello", "text/plain", 415, ""),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem_and_the_server_keeps_serving(
    champion, body, content_type, status, message
):
    url, _ = champion
    response = invoke(url, body, content_type or "application/json")
    assert response.status_code == status, response.text
    assert message in response.text
    assert len(predictions(invoke(url, {"inputs": ["still serving?"]}))) == 1


def test_a_run_uri_serves_the_other_family_too(pipeline, other_family):
    url, model_uri, _ = other_family
    served = [p["probability"] for p in predictions(invoke(url, {"inputs": EDGE_CASES}))]
    local = trained_predictor(model_uri, pipeline[1]["MLFLOW_TRACKING_URI"])
    local = local.positive_probability(EDGE_CASES)
    assert served == pytest.approx(local.tolist(), abs=1e-6)


def run_python(
    arguments: list[str], cwd: Path, env: dict, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """The venv's Python with ``arguments`` in ``cwd``: its output captured, bounded in time."""
    return subprocess.run(
        [sys.executable, *arguments],
        input=stdin,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_batch_scoring_of_a_csv_through_a_registry_version(pipeline, tmp_path):
    repo, env, _ = pipeline
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"text": REVIEWS}).to_csv(reviews, index=False)
    out = tmp_path / "predictions.json"
    result = run_python(
        ["-m", "mlflow", "models", "predict", "-m", "models:/imdb-sentiment/1"]
        + ["-i", str(reviews), "-t", "csv", "-o", str(out), "--env-manager", "local"],
        repo,
        env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(json.loads(out.read_text())["predictions"]) == len(REVIEWS)


def test_cli_scores_arguments_and_piped_lines_with_the_champion(pipeline):
    repo, env, _ = pipeline
    command = ["-m", "imdb_sentiment", "predict"]
    typed = run_python([*command, "A wonderful film."], repo, env)
    assert typed.returncode == 0, typed.stderr[-3000:]
    label, probability, text = typed.stdout.strip().split("\t")
    assert label in {"positive", "negative"} and 0 <= float(probability) <= 1
    assert text == "A wonderful film."
    piped = run_python([*command, "--json"], repo, env, "Great fun.\n\nTerrible, boring.\n")
    assert piped.returncode == 0, piped.stderr[-3000:]
    lines = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["Great fun.", "Terrible, boring."]


def test_cli_says_how_to_get_a_champion_when_there_is_none(tmp_path):
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'empty.db'}")
    result = run_python(["-m", "imdb_sentiment", "predict", "text"], tmp_path, env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error (") and "`imdb-sentiment promote`" in line, result.stderr
