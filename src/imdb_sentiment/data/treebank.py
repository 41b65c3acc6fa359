"""Read the Stanford Sentiment Treebank's trees into SST-2: binary labels, plain text.

The treebank (Socher et al., 2013) labels every node of every parsed sentence from 0 (very
negative) to 4 (very positive). Its binary task drops the neutral 2 and calls 0-1 negative and
3-4 positive. Validation and test are whole sentences (the official dev and test trees); training
takes every labelled phrase of the training trees, sentences included (Socher et al. 2013, Kim
2014), or only their sentences (``train_on="sentences"``), which shows what the phrase labels
teach.

The trees are parsing and tokenization (NLTK reads both): ``does n't``, ``-LRB-``, ``\\/``. The
text is put back as a person would type it before the project's one text path sees it, so a
model trained here reads what a served request sends.
"""

from __future__ import annotations

import logging
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from imdb_sentiment.data.text import tokenize
from imdb_sentiment.errors import UserError

log = logging.getLogger(__name__)

# The project's split names -> upstream's files in trainDevTestTrees_PTB.zip.
TREE_FILES = {"train": "trees/train.txt", "val": "trees/dev.txt", "test": "trees/test.txt"}
TRAIN_ON = ("phrases", "sentences")
NEUTRAL = 2
# Penn Treebank tokens -> what a person types; "``" and "''" are opening and closing quotes.
_PLAIN = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_PLAIN |= {"``": '"', "''": '"', "`": "'"}
_NO_SPACE_BEFORE = {",", ".", "!", "?", ";", ":", "%", "...", "''", "-RRB-", "-RSB-", "-RCB-"}
_NO_SPACE_AFTER = {"``", "`", "$", "#", "-LRB-", "-LSB-", "-LCB-"}
# Split-off clitics: "do n't", "it 's", "we 're", "I 've", "you 'll", "he 'd", "I 'm".
_CLITICS = {"n't", "'s", "'re", "'ve", "'ll", "'d", "'m", "'"}


class TreebankError(UserError, RuntimeError):
    """The treebank archive is missing, unsafe, corrupt or not in upstream's layout."""


@dataclass
class TreebankCounts:
    """What reading kept and dropped: the dataset stats report these."""

    neutral: dict[str, int] = field(default_factory=dict)  # split -> neutral rows dropped
    duplicates: int = 0  # training phrases whose text an earlier phrase already had
    conflicting: int = 0  # ... of which with the other label (the first one is kept)
    no_tokens: int = 0  # training phrases the text path turns into no tokens (",", "...")


def read_treebank(archive: Path, train_on: str = "phrases") -> tuple[pd.DataFrame, TreebankCounts]:
    """SST-2 from the treebank zip: one row per text (id, split, text, label, fine_label, kind).

    ``split`` is train, val (upstream's dev) or test; ``label`` is 0 or 1, ``fine_label`` the
    tree's 0-4, ``kind`` ``sentence`` or ``phrase``. Training rows are deduplicated on their
    text, first occurrence kept; a phrase with no tokens is dropped and counted.
    """
    if train_on not in TRAIN_ON:
        raise ValueError(f"train_on must be one of {TRAIN_ON}, got {train_on!r}")
    counts = TreebankCounts()
    rows = []
    seen: dict[str, int] = {}  # text -> label, of the training rows kept
    seen_words: dict[tuple[str, ...], int] = {}
    for split, member, line_number, tree in _trees(archive):
        nodes = tree.subtrees() if split == "train" and train_on == "phrases" else [tree]
        for node_index, node in enumerate(nodes):
            fine = _label(node, archive, member, line_number)
            if fine == NEUTRAL:
                counts.neutral[split] = counts.neutral.get(split, 0) + 1
                continue
            label = int(fine > NEUTRAL)
            kind = "sentence" if node_index == 0 else "phrase"
            if split == "train":
                # Most nodes repeat a phrase seen before: their text is never put back.
                words = tuple(node.leaves())
                text = None if words in seen_words else detokenize(list(words))
                if text is None or text in seen:
                    counts.duplicates += 1
                    counts.conflicting += seen_words.get(words, seen.get(text)) != label
                    continue
                seen[text] = seen_words[words] = label
                if not tokenize(text):
                    counts.no_tokens += 1
                    continue
            else:
                text = detokenize(node.leaves())
            row_id = f"{split}/{line_number}" + (f"/{node_index}" if node_index else "")
            rows.append((row_id, split, text, label, fine, kind))
    columns = ["id", "split", "text", "label", "fine_label", "kind"]
    texts = pd.DataFrame(rows, columns=columns)
    for split in TREE_FILES:
        if not (texts.split == split).any():
            raise TreebankError(f"{archive}: {TREE_FILES[split]} has no non-neutral tree")
    log.info(
        "read %s; dropped %d neutral, %d duplicate and %d token-less texts",
        texts.groupby("split").size().to_dict(),
        sum(counts.neutral.values()),
        counts.duplicates,
        counts.no_tokens,
    )
    return texts, counts


def treebank_stats(texts: pd.DataFrame, counts: TreebankCounts) -> dict:
    """What SST-2's dataset stats add to IMDB's: phrases and sentences per split, and what
    reading dropped (neutral nodes, repeated phrases, phrases the text path reads as no
    tokens)."""
    kinds = texts.groupby(["split", "kind"]).size()
    return {
        "kinds": {split: kinds[split].to_dict() for split in TREE_FILES},
        "dropped": {
            "neutral": counts.neutral,
            "duplicates": counts.duplicates,
            "conflicting_duplicates": counts.conflicting,
            "no_tokens": counts.no_tokens,
        },
    }


def detokenize(tokens: list[str]) -> str:
    """The treebank's tokens as plain text: ``does n't`` -> ``doesn't``, ``-LRB-`` -> ``(``.

    Each join depends on two neighbouring tokens only, so a phrase reads exactly as it does
    inside its sentence. NLTK's TreebankWordDetokenizer differs only in the spaces around
    ``--`` and ``...``, which the text path drops, but runs about 40 regular expressions per
    call: 47 s for SST-2's 80,000 distinct training phrases, against under a second here.
    """
    text = []
    for index, token in enumerate(tokens):
        word = _PLAIN.get(token) or token.replace("\\/", "/").replace("\\*", "*")
        if index and not (_joins_left(token) or _joins_right(tokens[index - 1])):
            text.append(" ")
        text.append(word)
    return "".join(text)


def _joins_left(token: str) -> bool:
    return token in _NO_SPACE_BEFORE or token.lower() in _CLITICS


def _joins_right(token: str) -> bool:
    return token in _NO_SPACE_AFTER


def _trees(archive: Path) -> Iterator[tuple[str, str, int, object]]:
    """(split, member, 1-based line number, nltk Tree) for every tree line of the archive."""
    from nltk.tree import Tree

    if not archive.is_file():
        raise TreebankError(
            f"{archive}: treebank archive not found; run `dvc repro` to fetch it from "
            "params.yaml's sources"
        )
    try:
        with zipfile.ZipFile(archive) as bundle:
            _refuse_unsafe_members(bundle, archive)
            names = set(bundle.namelist())
            missing = [name for name in TREE_FILES.values() if name not in names]
            if missing:
                raise TreebankError(
                    f"{archive}: no {', '.join(missing)}; expected the treebank's own layout "
                    f"({', '.join(TREE_FILES.values())}, as in trainDevTestTrees_PTB.zip)"
                )
            for split, member in TREE_FILES.items():
                lines = bundle.read(member).decode("utf-8").splitlines()
                for line_number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        tree = Tree.fromstring(line)
                    except ValueError as exc:
                        raise TreebankError(
                            f"{archive}: {member} line {line_number}: malformed tree "
                            f"({_first_line(exc)})"
                        ) from None
                    yield split, member, line_number, tree
    except (zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError) as exc:
        raise TreebankError(
            f"{archive}: cannot read the zip ({type(exc).__name__}: {_first_line(exc)}); it is "
            "corrupt, truncated or not a zip: delete it and fetch it again"
        ) from None


def _refuse_unsafe_members(bundle: zipfile.ZipFile, archive: Path) -> None:
    # The same rule as the IMDB tar's extraction filter: nothing may land outside its folder,
    # even though the trees are read in memory and nothing is extracted.
    for info in bundle.infolist():
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        if path.is_absolute() or ".." in path.parts or ":" in path.parts[0] or is_link:
            raise TreebankError(
                f"{archive}: unsafe member {name!r} (it would land outside the archive's "
                "folder); refusing the archive"
            )


def _label(node, archive: Path, member: str, line_number: int) -> int:
    try:
        fine = int(node.label())
    except ValueError:
        fine = -1
    if not 0 <= fine <= 4 or len(node) == 0:
        raise TreebankError(
            f"{archive}: {member} line {line_number}: malformed tree (node label "
            f"{node.label()!r}, expected 0-4 with words under it)"
        )
    return fine


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no details"
