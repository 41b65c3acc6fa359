"""The behavioural suites: sizes, labels as their templates say, bag-of-words equal pairs."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml
from conftest import REPO

from imdb_sentiment.data.text import tokenize
from imdb_sentiment.evaluation.suites import SAME_WORDS, SuiteError, load_suites

SPEC = yaml.safe_load((REPO / "data/suites/suites.yaml").read_text())
POSITIVE, NEGATIVE = set(SPEC["lexicon"]["positive"]), set(SPEC["lexicon"]["negative"])


@pytest.fixture(scope="module")
def suites():
    return load_suites(REPO / "data/suites/suites.yaml", seed=42)


def test_each_suite_has_the_size_its_spec_asks_for(suites):
    sizes = {name: (len(s.cases), s.cases.group.nunique()) for name, s in suites.items()}
    assert sizes == {
        "negation": (400, 100),  # quads
        "contrast": (300, 150),  # pairs
        "order": (300, 150),
        "filler": (300, 150),  # a plain review and the same with filler
    }
    for suite in suites.values():
        assert not suite.cases.text.duplicated().any() or suite.name == "filler"


def test_negation_labels_follow_the_adjective_and_the_negation(suites):
    for case in suites["negation"].cases.itertuples():
        tokens = tokenize(case.text)
        (adjective,) = [t for t in tokens if t in POSITIVE | NEGATIVE]
        negated = bool({"not", "never"} & set(tokens))
        assert case.label == int((adjective in POSITIVE) != negated), case.text
    quads = suites["negation"].cases.groupby("group").label.apply(list)
    assert all(labels == [1, 0, 0, 1] for labels in quads)


@pytest.mark.parametrize("name", SAME_WORDS)
def test_pairs_have_the_same_words_and_opposite_labels(suites, name):
    for _, pair in suites[name].cases.groupby("group"):
        first, second = pair.text.tolist()
        assert Counter(tokenize(first)) == Counter(tokenize(second)), (first, second)
        assert sorted(pair.label) == [0, 1]
        for case in pair.itertuples():  # the label follows the adjective after the last "was"
            tokens = tokenize(case.text)
            last_was = len(tokens) - 1 - tokens[::-1].index("was")
            assert case.label == int(tokens[last_was + 1] in POSITIVE), case.text


def test_filler_adds_a_neutral_sentence_and_keeps_the_label(suites):
    fillers = SPEC["lexicon"]["filler"]
    for _, group in suites["filler"].cases.groupby("group"):
        plain, filled = group.text.tolist()
        assert plain in filled and any(f in filled for f in fillers)
        assert group.label.nunique() == 1


def test_the_draw_is_seeded(suites):
    again = load_suites(REPO / "data/suites/suites.yaml", seed=42)
    other = load_suites(REPO / "data/suites/suites.yaml", seed=7)
    assert all(again[n].cases.equals(s.cases) for n, s in suites.items())
    assert not other["contrast"].cases.equals(suites["contrast"].cases)


def test_a_broken_suites_file_names_itself(tmp_path):
    broken = tmp_path / "suites.yaml"
    broken.write_text("lexicon: {}\n")
    with pytest.raises(SuiteError, match="suites.yaml: cannot build the suites"):
        load_suites(broken)
