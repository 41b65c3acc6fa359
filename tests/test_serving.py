import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from imdb_sentiment.serving import label_probabilities, load_predictor, validate_texts


def test_texts_come_from_the_text_column_or_a_plain_list():
    assert validate_texts(pd.DataFrame({"text": ["a", ""]})) == ["a", ""]
    assert validate_texts(["a", "b"]) == ["a", "b"]
    assert validate_texts(np.array(["x"], dtype=object)) == ["x"]


@pytest.mark.parametrize(
    ("model_input", "message"),
    [
        (pd.DataFrame({"review": ["a"]}), "input has no 'text' column"),
        (pd.DataFrame({"text": ["fine", 3]}), "column 'text', row 1: expected a string"),
        (pd.DataFrame({"text": [None]}), "row 0: expected a string .* got NoneType"),
        (42, "expected a table with a 'text' column or a list of strings"),
    ],
)
def test_bad_input_is_rejected_with_a_message_naming_the_problem(model_input, message):
    with pytest.raises(MlflowException, match=message) as failure:
        validate_texts(model_input)
    assert failure.value.error_code == "INVALID_PARAMETER_VALUE"


def test_labels_follow_the_half_probability_threshold():
    out = label_probabilities(np.array([0.1, 0.5, 0.9]))
    assert out.label.tolist() == ["negative", "positive", "positive"]
    assert out.probability.dtype == np.float64


def test_a_folder_without_a_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither model.keras nor pipeline.joblib"):
        load_predictor(tmp_path)
