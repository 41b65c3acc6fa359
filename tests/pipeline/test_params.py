import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from imdb_sentiment.params import ParamsError, flatten_params, load_params, parse_params

DEFAULTS = yaml.safe_load((REPO / "params.yaml").read_text())


def with_change(section: str, key: str, value) -> dict:
    raw = copy.deepcopy(DEFAULTS)
    node = raw
    for part in section.split("."):
        node = node[part]
    node[key] = value
    return raw


def test_shipped_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert params.corpus == "imdb"  # the first corpus, where none is named
    assert set(params.models) == {"simple_rnn", "lstm", "gru", "bilstm", "dan", "dan_wv"}
    assert params.sources[-1].url.endswith("aclImdb_v1_full.tar.gz")  # with train/unsup
    sst2 = load_params(REPO / "params.yaml", corpus="sst2")
    assert (sst2.read.format, sst2.read.train_on) == ("treebank", "phrases")
    assert sst2.sources[-1].url.endswith("trainDevTestTrees_PTB.zip")
    assert set(sst2.families()) == set(params.families())  # every corpus trains every model


def test_a_corpus_override_changes_that_corpus_alone():
    raw = copy.deepcopy(DEFAULTS)
    raw["corpora"]["sst2"]["models"] = {"gru": {"units": 32}}
    params = parse_params(raw)
    assert params.corpus("sst2").models["gru"].units == 32
    assert params.corpus("imdb").models["gru"].units == DEFAULTS["models"]["gru"]["units"]
    assert params.corpus("sst2").models["gru"].arch == "gru"  # the rest from the shared entry
    raw["corpora"]["sst2"]["models"] = {"gru": {"units": 0}}
    with pytest.raises(ParamsError, match=r"in corpora\.sst2 .*models\.gru\.units must be >= 1"):
        parse_params(raw)
    raw["corpora"]["sst2"]["models"] = {"transformer": {"units": 8}}
    with pytest.raises(ParamsError, match="overrides transformer, which is not in models"):
        parse_params(raw)
    with pytest.raises(ParamsError, match="corpora.wiki is missing; expected one of: imdb, sst2"):
        load_params(REPO / "params.yaml", corpus="wiki")


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "epochs", 0, "params.yaml: train.epochs must be >= 1, got 0"),
        ("train", "patience", -1, "params.yaml: train.patience must be >= 0, got -1"),
        ("models.gru", "learning_rate", "fast", "gru.learning_rate must be a number, got 'fast'"),
        ("corpora.imdb.prepare", "truncating", "middle", "prepare.truncating must be one of pre"),
        ("corpora.imdb.read", "val_fraction", 0, "imdb.read.val_fraction must be > 0.0, got 0"),
        ("corpora.imdb.read", "format", "csv", "read.format must be one of imdb, treebank, got"),
        ("corpora.sst2.read", "val_fraction", 0.1, "unknown key corpora.sst2.read.val_fraction"),
        ("corpora.sst2.read", "train_on", "words", "train_on must be one of phrases, sentences"),
        ("corpora.imdb.prepare", "vocab_size", 2.5, "prepare.vocab_size must be an integer, got"),
        ("baselines.tfidf", "C", [], "baselines.tfidf.C must list at least one entry"),
        ("baselines.tfidf", "sublinear_tf", "yes", "tfidf.sublinear_tf must be true or false"),
        ("train", "epoch", 3, "unknown key train.epoch; expected one of: epochs, patience"),
        ("models.gru", "pooling", "attention", "models.gru.pooling must be one of last, mean, max"),
        ("models.gru", "layers", 3, "params.yaml: models.gru.layers must be 1 or 2 for arch gru"),
        ("models.dan", "layers", 4, "params.yaml: models.dan.layers must be <= 3, got 4"),
        ("models.dan", "pooling", "last", "models.dan.pooling must be mean or max for arch dan"),
        ("models.dan", "word_dropout", 1.0, "models.dan.word_dropout must be < 1.0, got 1.0"),
        ("models.gru", "embedding_init", "glove", "embedding_init must be one of random, word_v"),
        ("word_vectors", "dim", 0, "params.yaml: word_vectors.dim must be >= 1, got 0"),
        ("word_vectors", "corpus", "wiki", "word_vectors.corpus must be one of imdb, sst2"),
        ("models.lstm", "embedding_dropout", 1.0, "models.lstm.embedding_dropout must be < 1.0"),
        ("models.lstm", "lr_schedule", "step", "lr_schedule must be one of constant, cosine"),
        ("models.bilstm", "batch_size", 0, "models.bilstm.batch_size must be >= 1, got 0"),
        ("models.bilstm", "learning_rate", 0, "models.bilstm.learning_rate must be > 0.0, got 0"),
        ("models.gru", "vocab_size", 60000, "models.gru.vocab_size must be <= prepare.vocab_size"),
    ],
)
def test_bad_values_name_the_key_and_what_is_expected(section, key, value, message):
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_params(with_change(section, key, value))


def test_unknown_architecture_lists_the_known_ones():
    raw = copy.deepcopy(DEFAULTS)
    raw["models"]["transformer"] = {**raw["models"]["lstm"], "arch": "transformer"}
    with pytest.raises(
        ParamsError,
        match="models.transformer.arch must be one of simple_rnn, lstm, gru, bilstm, dan, got 'tr",
    ):
        parse_params(raw)


def test_a_model_that_starts_from_the_word_vectors_has_their_width():
    raw = copy.deepcopy(DEFAULTS)
    raw["models"]["gru"].update(embedding_init="word_vectors", embedding_dim=256)
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert str(error.value) == (
        "params.yaml: models.gru.embedding_dim must be 128 (word_vectors.dim) with "
        "embedding_init word_vectors, got 256"
    )
    raw["models"]["gru"]["embedding_dim"] = 128
    assert parse_params(raw).corpus("imdb").models["gru"].embedding_init == "word_vectors"
    # A corpus's override is held to the same rule.
    raw = copy.deepcopy(DEFAULTS)
    raw["corpora"]["sst2"]["models"] = {"gru": {"embedding_init": "word_vectors"}}
    with pytest.raises(ParamsError, match=r"in corpora\.sst2 .*models\.gru\.embedding_dim must"):
        parse_params(raw)


def test_two_variants_of_one_architecture_live_side_by_side():
    raw = copy.deepcopy(DEFAULTS)
    raw["models"]["lstm_wide"] = {**raw["models"]["lstm"], "units": 256}
    params = parse_params(raw)
    assert params.models["lstm_wide"].arch == params.models["lstm"].arch == "lstm"
    assert params.models["lstm_wide"].units == 256


def test_model_and_baseline_names_must_be_usable_and_distinct():
    raw = copy.deepcopy(DEFAULTS)
    raw["baselines"]["Bad Name"] = raw["baselines"]["tfidf"]
    with pytest.raises(ParamsError, match="baselines.Bad Name is not a usable name"):
        parse_params(raw)
    raw = copy.deepcopy(DEFAULTS)
    raw["models"]["tfidf"] = raw["models"]["lstm"]
    with pytest.raises(ParamsError, match="tfidf is in both models and baselines"):
        parse_params(raw)


def test_missing_key_is_named():
    raw = copy.deepcopy(DEFAULTS)
    del raw["models"]["lstm"]["dropout"]  # every model key is required: no hidden defaults
    with pytest.raises(ParamsError, match="missing key models.lstm.dropout"):
        parse_params(raw)


def test_a_checksum_that_is_not_a_sha256_is_refused():
    raw = copy.deepcopy(DEFAULTS)
    raw["corpora"]["imdb"]["sources"][0]["sha256"] = "abc"
    with pytest.raises(ParamsError, match=r"imdb\.sources\[0\]\.sha256 must be a 64-character"):
        parse_params(raw)


def test_a_missing_params_file_is_named():
    with pytest.raises(ParamsError, match="not found"):
        load_params(Path("no-such-folder") / "params.yaml")


def test_a_params_file_that_is_not_yaml_is_named(tmp_path):
    (tmp_path / "params.yaml").write_text("train: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")


def test_params_flatten_with_dots_for_mlflow():
    params = load_params(REPO / "params.yaml")
    flat = flatten_params(params.train, "train")
    assert flat["train.epochs"] == DEFAULTS["train"]["epochs"]
    expected = {f"model.{key}": value for key, value in DEFAULTS["models"]["lstm"].items()}
    assert flatten_params(params.models["lstm"], "model") == expected


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ("baseline.py", "params.yaml: baselines.nope is missing; add its TF-IDF params"),
        ("score.py", "params.yaml: nope is in none of models, baselines, ensembles"),
    ],
)
def test_a_stage_for_a_model_not_in_params_names_the_key(tmp_path, stage, message):
    """A per-model stage checks its name against params.yaml before it touches any data."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    result = subprocess.run(
        [sys.executable, str(REPO / "stages" / stage), "imdb", "nope"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"error ({stage}): {message}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["params.yaml"]
