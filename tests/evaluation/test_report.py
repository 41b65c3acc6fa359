"""The report stage on fixture numbers: everything it prints comes from the compare stage's
files, and the rule that calls a difference real is the interval's."""

import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import section, table_with

from imdb_sentiment.evaluation.headline import evaluation_headline, training_headline
from imdb_sentiment.files import write_json
from imdb_sentiment.paths import CorpusPaths, Outputs
from imdb_sentiment.report import markdown as md
from imdb_sentiment.report.comparison import (
    VERDICT_WORDS,
    comparison_report,
    findings,
    render_report,
)
from imdb_sentiment.report.sections import Evaluation

# model -> (family, val, test, shuffled, drop, max probability change, pairs, contrast)
MODELS = {
    "lstm": ("recurrent", 0.88, 0.87, 0.80, 0.07, 0.2, 0.41, 0.6),
    "gru": ("recurrent", 0.89, 0.88, 0.84, 0.04, 0.1, 0.30, 0.6),
    "tfidf": ("bag_of_words", 0.90, 0.89, 0.89, 0.0, 0.0, 0.0, 0.5),
    "tfidf_bigram": ("bag_of_words", 0.91, 0.90, 0.88, 0.02, 0.3, 0.2, 0.55),
    "gru_bigram": ("ensemble", 0.92, 0.91, 0.89, 0.02, 0.3, 0.25, 0.6),
}
WEIGHTS = {"gru": 0.3, "tfidf_bigram": 0.7}
ON_TOP = {
    "lstm": {"difference": 0.001, "ci_low": -0.001, "ci_high": 0.003},
    "gru": {"difference": 0.005, "ci_low": 0.003, "ci_high": 0.007},
}
DIFFERENCES = {
    "gru - tfidf": {"difference": -0.01, "ci_low": -0.015, "ci_high": -0.005},
    "gru - tfidf_bigram": {"difference": 0.002, "ci_low": -0.003, "ci_high": 0.007},
    "lstm - tfidf": {"difference": -0.02, "ci_low": -0.025, "ci_high": -0.015},
}
WINDOWS = ["1", "2", "all"]


def model_metrics(val, test, shuffled, drop, change, pairs, contrast) -> dict[str, float]:
    return {
        "val_accuracy": val,
        "test_accuracy": test,
        "test_accuracy_ci_low": test - 0.005,
        "test_accuracy_ci_high": test + 0.005,
        "test_f1": 0.9,
        "test_roc_auc": 0.95,
        "test_roc_auc_ci_low": 0.94,
        "test_roc_auc_ci_high": 0.96,
        "shuffled_test_accuracy": shuffled,
        "shuffled_accuracy_drop": drop,
        "shuffled_accuracy_drop_ci_low": drop - 0.004,
        "shuffled_accuracy_drop_ci_high": drop + 0.004,
        "shuffled_max_probability_change": change,
        "contrast_pair_accuracy": pairs,
        "contrast_accuracy": contrast,
        "suite_order_group_accuracy": pairs / 2,
        "suite_filler_invariance": 0.9,
    }


def write_evaluation(outputs: Outputs, n_test: int = 1234) -> None:
    """The files the compare stage writes, with made-up numbers."""
    answer = {
        "best_recurrent": "gru",
        "reference": "tfidf",
        "best_bag": "tfidf_bigram",
        "head_to_head": {
            "model": "gru",
            "bag": "tfidf_bigram",
            **DIFFERENCES["gru - tfidf_bigram"],
        },
        "on_top": {
            model: {
                "weights": {"tfidf_bigram": 0.75, model: 0.25},
                "val_accuracy": 0.915,
                "test_accuracy": 0.9 + values["difference"],
                **values,
            }
            for model, values in ON_TOP.items()
        },
        "probes": {
            "test": {
                "label": "plain test set",
                "n": n_test,
                "accuracy": {m: v[2] for m, v in MODELS.items()},
                "order_worth": DIFFERENCES["gru - tfidf"],
            },
            "suite_order": {
                "label": "suite order (groups all right)",
                "n": 150,
                "accuracy": {m: 0.4 if m == "gru" else 0.0 for m in MODELS},
                "order_worth": {"difference": 0.4, "ci_low": 0.3, "ci_high": 0.5},
            },
        },
    }
    for name, values in MODELS.items():
        write_json(outputs.model_evaluation(name), model_metrics(*values[1:]))
    write_json(outputs.differences, DIFFERENCES)
    write_json(outputs.order, answer)
    write_json(
        outputs.comparison,
        {
            "models": {
                name: {"family": values[0], "train_seconds": 10.0, "parameters": 1000}
                | ({"weights": WEIGHTS} if values[0] == "ensemble" else {})
                for name, values in MODELS.items()
            },
            "champion": "tfidf_bigram",
            "best_recurrent": "gru",
            "reference": "tfidf",
            "texts": {"val": 321, "test": n_test, "contrast": 8, "windows": 500},
            "intervals": {"confidence": 0.95, "resamples": 1000},
            "coverage": {"max_len": 1000, "test_truncated_fraction": 0.0016},
            "suite_bounds": {"order": "group accuracy exactly 0 for a unigram bag of words"},
            "subset_words": {"contrast": ["but", "yet"], "negators": ["not"]},
            "disagreements": [
                {
                    "which": "gru right, tfidf wrong",
                    "label": "positive",
                    "gru": 0.9,
                    "tfidf": 0.2,
                    "review": "Not bad | at all.",
                },
            ],
        },
    )
    curve = [
        {
            "model": m,
            "window": w,
            "accuracy": v[2] - (0 if w == "1" or v[5] == 0 else 0.01),
            "ci_low": 0.8,
            "ci_high": 0.9,
        }
        for m, v in MODELS.items()
        for w in WINDOWS
    ]
    outputs.plots.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(curve).to_csv(outputs.curve, index=False)
    for name in MODELS:
        for kind, frame in (
            (
                "roc",
                pd.DataFrame({"fpr": [0, 0.1, 1], "tpr": [0, 0.8, 1], "threshold": [1, 0.5, 0]}),
            ),
            (
                "confusion",
                pd.DataFrame(
                    {
                        "actual": ["positive", "negative", "negative"],
                        "predicted": ["positive", "positive", "negative"],
                    }
                ),
            ),
        ):
            (outputs.plots / kind).mkdir(exist_ok=True)
            frame.to_csv(outputs.plots / kind / f"{name}.csv", index=False)


@pytest.fixture
def outputs(tmp_path, monkeypatch) -> Outputs:
    monkeypatch.chdir(tmp_path)  # the stages' outputs are relative to the project root
    outputs = CorpusPaths("imdb").outputs
    write_evaluation(outputs)
    return outputs


@pytest.fixture
def report(outputs) -> str:
    render_report(outputs)
    return outputs.report.read_text()


def test_the_report_is_written_with_its_figures_and_nothing_staged_is_left(outputs):
    assert render_report(outputs) == [outputs.report, outputs.figures]
    written = list(outputs.figures.iterdir())
    figures = {path.name for path in written}
    assert {"comparison.png", "shuffle_windows.png", "gru_roc.png", "gru_confusion.png"} <= figures
    assert all(path.stat().st_size > 1000 for path in written)
    assert "](figures/comparison.png)" in outputs.report.read_text()
    assert not Path(".report.partial").exists()


def test_the_model_table_renders_each_models_numbers(report):
    rows = table_with(report, "family")
    assert set(rows) == {*MODELS} - {"tfidf_bigram"} | {"**tfidf_bigram** (champion)"}
    gru = rows["gru"]
    assert (gru["family"], gru["val acc"], gru["test acc [95% CI]"]) == (
        "recurrent",
        "89.0%",
        "88.0% [87.5, 88.5]",
    )


def test_the_paired_differences_render_with_their_interval_and_verdict(report):
    rows = table_with(report, "95% paired bootstrap CI")
    for name, difference in DIFFERENCES.items():
        row = rows[name]
        assert row["test accuracy difference, points"] == md.points(difference["difference"])
        assert row["interval excludes 0"] == md.verdict(difference)
    assert rows["gru - tfidf"]["95% paired bootstrap CI"] == "[-1.50, -0.50]"


def test_counts_and_caps_come_from_the_data(report):
    probes = table_with(report, "order's worth, points [95% CI]")
    assert probes["plain test set"]["n"] == "1,234"
    assert "1,234" in report[: report.index("\n## ")]  # the test set's size, in the opening
    (cap,) = [line for line in section(report, "## Every model").splitlines() if "max_len" in line]
    assert "1000" in cap and "0.16%" in cap  # the recurrent models' cap and what it cuts


def test_the_probe_verdicts_name_each_probe_beyond_the_noise(report):
    probe_section = section(report, "## Probe by probe")
    verdicts = [line for line in probe_section.splitlines() if "(+" in line or "(-" in line]
    assert any("suite order (groups all right)" in v and "+40.0" in v for v in verdicts)
    assert any("plain test set" in v and "-1.0" in v for v in verdicts)


def test_the_order_curve_renders_each_models_accuracy_per_window(report):
    curve = table_with(report, "all")
    assert [curve["tfidf"][k] for k in ("1", "2", "all")] == ["89.0%"] * 3
    assert curve["gru"]["2"] == "87.0%"
    reach = section(report, "### How far does order reach?")
    assert "500" in reach and "1,234" in reach  # the sample and the test set it is drawn from
    assert "10.0" in reach  # the interval width that sample gives, from the curve's own numbers


def test_the_subset_words_come_from_the_comparison_file(report):
    words = section(report, "## Probe by probe")
    assert all(word in words for word in ("but", "yet", "not", "-n't"))


def test_a_pipe_in_a_review_stays_inside_its_cell(report):
    (row,) = table_with(report, "review").values()
    assert row["review"] == "Not bad \\| at all."


def test_the_answer_comes_in_two_parts_from_the_numbers(report):
    assert report.index("(a) Head to head") < report.index("(b) On top of the words")
    assert report.index("(b) On top of the words") < report.index("Probe by probe")
    (head,) = [line for line in report.splitlines() if "(a) Head to head" in line]
    assert "gru" in head and "tfidf_bigram" in head and "+0.20 [-0.30, +0.70]" in head
    on_top = table_with(report, "weight on the recurrent model")
    assert on_top["tfidf_bigram + gru"]["gain over tfidf_bigram, points [95% CI]"] == (
        "+0.50 [+0.30, +0.70]"
    )
    assert on_top["tfidf_bigram + lstm"]["interval excludes 0"] == "no"


def test_an_ensemble_is_shown_beside_its_members(report):
    ensemble = section(report, "## Ensemble gru_bigram")
    rows = table_with(ensemble, "weight")
    assert list(rows) == ["gru_bigram", "gru", "tfidf_bigram"]
    assert (rows["gru"]["weight"], rows["tfidf_bigram"]["weight"]) == ("0.30", "0.70")
    assert rows["gru"]["val acc"] == "89.0%"
    assert (
        rows["gru_bigram"]["order group accuracy"],
        rows["gru_bigram"]["filler invariance"],
    ) == (
        "12.5%",
        "90.0%",
    )


def test_a_wording_change_needs_no_evaluation_only_the_files(outputs):
    """Rendering twice from the same numbers gives the same report, byte for byte."""
    render_report(outputs)
    first = outputs.report.read_text()
    render_report(outputs)
    assert outputs.report.read_text() == first


def sentence_with(text: str, *facts: str) -> str:
    """The one sentence of ``text`` that states every one of ``facts`` (a number whole: 0.0%
    is not found in 30.0%)."""
    patterns = [re.compile(rf"(?<![\w.]){re.escape(fact)}") for fact in facts]
    sentences = re.split(r"(?<=\.)\s+", text)
    (found,) = [s for s in sentences if all(p.search(s) for p in patterns)]
    return found


def test_findings_are_computed_from_the_numbers(outputs):
    text = findings(Evaluation.load(outputs).table, champion="tfidf_bigram")
    sentence_with(text, "tfidf_bigram", "91.0%", "90.0%")  # the champion: val, then test
    sentence_with(text, "0.0%")  # the bag's minimal pairs (after the sentence naming it)
    sentence_with(text, "4.0", "7.0", "lstm")  # the recurrent models' drops, lstm's the largest
    sentence_with(text, "gru", "1.0", "tfidf")  # the best recurrent model against the bag


def test_findings_call_a_difference_real_only_when_its_interval_excludes_zero(outputs):
    text = findings(Evaluation.load(outputs).table, "tfidf_bigram", DIFFERENCES)
    below = sentence_with(text, "gru", "tfidf ", "-1.00")
    level = sentence_with(text, "gru", "tfidf_bigram", "+0.20")
    assert md.interval(-0.015, -0.005, signed=True) in below and VERDICT_WORDS[md.LOWER] in below
    assert md.interval(-0.003, 0.007, signed=True) in level
    assert VERDICT_WORDS[md.NOT_SHOWN] in level


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.001, 0.01, md.HIGHER),
        (-0.01, -0.001, md.LOWER),
        (-0.01, 0.01, md.NOT_SHOWN),
        (0.0, 0.01, md.NOT_SHOWN),
    ],
)
def test_a_difference_is_real_only_when_its_interval_excludes_zero(low, high, expected):
    assert md.verdict({"difference": (low + high) / 2, "ci_low": low, "ci_high": high}) == expected


def test_the_report_renders_the_same_numbers_it_reads(outputs):
    """The table of the report is a rendering of comparison_report's input, nothing else."""
    evaluation = Evaluation.load(outputs)
    report = comparison_report(evaluation)
    for values in MODELS.values():
        assert f"| {md.pct(values[1])} |" in report  # every model's val accuracy


def test_the_dvc_headline_has_a_column_per_model_and_the_answer_in_three_parts():
    per_model = {m: model_metrics(*v[1:]) for m, v in MODELS.items()}
    answer = {
        "head_to_head": {"model": "gru", **DIFFERENCES["gru - tfidf_bigram"]},
        "on_top": ON_TOP,
        "words_equal": {"model": "gru", "neural_bag": "dan", "embedding_init": "random"}
        | {"difference": 0.004, "ci_low": -0.001, "ci_high": 0.009},
    }
    files = evaluation_headline(per_model, answer)
    assert files["test"] == {m: v[2] for m, v in MODELS.items()}
    assert files["drop"]["lstm"] == 0.07
    assert files["head_to_head"] == {"gru": 0.002}
    assert files["head_to_head_ci_low"] == {"gru": -0.003}
    assert files["on_top"] == {"lstm": 0.001, "gru": 0.005}
    assert files["on_top_ci_high"] == {"lstm": 0.003, "gru": 0.007}
    assert files["words_equal"] == {"gru": 0.004}  # under the recurrent model's column
    assert files["words_equal_ci_low"] == {"gru": -0.001}
    # Without a neural bag of the best recurrent model's init, part (c) is an empty file.
    assert evaluation_headline(per_model, answer | {"words_equal": None})["words_equal"] == {}
    summary = {
        "best_val_accuracy": 0.8812345,
        "best_epoch": 2,
        "epochs_run": 4,
        "train_seconds": 12.5,
        "parameters": 10,
    }
    assert training_headline(summary) == {
        "val": 0.8812345,
        "seconds": 12.5,
    }  # the epochs stay in MLflow: `dvc metrics show` fits 160 columns
    assert training_headline({"best_val_accuracy": 0.9, "train_seconds": 3.0}) == {
        "val": 0.9,
        "seconds": 3.0,
    }
