"""The report stage: reports/comparison.md and its figures, rendered from the compare stage's
numbers (reports/evaluation/, plots/) alone. It scores nothing, so a wording change re-runs
this stage and not the evaluation; every number and count it prints comes from those files."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from imdb_sentiment.files import atomic_outputs, atomic_path
from imdb_sentiment.params import BAG_OF_WORDS, RECURRENT
from imdb_sentiment.paths import Outputs
from imdb_sentiment.report import markdown as md
from imdb_sentiment.report.sections import (
    ORDER_BLIND_TOLERANCE,
    Evaluation,
    answer_section,
    drop_cell,
    ensemble_section,
    three_part_section,
    with_interval,
)

log = logging.getLogger(__name__)

# How a finding says a paired difference's verdict (md.verdict).
VERDICT_WORDS = {
    md.HIGHER: "higher than",
    md.LOWER: "lower than",
    md.NOT_SHOWN: "not distinguishable from",
}


def render_report(outputs: Outputs) -> list[Path]:
    """Write the comparison report and its figures (together, or neither); return them."""
    evaluation = Evaluation.load(outputs)
    with atomic_outputs(outputs.rendered(), "report") as staging:
        _render_into(evaluation, outputs, outputs.under(staging))
    log.info("wrote %s and its figures", outputs.report)
    return outputs.rendered()


def _render_into(evaluation: Evaluation, source: Outputs, outputs: Outputs) -> None:
    from imdb_sentiment.report.plots import (
        plot_comparison,
        plot_confusion,
        plot_roc,
        plot_shuffle_windows,
    )

    plot_comparison(evaluation.table, outputs.figures / "comparison.png")
    plot_shuffle_windows(evaluation.curve, outputs.figures / "shuffle_windows.png")
    for name in evaluation.table.index:
        roc = pd.read_csv(source.plots / "roc" / f"{name}.csv")
        plot_roc(roc, name, outputs.figures / f"{name}_roc.png")
        confusion = pd.read_csv(source.plots / "confusion" / f"{name}.csv")
        plot_confusion(confusion, name, outputs.figures / f"{name}_confusion.png")
    with atomic_path(outputs.report) as tmp:
        tmp.write_text(comparison_report(evaluation))


def comparison_report(evaluation: Evaluation) -> str:
    """Markdown: the answer first (what order is worth on each probe, the order curve), then
    the table with intervals, the paired differences, findings computed from them, links to
    the plots."""
    table, comparison = evaluation.table, evaluation.comparison
    champion, intervals = comparison["champion"], comparison["intervals"]
    coverage = comparison["coverage"]
    ci = f"{intervals['confidence']:.0%} CI"
    shown = pd.DataFrame(
        {
            "family": table.family,
            "val acc": table.val_accuracy.map(md.pct),
            f"test acc [{ci}]": [with_interval(table, m, "test_accuracy") for m in table.index],
            "test F1": table.test_f1.map("{:.3f}".format),
            f"test AUC [{ci}]": [
                with_interval(table, m, "test_roc_auc", percent=False) for m in table.index
            ],
            "shuffled acc": table.shuffled_test_accuracy.map(md.pct),
            f"drop, points [{ci}]": [drop_cell(table, m) for m in table.index],
            "contrast acc": table.contrast_accuracy.map(md.pct),
            "contrast pairs": table.contrast_pair_accuracy.map(md.pct),
            "train s": table.train_seconds.map("{:.0f}".format),
            "parameters": table.parameters.map("{:,}".format),
        },
        index=table.index,
    )
    shown.index = [f"**{m}** (champion)" if m == champion else m for m in shown.index]
    differences = evaluation.differences
    difference_rows = pd.DataFrame(
        {
            "test accuracy difference, points": [
                md.points(d["difference"]) for d in differences.values()
            ],
            f"{intervals['confidence']:.0%} paired bootstrap CI": [
                md.interval(d["ci_low"], d["ci_high"], signed=True) for d in differences.values()
            ],
            "interval excludes 0": [md.verdict(d) for d in differences.values()],
        },
        index=list(differences),
    )
    lines = [
        "# What does word order buy?",
        "",
        "Rendered by the `report` stage from the compare stage's numbers "
        f"(`reports/evaluation/`). Test set: {comparison['texts']['test']:,} texts, never "
        f"used for any choice; the champion is picked on the validation split "
        f"({comparison['texts']['val']:,} texts).",
        "",
        *three_part_section(evaluation),
        *answer_section(evaluation),
        *ensemble_section(evaluation),
        "## Every model",
        "",
        f"Text read: the recurrent models read each text's tokens up to "
        f"`prepare.max_len` = {coverage['max_len']}, which cuts "
        f"{md.pct(coverage['test_truncated_fraction'], 2)} of test texts; the bag-of-n-grams "
        "baselines read every token of every text.",
        "",
        md.table(shown),
        "",
        f"- Intervals: {intervals['confidence']:.0%} percentile bootstrap over the test texts "
        f"({intervals['resamples']:,} resamples, seeded). They show how much the number would "
        "move on another test set of this size, not how much it moves between training seeds "
        "(see `bench/RESULTS.md` for the seed spread).",
        "- *shuffled acc*: accuracy on the test texts with each text's words in a seeded",
        "  random order; *drop*: test accuracy minus that, in percentage points.",
        f"- *contrast*: minimal pairs ({comparison['texts']['contrast'] // 2} pairs, "
        "`data/contrast/pairs.tsv`) whose two texts have exactly the same words in a different "
        "order and opposite sentiment; *pairs*: both of a pair right.",
        "",
        "## Recurrent minus bag of words, paired on the same test texts",
        "",
        md.table(difference_rows),
        "",
        "## Findings",
        "",
        findings(table, champion, differences, intervals["confidence"]),
        "",
        "## Plots",
        "",
        "![accuracy vs shuffled accuracy](figures/comparison.png)",
        "",
        *[
            f"- {m}: [ROC curve](figures/{m}_roc.png), "
            f"[confusion matrix](figures/{m}_confusion.png)"
            for m in table.index
        ],
        "",
    ]
    return "\n".join(lines)


def findings(
    table: pd.DataFrame,
    champion: str,
    differences: dict[str, dict[str, float]] | None = None,
    confidence: float = 0.95,
) -> str:
    """Plain-words statements derived from the numbers (nothing here is hard-coded)."""
    blind = table[table.shuffled_max_probability_change <= ORDER_BLIND_TOLERANCE]
    sighted = table.drop(index=blind.index)
    recurrent = table[table.family == RECURRENT]
    best = table.loc[champion]
    sentences = [
        f"By validation accuracy the best model is **{champion}** ({md.pct(best.val_accuracy)} "
        f"on validation, {md.pct(best.test_accuracy)} on test)."
    ]
    for name, row in blind.iterrows():
        sentences.append(
            f"**{name}** gave every shuffled text exactly the score of the original, so its "
            f"shuffled accuracy equals its test accuracy ({md.pct(row.test_accuracy)}): it "
            f"cannot see word order. It got {md.pct(row.contrast_pair_accuracy)} of the minimal "
            "pairs fully right"
            + (
                " — a bag of words scores both texts of a pair the same, so it never gets both."
                if row.contrast_pair_accuracy == 0
                else "."
            )
        )
    if not recurrent.empty:
        drops = 100 * recurrent.shuffled_accuracy_drop
        sentences.append(
            f"Shuffling the words cost the recurrent models between {drops.min():.1f} and "
            f"{drops.max():.1f} points of test accuracy ({drops.idxmax()} the most), and they "
            f"got {_range_pct(recurrent.contrast_pair_accuracy)} of the minimal pairs fully right."
        )
    unigram = blind.test_accuracy.idxmax() if not blind.empty else None
    if unigram is not None and not recurrent.empty:
        top = recurrent.test_accuracy.idxmax()
        gain = 100 * (recurrent.test_accuracy.max() - blind.test_accuracy.max())
        verdict = "more" if gain > 0 else "less"
        sentences.append(
            f"On the plain test set, the best recurrent model ({top}) scores {abs(gain):.1f} "
            f"points {verdict} than the order-blind {unigram}."
        )
    local = sighted[sighted.family == BAG_OF_WORDS]
    if not local.empty and not recurrent.empty:
        name = local.test_accuracy.idxmax()
        gap = 100 * (local.loc[name, "test_accuracy"] - recurrent.test_accuracy.max())
        sentences.append(
            f"**{name}**, a bag of n-grams that sees only short word windows, reaches "
            f"{md.pct(local.loc[name, 'test_accuracy'])}: {abs(gap):.1f} points "
            f"{'above' if gap > 0 else 'below'} the best recurrent model, and its shuffled "
            f"accuracy drops by {100 * local.loc[name, 'shuffled_accuracy_drop']:.1f} points."
        )
    if differences and not recurrent.empty:
        best = str(recurrent.val_accuracy.idxmax())  # picked on validation, like the champion
        for name, d in differences.items():
            if not name.startswith(f"{best} - "):
                continue
            baseline = name.split(" - ", 1)[1]
            verdict = VERDICT_WORDS[md.verdict(d)]
            sentences.append(
                f"The best recurrent model by validation ({best}) is {verdict} "
                f"{baseline} on test: {md.points(d['difference'])} points, {confidence:.0%} "
                f"paired interval {md.interval(d['ci_low'], d['ci_high'], signed=True)}."
            )
    return " ".join(sentences)


def _range_pct(values: pd.Series) -> str:
    low, high = values.min(), values.max()
    return md.pct(low) if low == high else f"{md.pct(low)} to {md.pct(high)}"
