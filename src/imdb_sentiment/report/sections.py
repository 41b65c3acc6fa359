"""The report's data and its sections on the answer: head to head and on top of the best
bag, the order probes' table and curve, and each ensemble beside its members. Each section is
a list of Markdown lines built from the compare stage's numbers alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from imdb_sentiment.files import read_json
from imdb_sentiment.params import ENSEMBLE
from imdb_sentiment.paths import Outputs
from imdb_sentiment.report import markdown as md

ORDER_BLIND_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Evaluation:
    """The compare stage's numbers, as the report reads them."""

    table: pd.DataFrame  # one row per model: its metrics, family and training summary
    comparison: dict[str, Any]  # champion, review counts, intervals, coverage, bounds, samples
    differences: dict[str, dict[str, float]]
    answer: dict[str, Any]
    curve: pd.DataFrame

    @classmethod
    def load(cls, outputs: Outputs) -> Evaluation:
        comparison = read_json(outputs.comparison)
        rows = [
            {"model": name, **info, **read_json(outputs.model_evaluation(name))}
            for name, info in comparison["models"].items()
        ]
        return cls(
            table=pd.DataFrame(rows).set_index("model"),
            comparison=comparison,
            differences=read_json(outputs.differences),
            answer=read_json(outputs.order),
            curve=pd.read_csv(outputs.curve, dtype={"window": str}),
        )


def answer_section(evaluation: Evaluation) -> list[str]:
    """What order is worth against the unigram bag, probe by probe, and how far it reaches."""
    answer, table = evaluation.answer, evaluation.table
    words = evaluation.comparison["subset_words"]
    confidence = evaluation.comparison["intervals"]["confidence"]
    best, reference = answer["best_recurrent"], answer["reference"]
    rows = {}
    for probe in answer["probes"].values():
        worth = probe["order_worth"]
        rows[probe["label"]] = {
            "n": f"{probe['n']:,}",
            **{m: md.pct(v) for m, v in probe["accuracy"].items()},
            f"order's worth, points [{confidence:.0%} CI]": md.difference_with_interval(worth),
            "interval excludes 0": md.verdict(worth),
        }
    lines = [
        "## Probe by probe: against a pure bag of words",
        "",
        f"*Order's worth* here is **{best}** (the best recurrent model by validation accuracy) "
        f"minus **{reference}** (a unigram bag of words, strictly blind to order), paired on the "
        f"same texts (or groups), with a {confidence:.0%} bootstrap interval: on texts built "
        "to flip by order, and on subsets of the test set where order should matter.",
        "",
        md.table(pd.DataFrame.from_dict(rows, orient="index"), index_name="probe"),
        "",
        *answer_summary(answer),
        "",
        "- Suites are generated from `data/suites/suites.yaml`, labelled by construction; a "
        "group counts when all its texts are right (filler: when adding a neutral sentence "
        "changes no label). What a bag of words can reach on each:",
        *[f"  - {name}: {bound}" for name, bound in evaluation.comparison["suite_bounds"].items()],
        "- Subsets of the test set: `contrast_ending`, the last sentence opens with "
        f"{_either(words['contrast'])}; `negated_sentiment`, {_either(words['negators'])} or a "
        "-n't word up to three words before a sentiment word of the suites' lexicon; "
        "`length_q1`..`q4`, quartiles of text length.",
        "",
    ]
    curve = evaluation.curve
    wide = curve.pivot(index="model", columns="window", values="accuracy")
    wide = wide[list(dict.fromkeys(curve.window))].reindex(table.index)
    windows, tested = (
        evaluation.comparison["texts"]["windows"],
        evaluation.comparison["texts"]["test"],
    )
    sample = (
        f"on a seeded sample of {windows:,} of the {tested:,} test reviews (`score.window_reviews`)"
        f", every window on the same texts; its intervals are about "
        f"{md.points(_mean_width(curve), 1, signed=False)} points wide"
        if windows < tested
        else f"on all {tested:,} test texts"
    )
    lines += [
        "### How far does order reach?",
        "",
        "![accuracy as words are shuffled within windows of k](figures/shuffle_windows.png)",
        "",
        "Test accuracy with each text's words shuffled within consecutive windows of k "
        f"words (k=1: as written; all: the whole text), seeded, {sample}:",
        "",
        md.table(wide.map(md.pct)),
        "",
        *curve_findings(wide),
        "",
    ]
    examples = pd.DataFrame(evaluation.comparison["disagreements"])
    if len(examples):
        lines += [
            f"### Where {best} and {reference} disagree",
            "",
            "A seeded sample of test texts, shortened, with both models' probability of positive:",
            "",
            md.table(examples.set_index("which"), index_name="which"),
            "",
        ]
    return lines


def three_part_section(evaluation: Evaluation) -> list[str]:
    """The report's opening: what order buys, (a) head to head, (b) on top of the words and
    (c) with the words held equal."""
    answer, table = evaluation.answer, evaluation.table
    confidence = evaluation.comparison["intervals"]["confidence"]
    head, bag = answer["head_to_head"], answer["best_bag"]
    best = head["model"]
    ci = f"{confidence:.0%} CI"
    on_top = pd.DataFrame.from_dict(
        {
            f"{bag} + {model}": {
                "weight on the recurrent model": f"{values['weights'][model]:.2f}",
                "val acc": md.pct(values["val_accuracy"]),
                "test acc": md.pct(values["test_accuracy"], 2),
                f"gain over {bag}, points [{ci}]": md.difference_with_interval(values),
                "interval excludes 0": md.verdict(values),
            }
            for model, values in answer["on_top"].items()
        },
        orient="index",
    )
    row = table.loc
    return [
        "## The answer: what word order buys",
        "",
        "Every part picks every model on the validation split and report on the test set, "
        f"paired on the same test texts with a {confidence:.0%} bootstrap interval; a "
        "difference whose interval holds 0 is not a difference.",
        "",
        f"**(a) Head to head.** The best recurrent model, **{best}** "
        f"({md.pct(row[best, 'test_accuracy'], 2)} test), against the best bag of n-grams, "
        f"**{bag}** ({md.pct(row[bag, 'test_accuracy'], 2)}): "
        f"{md.difference_with_interval(head)} points ({md.verdict(head)}).",
        "",
        f"**(b) On top of the words.** {bag} averaged with each recurrent model (the weight "
        f"picked on validation), against {bag} alone: what a model that reads order adds to "
        "the best bag of n-grams.",
        "",
        md.table(on_top, index_name="ensemble"),
        "",
        *words_equal_lines(answer.get("words_equal"), table),
    ]


def words_equal_lines(words: dict[str, Any] | None, table: pd.DataFrame) -> list[str]:
    """(c): the best recurrent model against the neural bag that starts from its embedding."""
    if not words:
        return [
            "**(c) With the words held equal.** No neural bag (`arch: dan`) starts from the "
            "best recurrent model's embedding init, so order alone is not measured.",
            "",
        ]
    best, twin = words["model"], words["neural_bag"]
    return [
        f"**(c) With the words held equal.** {best} against the neural bag **{twin}** "
        f"({md.pct(table.loc[twin, 'test_accuracy'], 2)} test), both starting from "
        f"`embedding_init: {words['embedding_init']}`: the same tokens, vocabulary source and "
        f"training loop, one reading the words in order and one averaging them: "
        f"{md.difference_with_interval(words)} points ({md.verdict(words)}).",
        "",
    ]


def ensemble_section(evaluation: Evaluation) -> list[str]:
    """Each ensemble beside its members: whether the average is also more robust on texts
    built to flip by order, or only more accurate on IMDB's own test set."""
    table, info = evaluation.table, evaluation.comparison["models"]
    ensembles = [m for m in table.index if table.loc[m, "family"] == ENSEMBLE]
    lines = []
    for name in ensembles:
        weights = info[name]["weights"]
        rows = [name, *weights]
        suite_columns = [
            c
            for c in table.columns
            if c.startswith("suite_")
            and c.endswith(("_group_accuracy", "_invariance"))
            and not c.endswith(("_ci_low", "_ci_high"))
        ]
        shown = pd.DataFrame(
            {
                "weight": ["", *(f"{w:.2f}" for w in weights.values())],
                "val acc": [md.pct(table.loc[m, "val_accuracy"]) for m in rows],
                "test acc": [with_interval(table, m, "test_accuracy") for m in rows],
                "shuffle drop, points": [
                    md.points(table.loc[m, "shuffled_accuracy_drop"]) for m in rows
                ],
                "minimal pairs": [md.pct(table.loc[m, "contrast_pair_accuracy"]) for m in rows],
                **{
                    c.removeprefix("suite_").replace("_", " "): [
                        md.pct(table.loc[m, c]) for m in rows
                    ]
                    for c in suite_columns
                },
            },
            index=rows,
        )
        lines += [
            f"## Ensemble {name}: what it gains and gives up",
            "",
            f"The weighted mean of its members' probabilities, weights picked on validation "
            f"({', '.join(f'{m} {w:.2f}' for m, w in weights.items())}). Its validation "
            "accuracy is the one its weights were picked on, as a baseline's C is.",
            "",
            md.table(shown),
            "",
        ]
    return lines


def _either(words: list[str]) -> str:
    """``["but", "however", "although"]`` -> ``but, however or although``."""
    return f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else words[0]


def _mean_width(curve: pd.DataFrame) -> float:
    return float((curve.ci_high - curve.ci_low).mean())


def answer_summary(answer: dict[str, Any]) -> list[str]:
    """Where order's worth beats the noise, either way, and where it does not: from the
    intervals alone."""
    verdicts: dict[str, list[str]] = {md.HIGHER: [], md.LOWER: [], md.NOT_SHOWN: []}
    for probe in answer["probes"].values():
        worth = probe["order_worth"]
        verdicts[md.verdict(worth)].append(
            f"{probe['label']} ({md.points(worth['difference'], 1)})"
        )
    best, reference = answer["best_recurrent"], answer["reference"]
    said = {
        md.HIGHER: f"{best} beats {reference} beyond the noise on",
        md.LOWER: f"{best} is below {reference} beyond the noise on",
        md.NOT_SHOWN: "The interval holds 0 on",
    }
    return [f"- {said[v]}: {', '.join(probes)}." for v, probes in verdicts.items() if probes]


def curve_findings(wide: pd.DataFrame) -> list[str]:
    """Sentences computed from the order curve: flat, or what shuffling within k costs."""
    lines = []
    for model, row in wide.iterrows():
        costs = {k: row["1"] - row[k] for k in row.index if k != "1"}
        if max(abs(c) for c in costs.values()) == 0:
            lines.append(f"- {model}: flat: exactly {md.pct(row['1'])} at every k.")
            continue
        shown = ", ".join(f"k={k} {md.points(c)}" for k, c in costs.items())
        lines.append(f"- {model}: points lost to shuffling: {shown}.")
    return lines


def with_interval(table: pd.DataFrame, model: str, metric: str, percent: bool = True) -> str:
    row = table.loc[model]
    return md.with_interval(
        row[metric], row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high"), percent
    )


def drop_cell(table: pd.DataFrame, model: str) -> str:
    row = table.loc[model]
    low = row.get("shuffled_accuracy_drop_ci_low")
    if low is None or pd.isna(low):
        return md.points(row.shuffled_accuracy_drop)
    return md.difference_with_interval(
        {
            "difference": row.shuffled_accuracy_drop,
            "ci_low": low,
            "ci_high": row.shuffled_accuracy_drop_ci_high,
        }
    )
