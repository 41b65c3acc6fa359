import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from imdb_sentiment.serving.predictors import label_probabilities, length_batches, load_predictor
from imdb_sentiment.serving.review_input import json_reviews, validate_texts


def test_texts_come_from_the_text_column_or_a_plain_list():
    assert validate_texts(pd.DataFrame({"text": ["a", ""]})) == ["a", ""]
    assert validate_texts(["a", "b"]) == ["a", "b"]
    assert validate_texts(np.array(["x"], dtype=object)) == ["x"]


@pytest.mark.parametrize(
    ("model_input", "message"),
    [
        (pd.DataFrame({"review": ["a"]}), "input has no 'text' column"),
        (pd.DataFrame({"text": ["fine", 3]}), "column 'text', row 1: expected a string"),
        (
            pd.DataFrame({"text": [None]}),
            r"row 0: expected a string \(the review text\), got null$",
        ),
        (pd.DataFrame({"text": [float("nan")]}), "row 0: .* got null$"),
        (pd.DataFrame({"text": [["a"]]}), r'got a list: \["a"\]$'),
        (pd.DataFrame({"text": [{"x": 1}]}), r'got an object: \{"x": 1\}$'),
        (pd.DataFrame({"text": [np.int64(5)]}), "got a number: 5$"),
        (42, "expected a table with a 'text' column or a list of strings"),
    ],
)
def test_bad_input_is_rejected_with_a_message_naming_the_problem(model_input, message):
    with pytest.raises(MlflowException, match=message) as failure:
        validate_texts(model_input)
    assert failure.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("inputs", "values"),
    [
        (["a", None], ["a", None]),
        ({"text": ["a", 5]}, ["a", 5]),
        ({"text": "a"}, ["a"]),
        ([{"text": "a"}, {"text": None}], ["a", None]),
        ([{"review": "a"}], None),
        ({"review": ["a"]}, None),
        (7, [7]),
    ],
)
def test_json_inputs_are_read_as_the_reviews_they_carry(inputs, values):
    assert json_reviews(inputs) == values


def test_labels_follow_the_half_probability_threshold():
    out = label_probabilities(np.array([0.1, 0.5, 0.9]))
    assert out.label.tolist() == ["negative", "positive", "positive"]
    assert out.probability.dtype == np.float64


def test_a_folder_without_a_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="none of model.keras, pipeline.skops, ensemble"):
        load_predictor(tmp_path)


def test_length_batches_cover_each_review_once_shortest_first_within_both_budgets():
    lengths = np.random.default_rng(0).integers(1, 1001, size=3000)
    batches = list(length_batches(lengths, reviews=256, tokens=256 * 256))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    assert np.all(np.diff(lengths[rows]) >= 0)  # shortest first: each batch cut to its longest
    for batch in batches:
        assert len(batch) <= 256 and len(batch) * lengths[batch].max() <= 256 * 256
    # The short reviews still fill whole batches; a review over the token budget goes alone.
    assert len(batches[0]) == 256
    assert [len(b) for b in length_batches(np.array([70000, 5]), tokens=65536)] == [1, 1]
