"""The one params loader: reads params.yaml and validates every section before any work starts.

Each section is a frozen dataclass whose fields carry their bounds, so a bad value fails with one
line that names the key and what would fix it: ``params.yaml: train.epochs must be >= 1, got 0``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ARCHITECTURES = ("simple_rnn", "lstm", "gru", "bilstm")
POOLINGS = ("last", "mean", "max")
LR_SCHEDULES = ("constant", "cosine")
# A model's name names its folder, DVC stage, MLflow run and metrics file.
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ParamsError(ValueError):
    """A params.yaml value that cannot be used; the message names the key and the fix."""


def _bounds(minimum: float | None = None, maximum: float | None = None, **extra: Any) -> Any:
    return field(metadata={"min": minimum, "max": maximum, **extra})


@dataclass(frozen=True)
class Source:
    url: str
    sha256: str = field(metadata={"hex_digest": 64})


@dataclass(frozen=True)
class DataParams:
    sources: tuple[Source, ...] = field(metadata={"non_empty": True})


@dataclass(frozen=True)
class PrepareParams:
    val_fraction: float = _bounds(0.0, 0.5, exclusive_min=True)
    vocab_size: int = _bounds(3)
    max_len: int = _bounds(1)
    truncating: str = field(metadata={"choices": ("pre", "post")})


@dataclass(frozen=True)
class TrainParams:
    """What every recurrent model shares: how long it may train and when it stops."""

    epochs: int = _bounds(1)
    patience: int = _bounds(0)


@dataclass(frozen=True)
class ModelParams:
    """One recurrent model: its architecture and every choice the tuning search makes."""

    arch: str = field(metadata={"choices": ARCHITECTURES})
    # The most frequent ``vocab_size`` ids of the prepared vocabulary (a prefix of it, so
    # every model shares one prepared dataset); rarer words become out-of-vocabulary.
    vocab_size: int = _bounds(3)
    embedding_dim: int = _bounds(1)
    embedding_dropout: float = _bounds(0.0, 1.0, exclusive_max=True)  # whole embedding channels
    units: int = _bounds(1)
    layers: int = _bounds(1, 2)
    dropout: float = _bounds(0.0, 1.0, exclusive_max=True)  # on the pooled vector
    # How the per-step outputs become one vector: the last step's, or the mean or max over
    # the review's real steps (padding never counts, so a review scores the same in any batch).
    pooling: str = field(metadata={"choices": POOLINGS})
    batch_size: int = _bounds(1)
    learning_rate: float = _bounds(0.0, exclusive_min=True)
    # constant, or cosine decay to 0 over train.epochs (Keras' CosineDecay).
    lr_schedule: str = field(metadata={"choices": LR_SCHEDULES})


@dataclass(frozen=True)
class BaselineParams:
    ngram_max: int = _bounds(1, 3)
    min_df: int = _bounds(1)
    max_features: int | None = _bounds(1)
    sublinear_tf: bool = field(metadata={})
    C: tuple[float, ...] = field(metadata={"non_empty": True, "min": 0.0, "exclusive_min": True})
    max_iter: int = _bounds(1)


@dataclass(frozen=True)
class Params:
    seed: int = _bounds(0)
    data: DataParams = None  # type: ignore[assignment]
    prepare: PrepareParams = None  # type: ignore[assignment]
    train: TrainParams = None  # type: ignore[assignment]
    models: dict[str, ModelParams] = None  # type: ignore[assignment]
    baselines: dict[str, BaselineParams] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for name, spec in (self.models or {}).items():
            if self.prepare is not None and spec.vocab_size > self.prepare.vocab_size:
                raise ParamsError(
                    f"params.yaml: models.{name}.vocab_size must be <= prepare.vocab_size "
                    f"({self.prepare.vocab_size}), got {spec.vocab_size}; raise "
                    "prepare.vocab_size to give every model more words"
                )
        clash = sorted(set(self.models or {}) & set(self.baselines or {}))
        if clash:
            raise ParamsError(
                f"params.yaml: {clash[0]} is both a model and a baseline; names must differ "
                "(each names a folder under models/ and an MLflow run)"
            )


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate the whole params file; raise ParamsError naming the first bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(
            f"{path}: not found; run from the project root (where dvc.yaml is)"
        ) from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(raw, source=path.name)


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-parsed params mapping (the same checks as load_params)."""
    return _build(Params, raw, "", source)


def flatten_params(section: Any, prefix: str) -> dict[str, Any]:
    """Flatten a params dataclass into dotted keys (``train.batch_size``) for MLflow."""
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        key = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(value):
            flat.update(flatten_params(value, key))
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for i, item in enumerate(value):
                flat.update(flatten_params(item, f"{key}.{i}"))
        else:
            flat[key] = list(value) if isinstance(value, tuple) else value
    return flat


def as_dict(section: Any) -> dict[str, Any]:
    """A params dataclass as plain JSON-able data (tuples become lists)."""
    return json_ready(dataclasses.asdict(section))


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def _build(cls: type, raw: Any, prefix: str, source: str) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: {where} must be a mapping, got {_show(raw)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ParamsError(
            f"{source}: unknown key {prefix}{unknown[0]}; expected one of: {', '.join(names)}"
        )
    values = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if f.name not in raw:
            if f.default is not dataclasses.MISSING and f.default is not None:
                values[f.name] = f.default
                continue
            raise ParamsError(
                f"{source}: missing key {key}; add it (see the README's params table)"
            )
        values[f.name] = _convert(hints[f.name], raw[f.name], key, dict(f.metadata), source)
    return cls(**values)


def _convert(hint: Any, value: Any, key: str, rules: dict[str, Any], source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.", source)
    if origin is dict:
        return _convert_named(args[1], value, key, source)
    if origin is tuple:
        if not isinstance(value, list):
            raise ParamsError(f"{source}: {key} must be a list, got {_show(value)}")
        if rules.get("non_empty") and not value:
            raise ParamsError(f"{source}: {key} must list at least one entry")
        return tuple(
            _convert(args[0], item, f"{key}[{i}]", rules, source) for i, item in enumerate(value)
        )
    return _check_scalar(hint, value, key, rules, source)


def _convert_named(cls: type, value: Any, key: str, source: str) -> dict[str, Any]:
    """``models:`` / ``baselines:``: a mapping of usable names to their validated params."""
    example = "lstm: {arch: lstm, units: 64, ...}" if cls is ModelParams else "tfidf: {...}"
    if not isinstance(value, dict) or not value:
        raise ParamsError(f"{source}: {key} must map names to their params, e.g. {example}")
    for name in value:
        if not isinstance(name, str) or not _MODEL_NAME.match(name):
            raise ParamsError(
                f"{source}: {key}.{name} is not a usable name; use lower-case letters, digits "
                "and _ (it names the model's folder, DVC stage and MLflow run)"
            )
    return {name: _build(cls, spec, f"{key}.{name}.", source) for name, spec in value.items()}


def _check_scalar(hint: Any, value: Any, key: str, rules: dict[str, Any], source: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{source}: {key} must be true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{source}: {key} must be an integer, got {_show(value)}")
    elif hint is float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ParamsError(f"{source}: {key} must be a number, got {_show(value)}")
        value = float(value)
    elif hint is str and (not isinstance(value, str) or not value.strip()):
        raise ParamsError(f"{source}: {key} must be a non-empty string, got {_show(value)}")
    low, high = rules.get("min"), rules.get("max")
    if low is not None:
        if rules.get("exclusive_min") and not value > low:
            raise ParamsError(f"{source}: {key} must be > {low}, got {value}")
        if not rules.get("exclusive_min") and not value >= low:
            raise ParamsError(f"{source}: {key} must be >= {low}, got {value}")
    if high is not None:
        if rules.get("exclusive_max") and not value < high:
            raise ParamsError(f"{source}: {key} must be < {high}, got {value}")
        if not rules.get("exclusive_max") and not value <= high:
            raise ParamsError(f"{source}: {key} must be <= {high}, got {value}")
    choices = rules.get("choices")
    if choices and value not in choices:
        raise ParamsError(
            f"{source}: {key} must be one of {', '.join(choices)}, got {_show(value)}"
        )
    digest_len = rules.get("hex_digest")
    if digest_len:
        value = value.strip().lower()
        if len(value) != digest_len or any(c not in "0123456789abcdef" for c in value):
            raise ParamsError(
                f"{source}: {key} must be a {digest_len}-character hex sha256, got {_show(value)}"
            )
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
