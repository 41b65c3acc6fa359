"""Raw text in, sentiment out: the predictor every consumer uses, and its MLflow pyfunc form.

A model folder (``models/<name>/predictor``) holds everything a prediction needs: the Keras
model plus vocabulary and text settings, or the scikit-learn Pipeline. Evaluation loads that
folder directly; the MLflow model carries the same folder as an artifact and this package as
code, so the served model runs the very code that evaluation ran.

No model file runs code when it is loaded: the Keras model loads in safe mode, the Pipeline is
a skops file whose types are checked before it is read, and the MLflow model is logged from
code (``pyfunc_model.py``), not as a pickled instance. Its requirements are requirements.lock's
pins of every package it needs, so a served model rebuilds the stack it was trained on.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from imdb_sentiment.errors import UserError
from imdb_sentiment.text import Vocabulary, encode_texts, token_lengths

TEXT_COLUMN = "text"
POSITIVE, NEGATIVE = "positive", "negative"
THRESHOLD = 0.5  # a probability of positive at or above it is a positive prediction
KERAS_FILE = "model.keras"
VOCAB_FILE = "vocab.json"
TEXT_CONFIG_FILE = "text.json"
PIPELINE_FILE = "pipeline.skops"
ENSEMBLE_FILE = "ensemble.json"  # an ensemble's members and weights; members/NAME/ beside it
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")  # the MLflow model, logged from code
# The types a Pipeline file may hold beyond those skops trusts by default (scikit-learn's
# estimators, numpy's arrays and dtypes, scipy's sparse matrices) and this project's own
# (``imdb_sentiment.*``, e.g. the tokenizer ``imdb_sentiment.text.tokenize``). Every other type
# is refused: a skops file can name any importable callable. Add one here only for a reason.
TRUSTED_TYPES: tuple[str, ...] = ()
PROJECT_PACKAGE = "imdb_sentiment"
# The one list of pinned packages (`make lock` writes it): installs come from it, and so do a
# logged model's requirements. The lock the package was installed with: `make install` installs
# it editable, so its checkout's, also for a stage DVC runs in a temporary copy.
LOCK_FILE = "requirements.lock"
LOCK_PATH = Path(__file__).resolve().parents[2] / LOCK_FILE
PREDICT_BATCH = 256  # reviews a batch holds at most
# Padded tokens a batch holds at most: a batch's activations grow with reviews x length, and at
# 256 reviews of 1,000 tokens one gru batch held 1.1 GB (evaluate scores two models at once).
# At this budget it holds 0.33 GB, at the same CPU time per review and with the same scores.
PREDICT_TOKENS = 256 * 256

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", TEXT_COLUMN)]),
    outputs=Schema([ColSpec("double", "probability"), ColSpec("string", "label")]),
)
INPUT_EXAMPLE = pd.DataFrame(
    {TEXT_COLUMN: ["A wonderful film, moving and funny.", "Dull, predictable and far too long."]}
)


class Predictor(Protocol):
    def positive_probability(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """Each text's probability of positive; ``progress(n)`` as n more are scored."""
        ...


class KerasPredictor:
    """A Keras model over the project's text path: tokenize, look up ids, pad, predict.

    Reviews are scored in batches of similar length, each cut to its longest review: the
    padding is masked, so this changes no score, only the steps a recurrent layer walks (a
    whole-review ``max_len`` would otherwise make every short review cost the longest one).
    """

    def __init__(self, model: Any, vocab: Vocabulary, max_len: int, truncating: str):
        import tensorflow as tf

        self.model, self.vocab = model, vocab
        self.max_len, self.truncating = max_len, truncating
        # One traced graph for every batch shape: `model.predict` re-traces for each new input
        # shape (every request size), which costs a serving request tens of milliseconds.
        self._forward = tf.function(
            lambda ids: model(ids, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
        )

    @classmethod
    def load(cls, folder: Path) -> KerasPredictor:
        from imdb_sentiment.runtime import import_tensorflow

        import_tensorflow()  # deferred and quiet: seconds to import; TF-IDF never needs it
        import keras

        import imdb_sentiment.models  # noqa: F401 - registers the custom pooling layer

        config = json.loads((folder / TEXT_CONFIG_FILE).read_text())
        return cls(
            # Safe mode refuses a Lambda layer's pickled bytecode; the custom layers load as
            # registered serializables (models.py).
            keras.models.load_model(folder / KERAS_FILE, compile=False, safe_mode=True),
            Vocabulary.load(folder / VOCAB_FILE),
            config["max_len"],
            config["truncating"],
        )

    def positive_probability(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        ids = encode_texts(texts, self.vocab, self.max_len, self.truncating)
        lengths = np.maximum(token_lengths(ids), 1)
        scores = np.zeros(len(ids), dtype=np.float64)
        for rows in length_batches(lengths):
            batch = ids[rows, : lengths[rows].max()]
            scores[rows] = self._forward(batch).numpy().reshape(-1)
            if progress:
                progress(len(rows))
        return scores


def length_batches(
    lengths: np.ndarray, reviews: int = PREDICT_BATCH, tokens: int = PREDICT_TOKENS
) -> Iterator[np.ndarray]:
    """Row indices in batches of similar length, shortest first: at most ``reviews`` rows and
    at most ``tokens`` padded tokens a batch (a review longer than that goes alone)."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        stop = min(start + reviews, len(order))
        # Sorted, so the window's last row is its longest: the budget holds for any prefix.
        size = max(1, min(stop - start, tokens // int(lengths[order[stop - 1]])))
        yield order[start : start + size]
        start += size


class PipelinePredictor:
    """A scikit-learn Pipeline that already takes raw text (its tokenizer is the project's)."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline

    @classmethod
    def load(cls, folder: Path) -> PipelinePredictor:
        return cls(load_pipeline(folder / PIPELINE_FILE))

    def positive_probability(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        if not len(texts):
            return np.zeros(0)
        scores = self.pipeline.predict_proba(list(texts))[:, 1].astype(np.float64)
        if progress:
            progress(len(texts))
        return scores


class EnsemblePredictor:
    """A weighted average of its members' probabilities: each member is a predictor folder of
    its own under ``members/``, so the ensemble serves raw text like any model."""

    def __init__(self, members: dict[str, Predictor], weights: dict[str, float]):
        self.members, self.weights = members, weights

    @classmethod
    def load(cls, folder: Path) -> EnsemblePredictor:
        weights = json.loads((folder / ENSEMBLE_FILE).read_text())["weights"]
        members = {name: load_predictor(folder / "members" / name) for name in weights}
        return cls(members, weights)

    def positive_probability(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        scores = average_scores(
            {name: member.positive_probability(texts) for name, member in self.members.items()},
            self.weights,
        )
        if progress:
            progress(len(texts))
        return scores


def average_scores(scores: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The ensemble rule, in one place: the weighted mean of members' probabilities (weights
    sum to 1). The served ensemble and the evaluation's average of saved scores both use it."""
    total = np.zeros(len(next(iter(scores.values()))), dtype=np.float64)
    for name, weight in weights.items():
        total += weight * np.asarray(scores[name], dtype=np.float64)
    return total


class UntrustedModelError(UserError, ValueError):
    """A model file holds a type this project does not load."""


def save_pipeline(pipeline: Any, path: Path) -> None:
    """Write a scikit-learn object as a skops file: arrays and a schema, no pickle."""
    import skops.io

    skops.io.dump(pipeline, path)


def trusted_type(name: str) -> bool:
    """Whether a skops file may hold ``name`` (a dotted type or function name)."""
    return name.startswith(f"{PROJECT_PACKAGE}.") or name in TRUSTED_TYPES


def load_pipeline(path: Path) -> Any:
    """The scikit-learn object in skops file ``path``, or UntrustedModelError naming every type
    in it that is neither skops' default, the project's own nor in ``TRUSTED_TYPES``."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    refused = [name for name in untrusted if not trusted_type(name)]
    if refused:
        raise UntrustedModelError(
            f"{path}: refusing to load untrusted types {', '.join(refused)} (trusted: "
            f"skops' defaults, {PROJECT_PACKAGE}.* and serving.TRUSTED_TYPES)"
        )
    return skops.io.load(path, trusted=untrusted)


def load_predictor(folder: str | Path) -> Predictor:
    """The predictor saved in ``folder``: a Keras model, a scikit-learn Pipeline or an
    ensemble of such folders."""
    folder = Path(folder)
    if (folder / KERAS_FILE).exists():
        return KerasPredictor.load(folder)
    if (folder / PIPELINE_FILE).exists():
        return PipelinePredictor.load(folder)
    if (folder / ENSEMBLE_FILE).exists():
        return EnsemblePredictor.load(folder)
    raise FileNotFoundError(
        f"{folder}: none of {KERAS_FILE}, {PIPELINE_FILE}, {ENSEMBLE_FILE}; not a model"
    )


def label_probabilities(probabilities: np.ndarray) -> pd.DataFrame:
    """The served output: one row per review, ``probability`` of positive and its ``label``."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.where(probabilities >= THRESHOLD, POSITIVE, NEGATIVE)
    return pd.DataFrame({"probability": probabilities, "label": labels})


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
    pinned with everything they pull in at requirements.lock's versions.
    """
    import mlflow

    package_dir = Path(__file__).resolve().parent
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(PYFUNC_CODE),
        artifacts={"predictor": str(predictor_dir)},
        code_paths=[str(package_dir)],
        signature=SIGNATURE,
        input_example=INPUT_EXAMPLE,
        pip_requirements=model_requirements(["mlflow", "numpy", "pandas", *requirements]),
    )


REFRESH_HINT = "run `make install` (or `make lock` after changing pyproject.toml)"


class LockError(UserError, RuntimeError):
    """The environment is not the one requirements.lock pins."""


def locked_versions(lock: Path | None = None) -> dict[str, str]:
    """Package (canonical name) -> pinned version, for this interpreter and platform.

    The lock is universal: a package pinned differently per Python version appears once per
    version, each line with its environment marker; only the line whose marker holds here counts.
    """
    lock = lock or LOCK_PATH
    if not lock.exists():
        raise LockError(f"{lock} is missing; a model's requirements come from it ({REFRESH_HINT})")
    versions = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (version,) = (spec.version for spec in requirement.specifier)
            versions[canonicalize_name(requirement.name)] = version
    return versions


def installed_closure(packages: Iterable[str]) -> set[str]:
    """``packages`` and every package they require here (extras left out), as installed."""
    seen: set[str] = set()
    todo = [canonicalize_name(name) for name in packages]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def model_requirements(packages: Iterable[str], lock: Path | None = None) -> list[str]:
    """``name==version`` for ``packages`` and all they pull in, at the lock's versions.

    Refuses an environment that differs from the lock: the model would name versions it was
    not trained with.
    """
    pinned = locked_versions(lock)
    requirements = []
    for name in sorted(installed_closure(packages)):
        installed = importlib.metadata.version(name)
        if pinned.get(name) != installed:
            locked = pinned.get(name, "not in the lock")
            raise LockError(
                f"{name} {installed} is installed, the lock pins {locked}: this environment "
                f"was not installed from {LOCK_FILE}; {REFRESH_HINT}"
            )
        requirements.append(f"{name}=={installed}")
    return requirements
