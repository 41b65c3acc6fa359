"""reports/summary.md: every corpus's answer side by side, from the transfer stages' files
(reports/corpora/CORPUS.json). It computes nothing: each number is a corpus pipeline's."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from imdb_sentiment.files import atomic_path, read_json
from imdb_sentiment.report import markdown as md

log = logging.getLogger(__name__)

ROLE_NAMES = {
    "champion": "champion",
    "best_recurrent": "best recurrent",
    "neural_bag": "neural bag",
    "best_bag": "best bag",
}
# What every corpus's pipeline found, one file each (transfer@CORPUS), and the summary that
# sets them side by side (the summary stage).
CORPUS_SUMMARIES = Path("reports/corpora")
SUMMARY = Path("reports/summary.md")


def corpus_summary_file(corpus: str) -> Path:
    return CORPUS_SUMMARIES / f"{corpus}.json"


def render_summary(files: list[Path], out: Path) -> Path:
    """Render ``out`` from the corpora's summaries (``files``, in params.yaml's order)."""
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)}: missing; run `dvc repro transfer`")
    summaries = [read_json(path) for path in files]
    text = "\n\n".join(
        [
            _opening(summaries),
            _answer(summaries),
            _on_top(summaries),
            _probes(summaries),
            _transfer(summaries),
        ]
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text + "\n")
    log.info("wrote %s (%s)", out, ", ".join(s["corpus"] for s in summaries))
    return out


def _opening(summaries: list[dict[str, Any]]) -> str:
    widths = []
    for s in summaries:
        bag = s["models"][s["chosen"]["best_bag"]]
        width = bag["test_accuracy_ci_high"] - bag["test_accuracy_ci_low"]
        widths.append(
            f"{s['corpus']}: {s['texts']['test']:,} test texts, the best bag's interval "
            f"{md.points(width, 1, signed=False)} points wide"
        )
    return (
        "# What word order buys, corpus by corpus\n\n"
        "Each corpus runs the same pipeline on its own splits (`reports/CORPUS/comparison.md` "
        "has everything else). Every model is chosen on its corpus's validation split, every "
        "test number has its 95% bootstrap interval, every difference is paired on that "
        "corpus's test set, and a difference is called real only where its interval excludes "
        f"0. A smaller test set gives wider intervals ({'; '.join(widths)})."
    )


def _answer(summaries: list[dict[str, Any]]) -> str:
    header = ["corpus", "best bag", "best recurrent", "(a) head to head", "real?"]
    header += ["(b) on top, best", "real?", "(c) words held equal", "real?", "champion"]
    body = []
    for s in summaries:
        head = s["head_to_head"]
        best_on_top = max(s["on_top"].items(), key=lambda item: item[1]["difference"])
        model, on_top = best_on_top
        champion = s["chosen"]["champion"]
        body.append(
            [
                s["corpus"],
                _model(s, s["chosen"]["best_bag"]),
                _model(s, s["chosen"]["best_recurrent"]),
                md.difference_with_interval(head),
                md.verdict(head),
                f"{model}: {md.difference_with_interval(on_top)} (weight "
                f"{on_top['weights'][model]:.2f})",
                md.verdict(on_top),
                *_words_equal_cells(s.get("words_equal")),
                _model(s, champion),
            ]
        )
    return (
        "## The answer\n\n"
        "(a) Head to head: the best recurrent model minus the best bag of n-grams. (b) On "
        "top: the best bag averaged with a recurrent model (its weight picked on validation) "
        "minus the bag alone; the recurrent model that adds the most is shown. (c) With the "
        "words held equal: the best recurrent model minus the neural bag (`arch: dan`) that "
        "starts from the same embedding.\n\n" + md.rows(header, body)
    )


def _words_equal_cells(words: dict[str, Any] | None) -> list[str]:
    if not words:
        return ["no neural bag with its embedding init", ""]
    return [
        f"{words['model']} − {words['neural_bag']} ({words['embedding_init']}): "
        f"{md.difference_with_interval(words)}",
        md.verdict(words),
    ]


def _model(summary: dict[str, Any], name: str) -> str:
    m = summary["models"][name]
    value = md.with_interval(
        m["test_accuracy"], m["test_accuracy_ci_low"], m["test_accuracy_ci_high"]
    )
    return f"{name} {value}"


def _on_top(summaries: list[dict[str, Any]]) -> str:
    body = [
        [
            s["corpus"],
            model,
            f"{v['weights'][model]:.2f}",
            md.difference_with_interval(v),
            md.verdict(v),
        ]
        for s in summaries
        for model, v in s["on_top"].items()
    ]
    return "## On top of the best bag, every recurrent model\n\n" + md.rows(
        ["corpus", "model", "weight", "on top", "real?"], body
    )


def _probes(summaries: list[dict[str, Any]]) -> str:
    columns = [(s, name) for s in summaries for name in s["models"]]
    header = ["probe (texts)", *(f"{s['corpus']}: {name}" for s, name in columns)]
    first = summaries[0]["probes"]
    body = []
    for key, probe in first.items():
        cells = [
            md.pct(s["probes"][key]["accuracy"][name]) if key in s["probes"] else ""
            for s, name in columns
        ]
        body.append([f"{probe['label']} ({probe['n']:,})", *cells])
    return (
        "## The written probes, models of every corpus side by side\n\n"
        "The behaviour suites and minimal pairs are written sentences, the same for every "
        "corpus: do labels on every phrase teach what review-level labels do not (negation, "
        "contrast, order)? Each column is one corpus's chosen model.\n\n" + md.rows(header, body)
    )


def _transfer(summaries: list[dict[str, Any]]) -> str:
    corpora = [s["corpus"] for s in summaries]
    body = []
    for s in summaries:
        for role, name in s["chosen"].items():
            cells = []
            for other in corpora:
                a = s["transfer"][other]["accuracy"][name]
                cells.append(md.with_interval(a["accuracy"], a["ci_low"], a["ci_high"]))
            body.append([s["corpus"], f"{name} ({ROLE_NAMES[role]})", *cells])
    header = ["trained on", "model", *(f"on {c}'s test set" for c in corpora)]
    return (
        "## Transfer: each corpus's chosen models on every corpus's test set\n\n"
        "A model reads another corpus's texts as its own corpus prepared them (its vocabulary "
        "and its length cap).\n\n" + md.rows(header, body)
    )
