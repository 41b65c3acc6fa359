"""The MLflow form of every predictor: a raw-text pyfunc, logged from code.

MLflow runs ``pyfunc_model.py`` when it loads a logged model; the model folder travels as an
artifact and this package as ``code_paths``, so the served model runs the code evaluation ran.
Its requirements are the installed versions of every package it needs (requirements.py);
review_input.py holds the served contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from imdb_sentiment.serving.predictors import label_probabilities, load_predictor
from imdb_sentiment.serving.requirements import model_requirements
from imdb_sentiment.serving.review_input import (
    SIGNATURE,
    check_reviews_before_mlflow_casts_them,
    validate_texts,
)

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")  # the MLflow model, logged from code


class SentimentModel(PythonModel):
    """The MLflow model of every architecture: raw review text in, probability and label out.

    Logged from code: ``pyfunc_model.py`` builds it when MLflow loads the model.
    """

    def load_context(self, context: Any) -> None:
        # Runs in the scoring server (and `mlflow models predict`) before it parses a request.
        check_reviews_before_mlflow_casts_them()
        self.predictor = load_predictor(context.artifacts["predictor"])

    # pd.DataFrame is the one hint MLflow takes without deriving a schema of its own from it:
    # the schema is SIGNATURE, enforced by MLflow before this runs.
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        return label_probabilities(self.predictor.positive_probability(validate_texts(model_input)))


def log_sentiment_model(name: str, predictor_dir: Path, requirements: Sequence[str]) -> Any:
    """Log ``predictor_dir`` as the run's raw-text pyfunc model ``name`` (the model's name, so
    the MLflow UI tells the models apart); return its info.

    From code, not a pickled instance: MLflow copies ``pyfunc_model.py`` into the model and
    runs it on load. ``requirements``: the model's own packages (``scikit-learn``, ``keras``),
    pinned with everything they pull in at the versions installed (requirements.py).

    The signature, not an input example, states the contract: with an example MLflow loads
    the logged model back to check it, which for an ensemble meant importing TensorFlow and
    loading every member again (a third of the ensemble stage). The served path is tested for
    real instead (tests/serving/).
    """
    import mlflow

    package_dir = (
        Path(__file__).resolve().parents[1]
    )  # the whole package: predictors import data.text
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(PYFUNC_CODE),
        artifacts={"predictor": str(predictor_dir)},
        code_paths=[str(package_dir)],
        signature=SIGNATURE,
        pip_requirements=model_requirements(["mlflow", "numpy", "pandas", *requirements]),
    )
