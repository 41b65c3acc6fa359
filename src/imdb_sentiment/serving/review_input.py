"""The served contract: the signature (one string column in; probability and label out) and
the checks that refuse a request whose reviews are not strings, naming the row."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types import ColSpec, Schema

TEXT_COLUMN = "text"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", TEXT_COLUMN)]),
    outputs=Schema([ColSpec("double", "probability"), ColSpec("string", "label")]),
)


def check_reviews(values: Sequence[Any]) -> None:
    """Refuse the first value that is not a review string, naming its row and what it is."""
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise MlflowException(
                f"column {TEXT_COLUMN!r}, row {row}: expected a string (the review text), "
                f"got {_json_kind(value)}",
                error_code=INVALID_PARAMETER_VALUE,
            )


def _json_kind(value: Any) -> str:
    # In the JSON (or CSV) terms the sender used: a null arrives as None, or NaN from pandas.
    if value is None or (isinstance(value, float) and value != value):
        return "null"
    kind = (
        "a boolean"
        if isinstance(value, (bool, np.bool_))
        else "a number"
        if isinstance(value, (int, float, np.number))
        else "a list"
        if isinstance(value, (list, tuple, np.ndarray))
        else "an object"
        if isinstance(value, dict)
        else f"a {type(value).__name__}"
    )
    plain = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
    shown = json.dumps(plain, default=str)
    return f"{kind}: {shown:.40}"


def validate_texts(model_input: Any) -> list[str]:
    """The review strings of a request, or an INVALID_PARAMETER_VALUE naming the bad row.

    MLflow's schema check accepts any object in a string column (ints, nulls, lists), so a
    ``dataframe_split``, ``dataframe_records`` or CSV request reaches ``predict`` unchecked; a
    message naming the row beats a stack trace in a 400.
    """
    if isinstance(model_input, pd.DataFrame):
        if TEXT_COLUMN not in model_input.columns:
            raise MlflowException(
                f"input has no {TEXT_COLUMN!r} column (got {list(model_input.columns)}); "
                f"send one string column named {TEXT_COLUMN!r}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        values = model_input[TEXT_COLUMN].tolist()
    elif isinstance(model_input, pd.Series):
        values = model_input.tolist()
    elif isinstance(model_input, (list, tuple, np.ndarray)):
        values = list(np.asarray(model_input, dtype=object).reshape(-1))
    elif isinstance(model_input, str):
        values = [model_input]
    else:
        raise MlflowException(
            f"expected a table with a {TEXT_COLUMN!r} column or a list of strings, "
            f"got {type(model_input).__name__}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    check_reviews(values)
    return values


def json_reviews(inputs: Any) -> list[Any] | None:
    """The review values of an ``inputs`` / ``instances`` payload as sent; None without ``text``.

    The shapes MLflow reads there: a list of reviews, ``{"text": [...]}`` (or one review), and
    a list of records ``[{"text": ...}]``. Without a ``text`` key MLflow's own 400 names it.
    """
    if isinstance(inputs, dict):
        if TEXT_COLUMN not in inputs:
            return None
        values = inputs[TEXT_COLUMN]
        return values if isinstance(values, list) else [values]
    if isinstance(inputs, list):
        if inputs and all(isinstance(record, dict) for record in inputs):
            if not any(TEXT_COLUMN in record for record in inputs):
                return None
            return [record.get(TEXT_COLUMN) for record in inputs]
        return inputs
    return [inputs]


def _checking_reviews(parse: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(parse)
    def parse_tf_serving_input(inp_dict: Any, schema: Schema | None = None) -> Any:
        if schema == SIGNATURE.inputs and isinstance(inp_dict, dict):
            for key in ("inputs", "instances"):
                values = json_reviews(inp_dict[key]) if key in inp_dict else None
                if values is not None:
                    check_reviews(values)
        return parse(inp_dict, schema=schema)

    parse_tf_serving_input.checks_reviews = True
    return parse_tf_serving_input


def check_reviews_before_mlflow_casts_them() -> None:
    """Make the scoring server refuse a non-string review in ``inputs`` / ``instances``.

    For those formats MLflow casts the JSON values to the signature's type before any model
    code runs (``convert_data_type``: ``np.array(values, dtype=str)``), so ``null`` arrives in
    ``predict`` as the review ``"None"`` and ``5`` as ``"5"``. No signature or type-hint option
    avoids that and keeps ``dataframe_split``, so the raw values are checked just before it.
    Only requests against this project's signature are checked; installing twice is a no-op.
    """
    from mlflow.pyfunc import scoring_server

    if not getattr(scoring_server.parse_tf_serving_input, "checks_reviews", False):
        scoring_server.parse_tf_serving_input = _checking_reviews(
            scoring_server.parse_tf_serving_input
        )
