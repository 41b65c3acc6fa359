"""Behavioural test suites (CheckList-style), generated from the templates and lexicon in
data/suites/suites.yaml and labelled by construction.

Each suite is a table of reviews in *groups* judged together:
- ``negation``: quads, one frame with a positive and a negative adjective, each plain and
  negated ("The plot was good." / "The plot was not good." / "... bad." / "... not bad.");
- ``contrast``: pairs, "X but Y" and "although X, Y" with the adjectives swapped: the label
  follows Y, and both reviews have the same words;
- ``order``: pairs of the same words in another order with opposite labels;
- ``filler``: a plain review and the same review with a neutral sentence before or after it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from imdb_sentiment.errors import UserError

SUITES_FILE = Path("data/suites/suites.yaml")
# Suites whose groups hold reviews of the same words: a unigram bag of words scores all of a
# group the same, and the labels in a group differ, so it gets at most one right.
SAME_WORDS = ("contrast", "order")
# What a bag of words can and cannot reach on each suite (the report prints these).
BAG_OF_WORDS_BOUNDS = {
    "negation": "no exact bound: a linear model over unigram counts gets at most 3 of a "
    "quad's 4 right (`not` would have to lower a positive word's score and raise a negative "
    "one's), but TF-IDF's length normalisation loosens that",
    "contrast": "group accuracy exactly 0 for a unigram bag of words: both reviews of a pair "
    "have the same words, so it scores them the same and gets at most one right",
    "order": "group accuracy exactly 0 for a unigram bag of words (same words in each pair)",
    "filler": "no bound: the filler adds words, and added words move any bag of words' score",
}


class SuiteError(UserError, ValueError):
    """The suites file is malformed; the message names the key."""


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    cases: pd.DataFrame  # one row per review: group, text, label (1 = positive)

    @property
    def group_kind(self) -> str:
        """``"all right"`` (a group counts when every review in it is right) or
        ``"unchanged"`` (when every review in it gets the same label: the filler suite)."""
        return "unchanged" if self.name == "filler" else "all right"


def load_suites(path: Path = SUITES_FILE, seed: int = 0) -> dict[str, Suite]:
    """Every suite of ``path``, its cases drawn from the templates with ``seed``."""
    try:
        spec = yaml.safe_load(Path(path).read_text())
        lexicon, suites = spec["lexicon"], spec["suites"]
        return {
            name: Suite(
                name,
                suites[name]["description"],
                _generate(name, suites[name], lexicon, np.random.default_rng([seed, index])),
            )
            for index, name in enumerate(("negation", "contrast", "order", "filler"))
        }
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())  # YAML errors span lines; the message is one
        raise SuiteError(
            f"{path}: cannot build the suites ({type(exc).__name__}: {reason})"
        ) from None


def sentiment_words(path: Path = SUITES_FILE) -> set[str]:
    """The lexicon's positive and negative words."""
    lexicon = yaml.safe_load(Path(path).read_text())["lexicon"]
    return set(lexicon["positive"]) | set(lexicon["negative"])


def _generate(
    name: str, spec: dict[str, Any], lexicon: dict[str, list[str]], rng: Any
) -> pd.DataFrame:
    nouns, positive, negative = lexicon["nouns"], lexicon["positive"], lexicon["negative"]
    if name == "negation":
        # Each positive adjective has one negative partner, so no review is in two quads.
        pairs = list(zip(positive, negative, strict=False))
        frames = list(itertools.product(spec["templates"], nouns, pairs))
        rows = []
        for group, index in enumerate(_draw(rng, len(frames), spec["cases"])):
            template, noun, (pos, neg) = frames[index]
            for adj, plain_label in ((pos, 1), (neg, 0)):
                rows.append((group, template["plain"].format(noun=noun, adj=adj), plain_label))
                negated = template["negated"].format(noun=noun, adj=adj)
                rows.append((group, negated, 1 - plain_label))
    elif name in SAME_WORDS:
        second = [(a, b) for a in nouns for b in nouns if a != b] if name == "contrast" else None
        frames = list(itertools.product(spec["templates"], second or nouns, positive, negative))
        rows = []
        for group, index in enumerate(_draw(rng, len(frames), spec["cases"])):
            template, noun, pos, neg = frames[index]
            noun, noun2 = noun if isinstance(noun, tuple) else (noun, noun)
            for x, y, label in ((pos, neg, 1), (neg, pos, 0)):
                rows.append((group, template.format(noun=noun, noun2=noun2, x=x, y=y), label))
    elif name == "filler":
        adjectives = [(adj, 1) for adj in positive] + [(adj, 0) for adj in negative]
        frames = list(
            itertools.product(spec["templates"], nouns, adjectives, lexicon["filler"], (0, 1))
        )
        rows = []
        for group, index in enumerate(_draw(rng, len(frames), spec["cases"])):
            template, noun, (adj, label), filler, after = frames[index]
            plain = template.format(noun=noun, x=adj)
            plain = plain[0].upper() + plain[1:]
            filled = f"{plain} {filler}" if after else f"{filler} {plain}"
            rows += [(group, plain, label), (group, filled, label)]
    else:
        raise KeyError(name)
    return pd.DataFrame(rows, columns=["group", "text", "label"])


def _draw(rng: Any, population: int, wanted: int) -> np.ndarray:
    """``wanted`` distinct frames of ``population``, in a seeded order."""
    return np.sort(rng.choice(population, size=min(wanted, population), replace=False))
