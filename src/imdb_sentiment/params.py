"""The one params loader: reads params.yaml and validates every section before any work starts.

Each section is a frozen pydantic model whose fields carry their types and bounds. Pydantic
finds the first bad value; ``_message`` turns its error into one line that names the key and
what would fix it: ``params.yaml: train.epochs must be >= 1, got 0``.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imdb_sentiment.errors import UserError

ARCHITECTURES = ("simple_rnn", "lstm", "gru", "bilstm", "dan")
# dan, the deep averaging network (Iyyer et al. 2015), reads a text as a bag of words: the
# mean (or max) of its word vectors, then dense layers. The others read the words in order.
RECURRENT_ARCHITECTURES = ("simple_rnn", "lstm", "gru", "bilstm")
ORDER_BLIND_POOLINGS = ("mean", "max")
# The kinds of model. A family says what a model is to the comparison: recurrent models read
# the words in order, a neural bag (dan) and a bag of n-grams do not, an ensemble averages
# others. Both neural families come from `models:` and train@ stages, one network per folder.
RECURRENT, NEURAL_BAG = "recurrent", "neural_bag"
BAG_OF_WORDS, ENSEMBLE = "bag_of_words", "ensemble"
NEURAL = (RECURRENT, NEURAL_BAG)
POOLINGS = ("last", "mean", "max")
LR_SCHEDULES = ("constant", "cosine")
Architecture = Literal["simple_rnn", "lstm", "gru", "bilstm", "dan"]
Pooling = Literal["last", "mean", "max"]
LRSchedule = Literal["constant", "cosine"]
EMBEDDING_INITS = ("random", "word_vectors")
EmbeddingInit = Literal["random", "word_vectors"]
# A model's name names its folder, DVC stage, MLflow run and metrics file.
ModelName = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]
# A corpus's name names its DVC stages, its folders and its registered model (NAME-sentiment).
CorpusName = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9]*$")]


class ParamsError(UserError, ValueError):
    """A params.yaml value that cannot be used; the message names the key and the fix."""


class Section(BaseModel):
    """Every params section: no unknown keys, no silent type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Source(Section):
    url: Text
    sha256: Text

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        value = value.lower()
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError(f"must be a 64-character hex sha256, got {_show(value)}")
        return value


class ImdbRead(Section):
    """IMDB's archive: labeled reviews in train/ and test/; validation is held out of train."""

    format: Literal["imdb"]
    val_fraction: StrictFloat = Field(gt=0.0, le=0.5)  # of *train*, stratified, by movie


class TreebankRead(Section):
    """The Stanford Sentiment Treebank's trees, as SST-2: its own dev split is validation."""

    format: Literal["treebank"]
    # phrases: every distinct non-neutral phrase of the training trees (Socher et al. 2013);
    # sentences: the training sentences alone, to measure what the phrase labels teach.
    train_on: Literal["phrases", "sentences"]


READ_FORMATS = ("imdb", "treebank")


class PrepareParams(Section):
    vocab_size: StrictInt = Field(ge=3)
    max_len: StrictInt = Field(ge=1)
    truncating: Literal["pre", "post"]


class TrainParams(Section):
    """What every recurrent model shares: how long it may train and when it stops."""

    epochs: StrictInt = Field(ge=1)
    patience: StrictInt = Field(ge=0)


class ModelParams(Section):
    """One neural model (recurrent, or the order-blind dan): its architecture and every
    choice the tuning search makes."""

    arch: Architecture
    # The most frequent ``vocab_size`` ids of the prepared vocabulary (a prefix of it, so
    # every model shares one prepared dataset); rarer words become out-of-vocabulary.
    vocab_size: StrictInt = Field(ge=3)
    embedding_dim: StrictInt = Field(ge=1)
    # random: Keras' seeded initializer; word_vectors: the word2vec vectors of the
    # word_vectors stage where a word has one (the rest random), trained on from there.
    embedding_init: EmbeddingInit
    embedding_dropout: StrictFloat = Field(ge=0.0, lt=1.0)  # whole embedding channels
    word_dropout: StrictFloat = Field(ge=0.0, lt=1.0)  # whole tokens, in training only
    # Recurrent units per layer, or dan's dense layers' width.
    units: StrictInt = Field(ge=1)
    layers: StrictInt = Field(ge=1, le=3)  # recurrent layers (1-2), or dan's dense layers (1-3)
    dropout: StrictFloat = Field(ge=0.0, lt=1.0)  # on the pooled vector (dan: after each layer)
    # How the per-step outputs become one vector: the last step's, or the mean or max over
    # the review's real steps (padding never counts, so a review scores the same in any batch).
    # dan pools its word vectors: mean or max, never last.
    pooling: Pooling
    batch_size: StrictInt = Field(ge=1)
    learning_rate: StrictFloat = Field(gt=0.0)
    # constant, or cosine decay to 0 over train.epochs (Keras' CosineDecay).
    lr_schedule: LRSchedule

    @field_validator("layers")
    @classmethod
    def _layers_for_arch(cls, value: int, info: ValidationInfo) -> int:
        arch = info.data.get("arch")
        if arch in RECURRENT_ARCHITECTURES and value > 2:
            raise ValueError(f"must be 1 or 2 for arch {arch}, got {value}")
        return value

    @field_validator("pooling")
    @classmethod
    def _pooling_for_arch(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("arch") == "dan" and value not in ORDER_BLIND_POOLINGS:
            raise ValueError(
                f"must be mean or max for arch dan (it pools a bag of words), got {value!r}"
            )
        return value

    @property
    def family(self) -> str:
        """recurrent, or neural_bag for dan: what the comparison sets against what."""
        return RECURRENT if self.arch in RECURRENT_ARCHITECTURES else NEURAL_BAG


class WordVectorsParams(Section):
    """word2vec (gensim, CBOW) on one corpus's training split and its unlabeled texts: the
    starting embedding of every model with ``embedding_init: word_vectors``, in every corpus."""

    corpus: CorpusName  # whose prepared train split and unlabeled texts it reads
    dim: StrictInt = Field(ge=1)
    window: StrictInt = Field(ge=1)
    min_count: StrictInt = Field(ge=1)  # rarer words get no vector (a model starts them random)
    epochs: StrictInt = Field(ge=1)
    # gensim's downsampling of frequent words: a word this frequent or more is skipped in
    # proportion; lower skips more (faster, and rarer words weigh more). 0: none.
    sample: StrictFloat = Field(ge=0.0, lt=1.0)


class BaselineParams(Section):
    """One bag-of-n-grams model: the n-grams it counts, how it weights them, the C it tries."""

    # tfidf: TF-IDF of the n-grams; nb: binary n-gram counts scaled by the naive-Bayes
    # log-count ratio (Wang & Manning 2012), the stronger order-blind baseline.
    weighting: Literal["tfidf", "nb"]
    ngram_max: StrictInt = Field(ge=1, le=3)
    min_df: StrictInt = Field(ge=1)
    max_features: StrictInt | None = Field(ge=1)
    sublinear_tf: StrictBool  # tfidf only: 1 + log(tf) instead of tf
    C: tuple[Annotated[StrictFloat, Field(gt=0.0)], ...] = Field(min_length=1)
    max_iter: StrictInt = Field(ge=1)

    @model_validator(mode="after")
    def _weighting_options(self) -> BaselineParams:
        if self.weighting == "nb" and self.sublinear_tf:
            raise ValueError(
                "sublinear_tf must be false with weighting nb (its counts are binary); "
                "set it to false or use weighting tfidf"
            )
        return self


class EnsembleParams(Section):
    """An average of other models' probabilities, its weights picked on validation only."""

    members: tuple[ModelName, ...] = Field(min_length=2)
    # validation: the weights (a grid on the simplex, steps of weight_step) with the best
    # validation accuracy, ties to the lower validation log loss; equal: 1 / members each.
    weights: Literal["validation", "equal"]
    weight_step: StrictFloat = Field(gt=0.0, le=0.5)


class ScoreParams(Section):
    """What every score stage scores beyond val and test."""

    # Test reviews the order curve shuffles within windows of k (a seeded sample; null: all
    # 25,000). Test accuracy, the whole-review shuffle and the answer always use all of them.
    window_reviews: StrictInt | None = Field(ge=100)


Overrides = dict[ModelName, dict[str, Any]]


class CorpusParams(Section):
    """One corpus as params.yaml writes it: where it comes from, how it is read and shaped,
    and where its models differ from the shared defaults (the search's winners on it)."""

    # Tried in order; the first source that arrives and matches its sha256 wins.
    sources: tuple[Source, ...] = Field(min_length=1)
    read: ImdbRead | TreebankRead = Field(discriminator="format")
    prepare: PrepareParams
    score: ScoreParams
    models: Overrides = {}
    baselines: Overrides = {}
    ensembles: Overrides = {}


class ParamsFile(Section):
    """params.yaml as written: the shared model defaults and one entry per corpus."""

    seed: StrictInt = Field(ge=0)
    train: TrainParams
    word_vectors: WordVectorsParams
    models: dict[ModelName, ModelParams] = Field(min_length=1)
    baselines: dict[ModelName, BaselineParams] = Field(min_length=1)
    ensembles: dict[ModelName, EnsembleParams]
    corpora: dict[CorpusName, CorpusParams] = Field(min_length=1)

    @model_validator(mode="after")
    def _word_vectors_fit(self) -> ParamsFile:
        if self.word_vectors.corpus not in self.corpora:
            raise ValueError(
                f"word_vectors.corpus must be one of {', '.join(self.corpora)} (a key of "
                f"corpora), got {self.word_vectors.corpus!r}"
            )
        check_embedding_dims(self.models, self.word_vectors)  # the shared entries' own line
        return self

    @model_validator(mode="after")
    def _every_corpus_resolves(self) -> ParamsFile:
        for corpus in self.corpora:
            self.corpus(corpus)  # a bad override fails at load, whichever corpus a stage runs
        return self

    def corpus(self, name: str) -> Params:
        """One corpus's params: the shared defaults with its overrides applied, validated."""
        if name not in self.corpora:
            raise ParamsError(
                f"params.yaml: corpora.{name} is missing; expected one of: "
                f"{', '.join(self.corpora)}"
            )
        entry = self.corpora[name]
        shared = self.model_dump(mode="json")
        merged: dict[str, Any] = {"corpus": name, "seed": self.seed, "train": shared["train"]}
        merged["word_vectors"] = shared["word_vectors"]
        merged |= {key: as_dict(getattr(entry, key)) for key in ("read", "prepare", "score")}
        merged["sources"] = [as_dict(source) for source in entry.sources]
        for section in ("models", "baselines", "ensembles"):
            overrides = getattr(entry, section)
            unknown = sorted(set(overrides) - set(shared[section]))
            if unknown:
                raise ValueError(
                    f"corpora.{name}.{section} overrides {', '.join(unknown)}, which is not in "
                    f"{section}; add it there first (every corpus trains every model)"
                )
            merged[section] = {
                model: values | overrides.get(model, {})
                for model, values in shared[section].items()
            }
        try:
            return Params.model_validate(merged)
        except ValidationError as exc:
            raise ValueError(
                f"in corpora.{name} (the shared defaults with its overrides): "
                f"{_message(exc.errors()[0])}"
            ) from None


class Params(Section):
    """One corpus's params, as every stage reads them (``ParamsFile.corpus``)."""

    corpus: CorpusName
    seed: StrictInt = Field(ge=0)
    sources: tuple[Source, ...] = Field(min_length=1)
    read: ImdbRead | TreebankRead = Field(discriminator="format")
    prepare: PrepareParams
    train: TrainParams
    word_vectors: WordVectorsParams
    models: dict[ModelName, ModelParams] = Field(min_length=1)
    baselines: dict[ModelName, BaselineParams] = Field(min_length=1)
    ensembles: dict[ModelName, EnsembleParams]
    score: ScoreParams

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        check_embedding_dims(self.models, self.word_vectors)
        for name, spec in self.models.items():
            if spec.vocab_size > self.prepare.vocab_size:
                raise ValueError(
                    f"models.{name}.vocab_size must be <= prepare.vocab_size "
                    f"({self.prepare.vocab_size}), got {spec.vocab_size}; raise "
                    "prepare.vocab_size to give every model more words"
                )
        sections = {"models": self.models, "baselines": self.baselines, "ensembles": self.ensembles}
        seen: dict[str, str] = {}
        for section, names in sections.items():
            for name in names:
                if name in seen:
                    raise ValueError(
                        f"{name} is in both {seen[name]} and {section}; names must differ "
                        "(each names a folder under models/ and an MLflow run)"
                    )
                seen[name] = section
        for name, spec in self.ensembles.items():
            for member in spec.members:
                if member not in self.models and member not in self.baselines:
                    raise ValueError(
                        f"ensembles.{name}.members names {member}, which is not in models or "
                        "baselines; an ensemble averages trained models (not other ensembles)"
                    )
            if len(set(spec.members)) != len(spec.members):
                raise ValueError(f"ensembles.{name}.members lists a model twice")
        return self

    def families(self) -> dict[str, str]:
        """Every model's name -> its family: "recurrent" or "neural_bag" (models, by arch),
        "bag_of_words" (baselines) or "ensemble" (ensembles)."""
        neural = {name: spec.family for name, spec in self.models.items()}
        bags = {name: BAG_OF_WORDS for name in self.baselines}
        return neural | bags | {name: ENSEMBLE for name in self.ensembles}


def check_embedding_dims(models: dict[str, ModelParams], vectors: WordVectorsParams) -> None:
    """A model that starts from the word vectors has their width: raise ValueError otherwise."""
    for name, spec in models.items():
        if spec.embedding_init == "word_vectors" and spec.embedding_dim != vectors.dim:
            raise ValueError(
                f"models.{name}.embedding_dim must be {vectors.dim} (word_vectors.dim) with "
                f"embedding_init word_vectors, got {spec.embedding_dim}"
            )


def load_params(path: str | Path = "params.yaml", corpus: str | None = None) -> Params:
    """One corpus's params (the first in ``corpora:`` unless named), the whole file validated;
    raise ParamsError naming the first bad key."""
    params = load_params_file(path)
    try:
        return params.corpus(corpus or next(iter(params.corpora)))
    except ParamsError as exc:
        raise ParamsError(str(exc).replace("params.yaml", Path(path).name, 1)) from None


def load_params_file(path: str | Path = "params.yaml") -> ParamsFile:
    """Read and validate the whole params file: every corpus, every override."""
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


def parse_params(raw: Any, source: str = "params.yaml") -> ParamsFile:
    """Validate an already-parsed params mapping (the same checks as load_params)."""
    try:
        return ParamsFile.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(f"{source}: {_message(exc.errors()[0])}") from None


def flatten_params(section: Section, prefix: str) -> dict[str, Any]:
    """Flatten a params section into dotted keys (``train.batch_size``) for MLflow."""
    flat: dict[str, Any] = {}
    for name, value in as_dict(section).items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            flat.update(_flatten_plain(value, key))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                flat.update(_flatten_plain(item, f"{key}.{i}"))
        else:
            flat[key] = value
    return flat


def as_dict(section: Section) -> dict[str, Any]:
    """A params section as plain JSON-able data (tuples become lists)."""
    return section.model_dump(mode="json")


def _flatten_plain(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in values.items()}


# What each pydantic error type means, said the way this project says it.
_PREDICATES = {
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "finite_number": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a non-empty string",
    "string_too_short": "must be a non-empty string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
}
_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _message(error: dict[str, Any]) -> str:
    """One pydantic error as one line naming the key: ``train.epochs must be >= 1, got 0``."""
    loc, kind, ctx = error["loc"], error["type"], error.get("ctx") or {}
    value = error.get("input")
    key = _key(loc)
    if kind == "missing":
        return f"missing key {key}; add it (see the README's params table)"
    if kind == "extra_forbidden":
        expected = ", ".join(_section_at(loc[:-1]).model_fields)
        return f"unknown key {key}; expected one of: {expected}"
    if loc and loc[-1] == "[key]":
        return (
            f"{key} is not a usable name; use lower-case letters, digits and _ "
            "(it names the model's folder, DVC stage and MLflow run)"
        )
    if kind == "value_error":
        reason = str(ctx["error"])
        return f"{key} {reason}" if loc else reason
    if kind == "union_tag_invalid":
        expected = re.findall(r"'([^']*)'", ctx["expected_tags"])
        return (
            f"{key}.{ctx['discriminator'].strip(chr(39))} must be one of {', '.join(expected)}, "
            f"got {_show(ctx['tag'])}"
        )
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", ctx["expected"])
        return f"{key} must be one of {', '.join(choices)}, got {_show(value)}"
    for bound, sign in _BOUNDS.items():
        if bound in ctx:
            return f"{key} must be {sign} {ctx[bound]}, got {value}"
    if kind == "too_short":
        return f"{key} must list at least one entry"
    if kind in _PREDICATES:
        where = key or "the top level"
        return f"{where} {_PREDICATES[kind]}, got {_show(value)}"
    return f"{key}: {error['msg']}"


def _key(loc: tuple[Any, ...]) -> str:
    """``("corpora", "imdb", "sources", 0, "sha256")`` -> ``corpora.imdb.sources[0].sha256``.
    A reader's format, which pydantic puts in the path of its fields, is left out."""
    key = ""
    for previous, part in zip((None, *loc), loc, strict=False):
        if part == "[key]" or (previous == "read" and part in READ_FORMATS):
            continue
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def _section_at(loc: tuple[Any, ...]) -> type[Section]:
    """The params section class that ``loc`` (a path into params.yaml) points at."""
    hint: Any = ParamsFile
    for part in loc:
        if _is_union(hint):  # the readers: pydantic names the one it used by its format
            hint = next(h for h in typing.get_args(hint) if part in typing.get_args(_format(h)))
        elif isinstance(hint, type) and issubclass(hint, Section):
            hint = hint.model_fields[part].annotation
        else:
            hint = typing.get_args(hint)[-1] if isinstance(part, str) else typing.get_args(hint)[0]
        while typing.get_origin(hint) is Annotated or (
            _is_union(hint) and type(None) in typing.get_args(hint)
        ):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _format(reader: type[Section]) -> Any:
    return reader.model_fields["format"].annotation


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
